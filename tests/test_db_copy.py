"""`footfall db copy` between the two backends: everything moves, the copy verifies, the same
exports come out byte for byte; a non-empty target is refused."""

from __future__ import annotations

import uuid

import pytest

from footfall.store import schema
from footfall.transfer import dbcopy
from tests.conftest import drop_pg_database, create_pg_database, make_sqlite_database
from tests.legacy_calls import order, track
from tests.segment_helpers import SegmentApi
from tests.segment_oracle import Person
from tests.servers import ServerThread, new_account, server_settings
from tests.test_cli import footfall

import httpx


@pytest.fixture
def source(tmp_path):
    """A SQLite database with two accounts' data, written by a real server."""
    url = make_sqlite_database(tmp_path)
    srv = ServerThread(server_settings(database_url=url)).start()
    accounts = [new_account(url, f"copy-{i}-{uuid.uuid4().hex[:6]}") for i in range(2)]
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            for n, account in enumerate(accounts):
                api = SegmentApi(srv.url, account, url)
                for p in range(3):
                    api.identify(Person(email=f"p{p}@example.com", properties={"Plan": "pro", "z": 1, "a": [1]}))
                    for e in range(4):
                        assert track(client, order(account, customer_properties={"$email": f"p{p}@example.com"},
                                                   time=1_700_000_000 + e, properties={"$event_id": f"{n}-{p}-{e}",
                                                                                        "b": 2, "a": 1.5})).text == "1"
                list_id = api.create_list("VIP")
                assert api.list_members(list_id, ["p0@example.com"]).status_code == 204
                segment = api.segment_id({"condition_groups": [{"conditions": [{
                    "type": "profile-property", "property": "properties['Plan']",
                    "filter": {"type": "string", "operator": "equals", "value": "pro"}}]}]})
                api.wait_processed([segment])
                r = api.http.post("/api/data-privacy-deletion-jobs", json={"data": {
                    "type": "data-privacy-deletion-job", "attributes": {"profile": {"data": {
                        "type": "profile", "attributes": {"email": "p2@example.com"}}}}}})
                assert r.status_code == 202
                api.close()
    finally:
        srv.stop()
    return url, accounts


def _exports(url: str, accounts, tmp_path, tag: str) -> dict[str, bytes]:
    out = {}
    for account in accounts:
        for kind in ("events", "profiles"):
            path = tmp_path / f"{tag}-{account.public_key}-{kind}.jsonl"
            done = footfall("export", kind, "--account", account.public_key, "-o", str(path), "--quiet",
                            "--database", url)
            assert done.returncode == 0, done.stderr
            out[f"{account.public_key}-{kind}"] = path.read_bytes()
    return out


def test_copy_sqlite_to_postgresql_and_back(source, tmp_path):
    url, accounts = source
    pg = create_pg_database("footfall_copy")
    try:
        done = footfall("db", "copy", "--from", url, "--to", pg, "--quiet")
        assert done.returncode == 0, done.stderr + done.stdout
        assert "verified: counts and checksums match" in done.stdout
        for table in schema.metadata.sorted_tables:  # every table is in the report, even empty ones
            assert table.name in done.stdout
        assert _exports(pg, accounts, tmp_path, "pg") == _exports(url, accounts, tmp_path, "sqlite")
        # The private keys still work against the copy (hashed keys moved as they were).
        srv = ServerThread(server_settings(database_url=pg)).start()
        try:
            r = httpx.get(f"{srv.url}/api/profiles", headers={
                "Authorization": f"Klaviyo-API-Key {accounts[0].private_key}", "revision": "2026-07-15"})
            assert r.status_code == 200 and len(r.json()["data"]) == 2
        finally:
            srv.stop()

        again = footfall("db", "copy", "--from", url, "--to", pg, "--quiet")
        assert again.returncode == 1 and "not empty" in again.stderr and "--allow-non-empty" in again.stderr
        clash = footfall("db", "copy", "--from", url, "--to", pg, "--allow-non-empty", "--quiet")
        assert clash.returncode == 1 and "same keys" in clash.stderr

        back = f"sqlite:///{tmp_path}/back.db"
        done = footfall("db", "copy", "--from", pg, "--to", back, "--quiet")
        assert done.returncode == 0, done.stderr
        assert _exports(back, accounts, tmp_path, "back") == _exports(url, accounts, tmp_path, "sqlite2")
    finally:
        drop_pg_database(pg)


def test_checksums_see_a_changed_value(source):
    url, _ = source
    report_tables = {t.name: t for t in dbcopy.tables()}
    from sqlalchemy import create_engine, select, update

    engine = create_engine("sqlite:///" + url.split(":///", 1)[1])
    with engine.begin() as conn:
        before = dbcopy.table_checksum(conn, report_tables["events"])
        first = conn.execute(select(schema.events.c.id).limit(1)).scalar_one()
        conn.execute(update(schema.events).where(schema.events.c.id == first).values(value=99.0))
        after = dbcopy.table_checksum(conn, report_tables["events"])
    engine.dispose()
    assert before[0] == after[0] and before[1] != after[1]


def test_same_database_is_refused(tmp_path):
    url = make_sqlite_database(tmp_path)
    done = footfall("db", "copy", "--from", url, "--to", url)
    assert done.returncode == 1 and "same database" in done.stderr
