"""Ready to be distributed by account (Citus): checked on the schema and on the SQL Footfall runs.

The schema: every primary and unique key of a distributed table leads with account_id, and no
foreign key exists (none could cross accounts). The SQL: every statement the read routes, the
segment evaluator and the background workers send while the isolation catalogue's requests
(tests/test_isolation.py) and a spread of segment definitions run, parsed with sqlglot: a statement
touching several distributed tables pins them all to one account (the same account_id value, or
joined on account_id), so Citus can route it to one shard group; a statement that pins no account
at all is one of the few maintenance scans docs/scaling.md names, and joins nothing.
docs/scaling.md names every table as distributed or reference, and each scan.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import psycopg
import pytest
import sqlglot
from sqlalchemy import ForeignKeyConstraint, PrimaryKeyConstraint, UniqueConstraint
from sqlglot import exp

from footfall.store.schema import metadata
from tests.conftest import drop_pg_database, make_pg_database
from tests.servers import ServerThread, server_settings
from tests.test_isolation import CASES, _body, _fill, _headers, world  # noqa: F401  (world: a fixture)

SCALING_DOC = Path(__file__).resolve().parent.parent / "docs" / "scaling.md"
# Looked up before any account is known (a key's hash, a public key): small, replicated to every node.
REFERENCE_TABLES = {"accounts", "api_keys"}
DISTRIBUTED = {t.name for t in metadata.sorted_tables} - REFERENCE_TABLES


class Recorder:
    """Every statement (SQL text with %s placeholders, and its parameters) psycopg is asked to run."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._original = psycopg.Cursor.execute

    def __enter__(self) -> "Recorder":
        recorder, original = self, self._original

        def execute(cursor, query, params=None, **kwargs):
            text = query if isinstance(query, str) else query.as_string(cursor) if hasattr(query, "as_string") else str(query)
            with recorder._lock:
                recorder.statements.append((text, dict(params) if isinstance(params, dict) else tuple(params or ())))
            return original(cursor, query, params, **kwargs)

        psycopg.Cursor.execute = execute
        return self

    def __exit__(self, *exc: object) -> None:
        psycopg.Cursor.execute = self._original


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    with Recorder() as r:
        yield r


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    url = make_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="module")
def server(database_url, recorder) -> Iterator[ServerThread]:
    srv = ServerThread(server_settings(database_url=database_url, segment_sweep_seconds=0.2)).start()
    yield srv
    srv.stop()



# -- the schema -----------------------------------------------------------------------------------

def test_every_key_of_a_distributed_table_leads_with_account_id_and_there_are_no_foreign_keys():
    for table in metadata.sorted_tables:
        assert not [c for c in table.constraints if isinstance(c, ForeignKeyConstraint)], f"{table.name}: a foreign key"
        if table.name in REFERENCE_TABLES:
            continue
        keys = [[col.name for col in c.columns] for c in table.constraints
                if isinstance(c, (PrimaryKeyConstraint, UniqueConstraint))]
        keys += [[col.name for col in i.columns] for i in table.indexes if i.unique]
        keys += [[col.name] for col in table.columns if col.unique]
        assert keys, f"{table.name} has no primary key"
        for key in keys:
            assert key[0] == "account_id", f"{table.name}: key {key} does not lead with account_id"


def test_the_scaling_doc_names_every_table_and_every_scan():
    text = SCALING_DOC.read_text()
    for name in DISTRIBUTED | REFERENCE_TABLES:
        assert f"`{name}`" in text, f"docs/scaling.md does not name the table {name}"
    reference = text[text.index("## Reference tables"):].split("\n## ")[0]
    for name in REFERENCE_TABLES:
        assert f"`{name}`" in reference, f"docs/scaling.md does not list {name} among the reference tables"
    for name, _ in MAINTENANCE_SCANS:
        assert name in text, f"docs/scaling.md does not name the scan {name!r}"


# -- the SQL --------------------------------------------------------------------------------------

# Statements that pin no account, on purpose: background workers looking for work across accounts.
# On Citus each is one query per shard (cheap, indexed or small), and none joins anything.
MAINTENANCE_SCANS = [
    ("segments being evaluated", r"^SELECT account_id, id FROM segments WHERE is_processing"),
    ("accounts with segments", r"^SELECT DISTINCT account_id FROM segments$"),
    ("recent profile merges", r"^SELECT account_id, old_id, new_id FROM profile_merges WHERE merged >"),
    ("webhooks to lease", r"^SELECT account_id, id FROM webhooks WHERE enabled = .* LIMIT \S+( FOR UPDATE SKIP LOCKED)?$"),
    ("finished deliveries to prune", r"^SELECT account_id, id FROM webhook_deliveries WHERE status <> 'pending' AND created <"),
    ("outboxes to prune", r"^SELECT account_id FROM outbox_positions$"),
]
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sbt]|%[sbt]")  # psycopg's: text (s), binary (b), either (t)


def _parse(text: str, params: Any) -> exp.Expression:
    """The statement with each placeholder replaced by a literal naming its value ('$p<n>'), so that
    equal account_id values can be told from different ones."""
    values: list[Any] = []
    counter = iter(range(10_000))

    def literal(m: re.Match) -> str:
        values.append(params[m.group(1)] if m.group(1) else params[next(counter)])
        return f"'$p{len(values) - 1}'"

    tree = sqlglot.parse_one(_PLACEHOLDER.sub(literal, text), read="postgres")
    tree.meta["values"] = values
    return tree


def _scope_tables(node: exp.Expression) -> list[exp.Table]:
    select = node.find_ancestor(exp.Select, exp.Update, exp.Delete)
    if select is None:
        return []
    return [t for t in select.find_all(exp.Table) if t.find_ancestor(exp.Select, exp.Update, exp.Delete) is select]


def account_pins(tree: exp.Expression) -> tuple[dict[str, set], set[str]]:
    """(table alias -> account values it is pinned to, aliases of distributed tables read or changed)."""
    values = tree.meta["values"]
    targets = {id(i.this if isinstance(i.this, exp.Table) else i.this.this) for i in tree.find_all(exp.Insert)}
    refs = {t.alias_or_name: t for t in tree.find_all(exp.Table) if t.name in DISTRIBUTED and id(t) not in targets}
    links: dict[str, set[str]] = {a: set() for a in refs}
    pinned: dict[str, set] = {a: set() for a in refs}

    def owner(col: exp.Column) -> str | None:
        if col.table:
            return col.table
        tables = [t for t in _scope_tables(col) if t.name in DISTRIBUTED]
        return tables[0].alias_or_name if len(tables) == 1 else None

    for eq in tree.find_all(exp.EQ):
        sides = [eq.left, eq.right]
        cols = [s for s in sides if isinstance(s, exp.Column) and s.name == "account_id"]
        if len(cols) == 2:
            a, b = owner(cols[0]), owner(cols[1])
            if a in links and b in links:
                links[a].add(b)
                links[b].add(a)
        elif len(cols) == 1:
            other = sides[1] if sides[0] is cols[0] else sides[0]
            literal = other.this if isinstance(other, exp.Cast) else other
            who = owner(cols[0])
            if isinstance(literal, exp.Literal) and literal.this.startswith("$p") and who in pinned:
                pinned[who].add(values[int(literal.this[2:])])
    changed = True
    while changed:  # a table joined on account_id to a pinned table is pinned to the same account
        changed = False
        for a, others in links.items():
            for b in others:
                if not pinned[b] <= pinned[a]:
                    pinned[a] |= pinned[b]
                    changed = True
    return pinned, set(refs)


CONDITIONS = [
    {"type": "profile-property", "property": "properties['secret']", "filter": {"type": "existence", "operator": "is-set"}},
    {"type": "profile-location", "field": "city", "filter": {"type": "string", "operator": "in", "value": ["Paris"]}},
    {"type": "profile-marketing-consent", "consent": {"channel": "email", "can_receive_marketing": True,
                                                     "consent_status": {"subscription": "any"}}},
    {"type": "profile-property", "property": "created", "filter": {"type": "date", "operator": "in-the-last",
                                                                   "quantity": 1, "unit": "hour"}},
]


def _segment_definitions(w: Any) -> list[dict]:
    metric = {"type": "profile-metric", "metric_id": w.b_metric, "measurement": "count",
              "measurement_filter": {"type": "numeric", "operator": "greater-than-or-equal", "value": 1}}
    timed = {**metric, "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": 2, "unit": "day"}}
    summed = {**metric, "measurement": "sum", "metric_filters": [
        {"property": "secret", "filter": {"type": "string", "operator": "equals", "value": "b-only"}}]}
    member = {"type": "profile-group-membership", "is_member": True, "group_ids": [w.b_list, w.b_segment]}
    return [{"condition_groups": [{"conditions": [c]}]} for c in [metric, timed, summed, member, *CONDITIONS]] + [
        {"condition_groups": [{"conditions": [timed, member]}, {"conditions": [metric]}]}]


@pytest.fixture(scope="module")
def statements(server, world, recorder) -> list[tuple[str, Any]]:
    """What ran while every request of the isolation catalogue and a spread of segments were served."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for case in CASES:
            if case.path == "/api/stream":  # an open stream: its reads are the outbox reads webhooks make
                continue
            key = {"A": world.a.private_key, "RO": world.a_read_only, "B": world.b.private_key}.get(case.key)
            kwargs, params = _body(case.body, world)
            params = {**params, **{k: _fill(v, world) for k, v in (case.params or {}).items()}}
            if case.key == "public":
                params["company_id"] = world.a.public_key
            api = case.path.startswith(("/api/", "/client/")) and not case.path.startswith(("/api/track", "/api/identify"))
            client.request(case.method, _fill(case.path, world), params=params, headers=_headers(key) if api else {},
                           **kwargs)
        made = []
        for n, definition in enumerate(_segment_definitions(world)):
            r = client.post("/api/segments", headers=_headers(world.b.private_key), json={"data": {
                "type": "segment", "attributes": {"name": f"citus {n} {uuid.uuid4().hex[:6]}", "definition": definition}}})
            assert r.status_code == 201, r.text
            made.append(r.json()["data"]["id"])
        for sid in made:
            for page in (f"/api/segments/{sid}", f"/api/segments/{sid}/profiles"):
                assert client.get(page, headers=_headers(world.b.private_key)).status_code == 200
        deadline = time.monotonic() + 20
        while any(client.get(f"/api/segments/{sid}", headers=_headers(world.b.private_key)).json()["data"]
                  ["attributes"]["is_processing"] for sid in made):
            assert time.monotonic() < deadline, "segments still processing"
            time.sleep(0.05)
        time.sleep(0.5)  # a sweep or two of the time-relative ones
    return list(recorder.statements)


def test_every_statement_pins_one_account_or_is_a_named_scan(statements):
    seen: set[str] = set()
    problems: list[str] = []
    checked = 0
    for text, params in statements:
        flat = re.sub(r"\s+", " ", text).strip()
        tree = _parse(flat, params)
        pins, refs = account_pins(tree)
        if not refs:
            continue
        checked += 1
        values = set().union(*pins.values())
        unpinned = sorted(a for a in refs if not pins[a])
        if unpinned:
            named = next((name for name, pattern in MAINTENANCE_SCANS if re.search(pattern, flat)), None)
            if not (named and len(refs) == 1) and flat not in seen:
                problems.append(f"pins no account for {unpinned}: {flat[:300]}")
        elif len(values) > 1:
            problems.append(f"joins accounts {sorted(map(str, values))}: {flat[:300]}")
        seen.add(flat)
    assert checked > 100 and len(seen) > 40, (checked, len(seen))  # the catalogue and the segments ran
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_join_across_accounts():
    pins, refs = account_pins(_parse(
        "SELECT e.id FROM events e JOIN profiles p ON p.id = e.profile_id WHERE e.account_id = %s AND p.account_id = %s",
        ("A", "B")))
    assert refs == {"e", "p"} and pins == {"e": {"A"}, "p": {"B"}}
    pins, _ = account_pins(_parse(
        "SELECT e.id FROM events e JOIN profiles p ON p.account_id = e.account_id AND p.id = e.profile_id "
        "WHERE e.account_id = %(a)s", {"a": "A"}))
    assert pins == {"e": {"A"}, "p": {"A"}}
    pins, _ = account_pins(_parse("SELECT id FROM events WHERE id IN (SELECT profile_id FROM group_members)", ()))
    assert pins == {"events": set(), "group_members": set()}
