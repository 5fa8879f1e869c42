"""Reading profiles: GET /api/profiles and /api/profiles/{id}, scoped to one account."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import Integer, Text, bindparam, func, literal_column, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ColumnElement

from footfall.domain.models import PROFILE_ATTRIBUTES
from footfall.store.conn import Conn
from footfall.store.queries import Criterion
from footfall.store.queries.paging import Slice, SortKey, Window, fetch
from footfall.store.sqlalchemy_statements import Prepared, first, shaped
from footfall.store.schema import events, profile_identifiers, profile_merges, profiles

p = profiles.c
_JSON = ("location", "properties", "consent")
# An index lookup per row (ix_events_profile_time), so it costs little on a page of at most 100.
_LAST_EVENT = (select(func.max(events.c.time))
               .where(events.c.account_id == p.account_id, events.c.profile_id == p.id)
               .scalar_subquery().label("last_event_time"))
_COLUMNS = (p.id, p.email, p.phone_number, p.external_id, p.anonymous_id,
            *[p[name] for name in PROFILE_ATTRIBUTES], p.location, p.properties, p.consent,
            p.created, p.updated, _LAST_EVENT)

_EMAIL = func.coalesce(p.email, "")   # no email sorts first ascending, on both backends
SORTS: dict[str, SortKey] = {}
for _name, _cols, _kinds in (
    ("id", (p.id,), (str,)),
    ("created", (p.created, p.id), (float, str)),
    ("updated", (p.updated, p.id), (float, str)),
    ("email", (_EMAIL, p.id), (str, str)),
):
    SORTS[_name] = SortKey(_name, _cols, _kinds)
    SORTS["-" + _name] = SortKey("-" + _name, _cols, _kinds, descending=True)

# Filter field -> identifier kind in profile_identifiers (indexed, and holds every anonymous id).
_IDENTIFIER_KINDS = {"email": "email", "phone_number": "phone_number", "external_id": "external_id",
                     "anonymous_id": "anonymous_id", "_kx": "exchange_id"}
_COMPARE = {
    "greater-than": lambda col, us: col >= _first_shown_after(us),
    "greater-or-equal": lambda col, us: col >= _first_shown_after(us - 1),
    "less-than": lambda col, us: col < _first_shown_after(us - 1),
    "less-or-equal": lambda col, us: col < _first_shown_after(us),
}


def page(conn: Conn, account_id: str, filters: Iterable[Criterion], sort: str, window: Window) -> Slice:
    stmt = select(*_COLUMNS).where(p.account_id == account_id, *[_clause(account_id, f) for f in filters])
    result = fetch(conn, stmt, SORTS[sort], window)
    result.rows = [_decoded(conn, row) for row in result.rows]
    return result


def one(conn: Conn, account_id: str, profile_id: str) -> dict[str, Any] | None:
    """The profile with this id; an id merged away finds the profile it was merged into."""
    row = first(conn, select(*_COLUMNS).where(p.account_id == account_id, p.id == profile_id))
    if row is None:
        merged = first(conn, select(profile_merges.c.new_id).where(
            profile_merges.c.account_id == account_id, profile_merges.c.old_id == profile_id))
        if merged is None:
            return None
        row = first(conn, select(*_COLUMNS).where(p.account_id == account_id, p.id == merged["new_id"]))
    return _decoded(conn, row) if row else None


BY_IDS_CHUNK = 500
# Compiled once per number of ids (the webhook deliverer renders profiles in every batch it sends);
# on PostgreSQL one statement for any number, the ids as an array (one text: psycopg parses a long
# text again on every call, and a text per count would be compiled per count).
_by_ids = shaped(lambda n: select(*_COLUMNS).where(
    p.account_id == bindparam("account_id"), p.id.in_([bindparam(f"id{i}") for i in range(n)])).order_by(p.id),
    BY_IDS_CHUNK)
# Each id is looked up on its own, a LATERAL ... LIMIT 1 per id: with `id = ANY(ids)`, while the
# statistics counted few rows for the account (it grew since the last analysis), PostgreSQL costed
# the array as many probes and read all of the account's rows by another account_id index instead.
# With no rows at all in the statistics every such index looks as good: store/statistics.py
# analyses the table then (tests/test_plans_postgres.py).
_ids = func.unnest(bindparam("ids", type_=ARRAY(Text))).table_valued("id").render_derived(name="k")
_one = (select(*_COLUMNS).where(p.account_id == bindparam("account_id"), p.id == _ids.c.id)
        .limit(literal_column("1", Integer)).lateral("e"))
_by_id_array = Prepared(select(_one).select_from(_ids).join(_one, true()).order_by(_one.c.id))


def by_ids(conn: Conn, account_id: str, profile_ids: Iterable[str]) -> list[dict[str, Any]]:
    wanted = sorted(set(profile_ids))
    found: list[dict[str, Any]] = []
    for start in range(0, len(wanted), BY_IDS_CHUNK):
        part = wanted[start:start + BY_IDS_CHUNK]
        if conn.dialect == "postgresql":
            found += _by_id_array.rows(conn, {"account_id": account_id, "ids": part})
        else:
            found += _by_ids(len(part)).rows(conn, {"account_id": account_id, **{f"id{i}": v for i, v in enumerate(part)}})
    return [_decoded(conn, row) for row in found]


def _clause(account_id: str, cond: Criterion) -> ColumnElement[bool]:
    values = cond.value if isinstance(cond.value, list) else [cond.value]
    if cond.field == "id":
        return p.id.in_(values)
    kind = _IDENTIFIER_KINDS.get(cond.field)
    if kind is not None:
        pi = profile_identifiers.c
        owners = select(pi.profile_id).where(pi.account_id == account_id, pi.kind == kind, pi.value.in_(values))
        return p.id.in_(owners)
    if cond.field in ("created", "updated"):
        return _COMPARE[cond.operator](p[cond.field], _micros(cond.value))
    raise ValueError(f"no SQL for profile filter {cond.field}")  # the whitelist stops this earlier


# created/updated are float seconds, shown rounded to the microsecond (footfall.timefmt.iso). A client
# compares with what it was shown, so bounds are turned into the exact float where the shown value
# changes: "greater than X" is "at least the first float shown as more than X". Rendering is
# monotonic, so this is exact, and the comparison still uses the index.
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_YEAR_3000_US = 32_503_680_000 * 1_000_000


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


def _shown_micros(seconds: float) -> int:
    return _micros(datetime.fromtimestamp(seconds, tz=timezone.utc))


def _first_shown_after(us: int) -> float:
    """The smallest float whose rendering is later than `us` microseconds after the epoch."""
    us = max(-1, min(us, _YEAR_3000_US))  # beyond any stored time; keeps fromtimestamp in range
    candidate = (us + 0.5) / 1e6
    while _shown_micros(candidate) <= us:
        candidate = math.nextafter(candidate, math.inf)
    while _shown_micros(below := math.nextafter(candidate, -math.inf)) > us:
        candidate = below
    return candidate


def _decoded(conn: Conn, row: dict[str, Any]) -> dict[str, Any]:
    for name in _JSON:
        row[name] = conn.from_json(row[name]) or {}
    return row

