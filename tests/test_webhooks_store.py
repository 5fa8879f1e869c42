"""The deliverer's side of the store, on both backends: its connection (reads outside transactions,
commits not flushed one by one) and claims that write nothing when there is nothing to take."""

from __future__ import annotations

from footfall.domain.limits import Limits
from footfall.domain.webhooks import SaveWebhook
from footfall.store import db, webhooks
from tests.servers import new_account


def _hooks(url: str, n: int) -> tuple[str, list[str]]:
    account = new_account(url, "claims")
    conn = db.connect(url)
    try:
        conn.begin()
        made = [webhooks.apply_save(conn, SaveWebhook(account.id, None, {
            "name": f"h{i}", "endpoint_url": "https://example.com/hook", "secret_key": "s" * 16,
            "topics": ["event:placed_order"], "batch_size": 100}), Limits(), None).webhook_id for i in range(n)]
        conn.commit()
    finally:
        conn.close()
    return account.id, made


def _leases(url: str) -> dict[str, tuple[str | None, float | None]]:
    conn = db.connect(url)
    try:
        return {wid: (owner, until) for wid, owner, until in conn.all("SELECT id, lease_owner, lease_until FROM webhooks")}
    finally:
        conn.close()


def _idle(conn) -> bool:
    """No transaction left open (PostgreSQL; SQLite's connection reports in_transaction)."""
    if conn.dialect == "postgresql":
        import psycopg

        return conn.raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    return not conn.raw.in_transaction


def test_a_poll_with_nothing_to_claim_writes_nothing(own_database):
    """The webhooks whose lanes we run are not claimed (written) again on every poll: with nothing
    else to take, a poll is one read, in no transaction, and the leases stay as they were."""
    account_id, (first, second) = _hooks(own_database, 2)
    conn = db.connect(own_database, autocommit=True, durable=False)
    try:
        claimed = webhooks.claim(conn, "me", 1000.0, 10.0, 64)
        assert {h["id"] for h in claimed} == {first, second} and _idle(conn)
        before = _leases(own_database)
        assert before == {first: ("me", 1010.0), second: ("me", 1010.0)}

        held = frozenset({(account_id, first), (account_id, second)})
        assert webhooks.claim(conn, "me", 1005.0, 10.0, 62, held) == [] and _idle(conn)
        assert _leases(own_database) == before  # nothing written

        # One lane ended (its task done): that webhook is ours to take again, the other untouched.
        again = webhooks.claim(conn, "me", 1006.0, 10.0, 63, frozenset({(account_id, first)}))
        assert [h["id"] for h in again] == [second] and _idle(conn)
        assert _leases(own_database) == {first: ("me", 1010.0), second: ("me", 1016.0)}

        # Another deliverer takes nothing before the leases lapse, both after.
        assert webhooks.claim(conn, "other", 1009.0, 10.0, 64) == []
        assert {h["id"] for h in webhooks.claim(conn, "other", 1017.0, 10.0, 64)} == {first, second}
    finally:
        conn.close()


def test_the_deliverers_connection_reads_outside_transactions_and_commits_without_a_flush(own_database):
    """db.connect(autocommit=True, durable=False), the deliverer process's: a read leaves no
    transaction open (PostgreSQL: no BEGIN / ROLLBACK per read trip), begin() .. commit() still
    makes one, and its commits are not flushed one by one; other connections keep their defaults."""
    conn = db.connect(own_database, autocommit=True, durable=False)
    plain = db.connect(own_database)
    try:
        account_id, (hook,) = _hooks(own_database, 1)
        assert conn.one("SELECT COUNT(*) FROM webhooks")[0] == 1 and _idle(conn)
        conn.begin()
        conn.execute("UPDATE webhooks SET cursor = 7 WHERE id = ?", (hook,))
        assert not _idle(conn)
        conn.commit()
        assert _idle(conn) and plain.one("SELECT cursor FROM webhooks WHERE id = ?", (hook,))[0] == 7
        if conn.dialect == "postgresql":
            assert conn.one("SHOW synchronous_commit")[0] == "off"
            assert plain.one("SHOW synchronous_commit")[0] == "on"
        else:
            assert conn.one("PRAGMA synchronous")[0] == 1  # NORMAL
            assert plain.one("PRAGMA synchronous")[0] == 2  # FULL, the default
    finally:
        conn.close()
        plain.close()
    if own_database.startswith("sqlite"):  # OFF asked for stays OFF
        off = db.connect(own_database, synchronous="OFF", autocommit=True, durable=False)
        try:
            assert off.one("PRAGMA synchronous")[0] == 0
        finally:
            off.close()


def test_a_record_moves_the_cursor_with_its_delivery_and_attempt_only_under_our_lease(own_database):
    """record_new (one statement on PostgreSQL, three on SQLite): the cursor, the delivery and its
    attempt together, or nothing at all when the lease is another's or the cursor has moved."""
    account_id, (hook_id,) = _hooks(own_database, 1)
    conn = db.connect(own_database, autocommit=True, durable=False)
    try:
        webhooks.claim(conn, "me", 1000.0, 10.0, 64)
        hook = webhooks.webhook(conn, account_id, hook_id)
        assert hook["cursor"] == 0
        sent = [{"position": 1, "id": "m1", "topic": "event:placed_order", "created": "", "payload": {"n": 1}},
                {"position": 2, "id": "m2", "topic": "event:placed_order", "created": "", "payload": None}]
        attempt = {"started": 1001.5, "status_code": 500, "latency_ms": 3.25, "response": "no", "error": None}

        def record(owner: str, at: dict, delivery_id: str, messages=sent, cursor_to: int = 2) -> list[bool]:
            return webhooks.records(conn, [lambda c: webhooks.record_new(
                c, account_id, at, owner, delivery_id, messages, cursor_to, attempt, "pending", 1005.0, 1001.0, None)])

        assert record("other", hook, "d-other") == [False]  # not our lease
        assert record("me", {**hook, "cursor": 1}, "d-stale") == [False]  # the cursor has moved
        assert webhooks.webhook(conn, account_id, hook_id)["cursor"] == 0 and _idle(conn)
        assert webhooks.deliveries(conn, account_id) == []
        assert webhooks.attempts(conn, account_id, "d-other") == webhooks.attempts(conn, account_id, "d-stale") == []

        assert record("me", hook, "d1") == [True] and _idle(conn)
        after = webhooks.webhook(conn, account_id, hook_id)
        assert (after["cursor"], after["failing_since"], after["enabled"]) == (2, 1001.0, True)
        made = webhooks.delivery(conn, account_id, "d1")
        assert {k: made[k] for k in ("webhook_id", "status", "attempts", "next_attempt_at", "first_position",
                                     "last_position", "message_ids", "items", "last_status", "last_error")} == {
            "webhook_id": hook_id, "status": "pending", "attempts": 1, "next_attempt_at": 1005.0,
            "first_position": 1, "last_position": 2, "message_ids": ["m1", "m2"], "items": sent,
            "last_status": 500, "last_error": None}
        (tried,) = webhooks.attempts(conn, account_id, "d1")
        assert (tried["attempt"], tried["started"], tried["status_code"], tried["latency_ms"], tried["response"]) == (
            1, 1001.5, 500, 3.25, "no")

        # past rows none of which were for it: the cursor alone moves
        assert record("me", after, "", messages=[], cursor_to=9) == [True]
        assert webhooks.webhook(conn, account_id, hook_id)["cursor"] == 9
        assert len(webhooks.deliveries(conn, account_id)) == 1
    finally:
        conn.close()
