"""Keys on SQLite and PostgreSQL: create / list / revoke / rotate in the store and through the CLI's
exact contract, the two kinds kept apart, last_used kept without a write per request, and a revoked
key refused within a second, by an in-process server and by both workers of `footfall serve --workers 2`."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from footfall.store import accounts, db, keys
from tests.modern import server_headers
from tests.servers import new_account
from tests.test_cli import Serve, footfall, printed_keys_from_running

CREATED_FIELDS = ["id", "name", "kind", "scopes", "key"]
LISTED_FIELDS = ["id", "name", "kind", "scopes", "prefix", "created", "last_used"]


def _conn(url: str) -> db.Conn:
    return db.connect(url)


def test_store_create_list_revoke_rotate(database_url, account):
    conn = _conn(database_url)
    try:
        write = keys.create_key(conn, account.id, "website", kind="write")
        reader = keys.create_key(conn, account.id, "reports", ("events:read",))
        assert write.secret.startswith("wk_") and reader.secret.startswith("pk_")
        assert write.info.scopes == keys.WRITE_KEY_SCOPES and reader.info.scopes == ("events:read",)
        listed = keys.list_keys(conn, account.id)
        assert [k.name for k in listed] == ["default", "website", "reports"]
        assert [k.kind for k in listed] == ["private", "write", "private"]
        assert all(k.prefix == k.prefix[:7] and k.last_used is None and k.revoked is None for k in listed)

        # The kinds never stand in for each other.
        assert keys.by_write_key(conn, write.secret).account_id == account.id
        assert keys.by_private_key(conn, write.secret) is None
        assert keys.by_write_key(conn, reader.secret) is None
        assert keys.by_private_key(conn, reader.secret).scopes == ("events:read",)
        assert keys.by_write_key(conn, "wk_\x00nul") is None and keys.by_write_key(conn, "x" * 500) is None

        keys.revoke_key(conn, account.id, reader.info.id)
        assert keys.by_private_key(conn, reader.secret) is None
        assert [k.name for k in keys.list_keys(conn, account.id)] == ["default", "website"]
        assert keys.get_key(conn, account.id, reader.info.id).revoked is not None
        with pytest.raises(keys.KeyNotFound):
            keys.revoke_key(conn, account.id, reader.info.id)  # already revoked

        rotated = keys.rotate_key(conn, account.id, write.info.id)
        assert (rotated.info.name, rotated.info.kind, rotated.info.scopes) == ("website", "write", keys.WRITE_KEY_SCOPES)
        assert rotated.secret != write.secret and keys.by_write_key(conn, write.secret) is None
        assert keys.by_write_key(conn, rotated.secret).key_id == rotated.info.id

        keys.touch_last_used(conn, {(account.id, rotated.info.id): 1_800_000_000.0})
        keys.touch_last_used(conn, {(account.id, rotated.info.id): 1_700_000_000.0})  # never goes backwards
        assert keys.get_key(conn, account.id, rotated.info.id).last_used == 1_800_000_000.0
    finally:
        conn.close()


def test_another_accounts_key_cannot_be_revoked(database_url, account):
    other = new_account(database_url, f"other-{account.name}")
    conn = _conn(database_url)
    try:
        mine = keys.create_key(conn, account.id, "mine")
        with pytest.raises(keys.KeyNotFound):
            keys.revoke_key(conn, other.id, mine.info.id)
        assert keys.by_private_key(conn, mine.secret) is not None
    finally:
        conn.close()


def test_cli_contract(database_url, account):
    made = footfall("keys", "create", "--account", account.public_key, "--name", "segment source",
                    "--kind", "write", "--json", "--database", database_url)
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    assert list(created) == CREATED_FIELDS
    assert (created["name"], created["kind"], created["scopes"]) == ("segment source", "write",
                                                                     ["events:write", "profiles:write"])
    scoped = json.loads(footfall("keys", "create", "--account", account.public_key, "--scopes",
                                 "events:read,metrics:read", "--json", "--database", database_url).stdout)
    assert (scoped["kind"], scoped["scopes"], scoped["name"]) == ("private", ["events:read", "metrics:read"], "cli")

    listed = footfall("keys", "list", "--account", account.public_key, "--json", "--database", database_url)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [list(row) for row in rows] == [LISTED_FIELDS] * 3
    assert [row["id"] for row in rows[1:]] == [created["id"], scoped["id"]]
    assert rows[1]["prefix"] == created["key"][:7] and rows[1]["last_used"] is None
    assert created["key"] not in listed.stdout and scoped["key"] not in listed.stdout
    table = footfall("keys", "list", "--account", account.name, "--database", database_url)
    assert "segment source" in table.stdout and created["key"] not in table.stdout

    revoked = footfall("keys", "revoke", scoped["id"], "--account", account.public_key, "--database", database_url)
    assert revoked.returncode == 0, revoked.stderr
    again = footfall("keys", "revoke", scoped["id"], "--account", account.public_key, "--database", database_url)
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "no live key" in again.stderr

    rotated = footfall("keys", "rotate", created["id"], "--account", account.public_key, "--json",
                       "--database", database_url)
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)
    assert list(new) == CREATED_FIELDS and new["key"] != created["key"] and new["kind"] == "write"
    ids = [row["id"] for row in json.loads(footfall("keys", "list", "--account", account.public_key, "--json",
                                                    "--database", database_url).stdout)]
    assert created["id"] not in ids and scoped["id"] not in ids and new["id"] in ids


def test_accounts_rename_and_delete(database_url, account):
    renamed = footfall("accounts", "rename", account.public_key, f"renamed {account.name}", "--database", database_url)
    assert renamed.returncode == 0, renamed.stderr
    conn = _conn(database_url)
    try:
        assert accounts.by_name_or_public_key(conn, account.public_key).name == f"renamed {account.name}"
    finally:
        conn.close()
    other = new_account(database_url, f"other {account.name}")
    taken = footfall("accounts", "rename", account.public_key, other.name, "--database", database_url)
    assert taken.returncode == 1 and taken.stderr == f"footfall: error: an account named {other.name!r} already exists\n"

    refused = footfall("accounts", "delete", account.public_key, "--database", database_url)
    assert refused.returncode == 1 and "needs confirmation" in refused.stderr  # no terminal, no --yes
    deleted = footfall("accounts", "delete", account.public_key, "--yes", "--database", database_url)
    assert deleted.returncode == 0, deleted.stderr
    assert account.public_key not in footfall("accounts", "list", "--database", database_url).stdout
    conn = _conn(database_url)
    try:
        assert keys.by_private_key(conn, account.private_key) is None
        assert conn.one("SELECT COUNT(*) FROM api_keys WHERE account_id = ?", (account.id,))[0] == 0
    finally:
        conn.close()


def test_account_time_zone_is_set_at_creation_printed_and_changed(database_url):
    name = f"zoned-{time.time_ns()}"
    made = footfall("accounts", "create", name, "--timezone", "Asia/Kolkata", "--json", "--database", database_url)
    assert made.returncode == 0, made.stderr
    shown = footfall("accounts", "timezone", name, "--database", database_url)
    assert (shown.returncode, shown.stdout) == (0, "Asia/Kolkata\n")
    changed = footfall("accounts", "timezone", name, "America/New_York", "--database", database_url)
    assert changed.returncode == 0, changed.stderr
    assert footfall("accounts", "timezone", name, "--database", database_url).stdout == "America/New_York\n"
    for bad in ("Mars/Base", "../etc/passwd", ""):
        refused = footfall("accounts", "timezone", name, bad, "--database", database_url)
        assert refused.returncode == 1 and refused.stderr.startswith("footfall: error: ") and "time zone" in refused.stderr
        assert refused.stderr.count("\n") == 1, refused.stderr
    refused = footfall("accounts", "create", f"{name}-2", "--timezone", "Nowhere/City", "--database", database_url)
    assert refused.returncode == 1 and "unknown time zone 'Nowhere/City'" in refused.stderr
    assert footfall("accounts", "timezone", name, "--database", database_url).stdout == "America/New_York\n"


def _metrics(client: httpx.Client, key: str) -> int:
    return client.get("/api/metrics", headers=server_headers(key)).status_code


@pytest.mark.serial
def test_revoked_key_refused_within_a_second_and_last_used_kept(server, client, database_url, account):
    conn = _conn(database_url)
    try:
        made = keys.create_key(conn, account.id, "soon revoked")
        write = keys.create_key(conn, account.id, "source", kind="write")
    finally:
        conn.close()
    assert _metrics(client, made.secret) == 200
    assert _metrics(client, write.secret) == 401  # a write key is not a private key
    for _ in range(20):  # cached now
        assert _metrics(client, made.secret) == 200
    asyncio.run(server.services.flush_last_used())  # as the server does every few seconds
    conn = _conn(database_url)
    try:
        used = keys.get_key(conn, account.id, made.info.id).last_used
        assert used is not None and abs(used - time.time()) < 30
        keys.revoke_key(conn, account.id, made.info.id)
    finally:
        conn.close()
    time.sleep(1.0)
    assert [_metrics(client, made.secret) for _ in range(5)] == [401] * 5


@pytest.mark.serial
def test_revocation_reaches_every_worker_within_a_second(empty_database):
    srv = Serve("--workers", "2", "--database", empty_database, env={"FOOTFALL_RATE_LIMITS": "off"})
    try:
        assert len(srv.worker_pids()) >= 2
        public, _ = printed_keys_from_running(srv)
        made = json.loads(footfall("keys", "create", "--account", public, "--json", "--database", empty_database).stdout)
        with httpx.Client(base_url=srv.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as c:
            # New connections each time, so both workers answer (and cache the key) at some point.
            assert [_metrics(c, made["key"]) for _ in range(30)] == [200] * 30
            revoked = footfall("keys", "revoke", made["id"], "--account", public, "--database", empty_database)
            assert revoked.returncode == 0, revoked.stderr
            time.sleep(1.0)
            assert [_metrics(c, made["key"]) for _ in range(30)] == [401] * 30
    finally:
        srv.stop()
