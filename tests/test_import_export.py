"""`footfall import` and `footfall export` through the real CLI on both backends: a lossless,
idempotent round trip, refusals with line numbers, resuming after an interruption, CSV, Klaviyo- and
Segment-shaped lines, export filters."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from footfall import config
from footfall.store import db
from footfall.transfer.importer import Importer
from tests.legacy_calls import order, track
from tests.servers import new_account
from tests.test_cli import footfall

T0 = 1_700_000_000


def _fill(client, account, people: int = 4, events: int = 5) -> None:
    for p in range(people):
        customer = {"$email": f"p{p}@example.com", "$first_name": f"Pé{p}", "$city": "Oslo", "vip": p % 2 == 0,
                    "nested": {"z": 1, "a": [1, 2, {"k": "v"}]}}
        for e in range(events):
            body = order(account, customer_properties=customer, time=T0 + p * 100 + e,
                         properties={"$value": 1.5 * e, "$event_id": f"p{p}-e{e}", "b": "x", "a": "ü"},
                         event="Placed Order" if e % 2 else "Viewed Page")
            assert track(client, body).text == "1"


def _export(account, database_url: str, kind: str, path: Path, *extra: str) -> bytes:
    done = footfall("export", kind, "--account", account.public_key, "-o", str(path), "--quiet",
                    "--database", database_url, *extra)
    assert done.returncode == 0, done.stderr
    return path.read_bytes()


def _import(account, database_url: str, kind: str, path: Path, *extra: str):
    done = footfall("import", kind, str(path), "--account", account.public_key, "--quiet", "--json",
                    "--database", database_url, *extra)
    assert done.returncode in (0, 2), done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture
def other(database_url):
    return new_account(database_url, f"import-target-{uuid.uuid4().hex[:8]}")


def test_export_import_round_trip_is_lossless_and_idempotent(client, account, other, database_url, tmp_path):
    _fill(client, account)
    profiles = _export(account, database_url, "profiles", tmp_path / "p.jsonl")
    events = _export(account, database_url, "events", tmp_path / "e.jsonl")
    assert profiles.count(b"\n") == 4 and events.count(b"\n") == 20

    code, refused = _import(other, database_url, "events", tmp_path / "e.jsonl")
    assert code == 2 and refused["stored"] == 0 and refused["refused"] == 20
    assert refused["refusals"][0]["line"] == 1 and "import its profiles first" in refused["refusals"][0]["reason"]

    code, summary = _import(other, database_url, "profiles", tmp_path / "p.jsonl")
    assert code == 0 and (summary["stored"], summary["duplicates"], summary["format"]) == (4, 0, "footfall")
    code, summary = _import(other, database_url, "events", tmp_path / "e.jsonl")
    assert code == 0 and (summary["stored"], summary["duplicates"]) == (20, 0)
    assert _export(other, database_url, "profiles", tmp_path / "p2.jsonl") == profiles
    assert _export(other, database_url, "events", tmp_path / "e2.jsonl") == events

    for kind, n in (("profiles", 4), ("events", 20)):  # again: nothing stored twice
        code, summary = _import(other, database_url, kind, tmp_path / f"{kind[0]}.jsonl")
        assert (summary["stored"], summary["duplicates"], summary["refused"]) == (0, n, 0)
    assert _export(other, database_url, "events", tmp_path / "e3.jsonl") == events


def test_an_interrupted_import_resumes_and_stores_each_event_once(client, account, other, database_url, tmp_path):
    _fill(client, account, people=3, events=10)
    _export(account, database_url, "profiles", tmp_path / "p.jsonl")
    events = _export(account, database_url, "events", tmp_path / "e.jsonl")
    _import(other, database_url, "profiles", tmp_path / "p.jsonl")
    calls = []

    def stop_after_two_chunks(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    settings = config.from_env()
    first = Importer(database_url, other.id, "events", tmp_path / "e.jsonl", limits=settings.limits, chunk=7,
                     on_progress=stop_after_two_chunks)
    with pytest.raises(KeyboardInterrupt):
        first.run()
    state = json.loads((tmp_path / "e.jsonl.footfall-import").read_text())
    assert state["line"] == 14 and state["stored"] == 14
    code, summary = _import(other, database_url, "events", tmp_path / "e.jsonl")
    assert summary["resumed_at_line"] == 14 and summary["stored"] == 30 and summary["duplicates"] == 0
    assert not (tmp_path / "e.jsonl.footfall-import").exists()
    assert _export(other, database_url, "events", tmp_path / "e2.jsonl") == events


def test_a_state_file_of_another_import_is_refused(account, database_url, tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text("")
    (tmp_path / "e.jsonl.footfall-import").write_text(json.dumps({"account_id": "someone-else"}))
    done = footfall("import", "events", str(path), "--account", account.public_key, "--database", database_url)
    assert done.returncode == 1 and "--restart" in done.stderr


def test_klaviyo_and_segment_shaped_events(account, database_url, stored, tmp_path):
    klaviyo = {"data": {"type": "event", "attributes": {
        "properties": {"sku": "A"}, "time": "2024-05-01T12:00:00Z", "value": 9.5,
        "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": "k@example.com"}}}}}}
    lines = [json.dumps(klaviyo), json.dumps(klaviyo["data"]), "", "{not json", json.dumps({"data": {"type": "x"}})]
    (tmp_path / "k.jsonl").write_text("\n".join(lines) + "\n")
    code, summary = _import(account, database_url, "events", tmp_path / "k.jsonl")
    # Lines 1 and 2 are the same event without a unique_id: a hash of the line is its key, and the
    # two lines differ in bytes, so both are stored; line 3 is blank; lines 4 and 5 are refused.
    assert (summary["stored"], summary["refused"], summary["format"]) == (2, 2, "klaviyo")
    assert [r["line"] for r in summary["refusals"]] == [4, 5]
    _, again = _import(account, database_url, "events", tmp_path / "k.jsonl")
    assert (again["stored"], again["duplicates"]) == (0, 2)

    segment = [{"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "m1",
                "timestamp": "2024-05-02T08:00:00Z", "properties": {"revenue": 3},
                "context": {"traits": {"email": "s@example.com"}}},
               {"type": "identify", "userId": "u1", "traits": {"firstName": "Sam", "plan": "pro"}},
               {"type": "page", "anonymousId": "a1", "name": "Home", "messageId": "m2"}]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(m) + "\n" for m in segment))
    _, summary = _import(account, database_url, "events", tmp_path / "s.jsonl")
    assert (summary["stored"], summary["refused"], summary["format"]) == (3, 0, "segment")
    events = {e["metric"]: e for e in stored.events()}
    assert events["Signed Up"]["unique_id"] == "m1" and events["Signed Up"]["value"] == 3
    assert events["Viewed Page"]["properties"] == {"name": "Home"}
    sam = [p for p in stored.profiles() if p["external_id"] == "u1"][0]
    assert sam["email"] == "s@example.com" and sam["first_name"] == "Sam" and sam["properties"] == {"plan": "pro"}


def test_csv_profiles_with_a_header_and_the_exports_csv(client, account, other, database_url, stored, tmp_path):
    (tmp_path / "people.csv").write_text("email,first_name,city,Plan\n"
                                         "a@example.com,Ann,Oslo,pro\n"
                                         "not-an-email,Bob,,free\n"
                                         "c@example.com,,,\n")
    code, summary = _import(account, database_url, "profiles", tmp_path / "people.csv")
    assert code == 2 and (summary["stored"], summary["refused"]) == (2, 1)
    assert summary["refusals"][0]["line"] == 3 and "email" in summary["refusals"][0]["reason"]
    ann = [p for p in stored.profiles() if p["email"] == "a@example.com"][0]
    assert ann["first_name"] == "Ann" and ann["location"]["city"] == "Oslo" and ann["properties"] == {"Plan": "pro"}

    _fill(client, account, people=2, events=1)
    exported = _export(account, database_url, "profiles", tmp_path / "p.csv", "--format", "csv")
    assert exported.splitlines()[0].startswith(b"id,email,phone_number,")
    _, summary = _import(other, database_url, "profiles", tmp_path / "p.csv")
    assert (summary["stored"], summary["format"]) == (4, "footfall-csv")
    assert _export(other, database_url, "profiles", tmp_path / "p2.csv", "--format", "csv") == exported
    jsonl_a = _export(account, database_url, "profiles", tmp_path / "a.jsonl")
    assert _export(other, database_url, "profiles", tmp_path / "b.jsonl") == jsonl_a


def test_export_filters_and_csv_events(client, account, database_url, tmp_path):
    _fill(client, account, people=2, events=4)
    rows = lambda data: [json.loads(line) for line in data.splitlines()]  # noqa: E731
    only = rows(_export(account, database_url, "events", tmp_path / "o.jsonl", "--metric", "Placed Order"))
    assert len(only) == 4 and {e["metric"] for e in only} == {"Placed Order"}
    window = rows(_export(account, database_url, "events", tmp_path / "w.jsonl",
                          "--since", str(T0 + 100), "--until", "2023-11-14T22:15:03+00:00"))
    assert [e["timestamp"] for e in window] == [T0 + 100, T0 + 101, T0 + 102]
    csv_text = _export(account, database_url, "events", tmp_path / "e.csv", "--format", "csv").decode()
    header, first = csv_text.splitlines()[:2]
    assert header == "id,metric,profile_id,time,timestamp,value,value_currency,unique_id,properties"
    assert '"{""$event_id"":""p0-e0"",""$value"":0.0,""a"":""ü"",""b"":""x""}"' in first
    bad = footfall("export", "events", "--account", account.public_key, "--since", "yesterday",
                   "--database", database_url)
    assert bad.returncode == 1 and "--since" in bad.stderr
    bad = footfall("export", "profiles", "--account", account.public_key, "--metric", "X", "--database", database_url)
    assert bad.returncode == 1 and "filter events" in bad.stderr


def test_import_while_the_server_ingests(client, account, database_url, tmp_path, stored):
    """The import's transactions interleave with the server's writer on the same database."""
    lines = [json.dumps({"type": "track", "event": "Imported", "userId": f"u{i}", "messageId": f"m{i}",
                         "timestamp": "2024-05-02T08:00:00Z", "properties": {}}) for i in range(3000)]
    (tmp_path / "s.jsonl").write_text("\n".join(lines) + "\n")
    import threading
    errors = []

    def ingest():
        for i in range(60):
            r = track(client, order(account, time=T0 + i, properties={"$event_id": f"live-{i}"}))
            if r.text != "1":
                errors.append(r.text)

    thread = threading.Thread(target=ingest)
    thread.start()
    code, summary = _import(account, database_url, "events", tmp_path / "s.jsonl")
    thread.join()
    assert code == 0 and summary["stored"] == 3000 and not errors
    conn = db.connect(database_url)
    try:
        (n,) = conn.one("SELECT COUNT(*) FROM events WHERE account_id = ?", (account.id,))
    finally:
        conn.close()
    assert n == 3060


def test_an_event_id_twice_in_one_chunk_is_stored_once(account, database_url, stored, tmp_path):
    from bench.moving import generate

    profiles, events = generate(tmp_path, 100)  # the export's own format, two profiles
    _import(account, database_url, "profiles", profiles)
    lines = events.read_text().splitlines()
    twice = json.loads(lines[3])
    twice["properties"] = {"changed": True}  # the same id with other content: the first line wins
    events.write_text("\n".join([*lines, json.dumps(twice)]) + "\n")
    _, summary = _import(account, database_url, "events", events)
    assert (summary["stored"], summary["duplicates"]) == (100, 1), summary
    kept = [e for e in stored.events() if e["id"] == twice["id"]]
    assert len(kept) == 1 and kept[0]["properties"] != {"changed": True}
    conn = db.connect(database_url)
    try:
        (counted,) = conn.one("SELECT value FROM counters WHERE account_id = ? AND name = 'events_stored'",
                              (account.id,))
    finally:
        conn.close()
    assert counted == 100
