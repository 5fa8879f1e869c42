"""Webhooks, their deliveries and attempts: the management appliers, the deliverer's claims and
records, and the reads of the API. The messages themselves are in store/outbox.py.

A webhook is delivered by one deliverer at a time (a lease on its row: lease_owner, lease_until), in
outbox order from its cursor; a delivery is one request's worth of messages. The lease, the cursor
and the delivery row move together in one transaction after each attempt, guarded by the lease, so
a deliverer that lost its lease (it stalled, it was killed) cannot move the cursor another owns.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from footfall import clock, ids
from footfall.refusals import NotFound
from footfall.domain.limits import Limits
from footfall.domain.webhooks import DeleteWebhook, SaveWebhook, WebhookResult
from footfall.store import outbox
from footfall.store.conn import Conn

WEBHOOK_COLUMNS = ("id", "name", "description", "endpoint_url", "secret_key", "enabled", "format", "topics",
                   "group_ids", "batch_size", "cursor", "lease_owner", "lease_until", "failing_since",
                   "disabled_reason", "created", "updated")
_JSON = frozenset({"topics", "group_ids", "message_ids", "items"})
DELIVERY_COLUMNS = ("id", "webhook_id", "status", "attempts", "next_attempt_at", "first_position", "last_position",
                    "message_ids", "items", "last_status", "last_error", "created", "updated")
ATTEMPT_COLUMNS = ("delivery_id", "attempt", "webhook_id", "started", "status_code", "latency_ms", "response", "error")
_SAVED = ("name", "description", "endpoint_url", "secret_key", "enabled", "format", "topics", "group_ids", "batch_size")


# -- management (pipeline appliers) -----------------------------------------------------------------

def apply_save(conn: Conn, op: SaveWebhook, limits: Limits, tally: Any) -> WebhookResult:
    now = clock.now()
    f = op.fields
    if op.webhook_id is None:
        webhook_id = ids.new_ulid()
        # Delivered from now on: what is committed after this webhook is.
        conn.execute(
            "INSERT INTO webhooks (account_id, id, name, description, endpoint_url, secret_key, enabled, format, "
            "topics, group_ids, batch_size, cursor, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (op.account_id, webhook_id, f["name"], f.get("description"), f["endpoint_url"], f["secret_key"],
             f.get("enabled", True), f.get("format", "klaviyo"), conn.to_json(f["topics"]),
             conn.to_json(f.get("group_ids", [])), f["batch_size"], outbox.head(conn, op.account_id), now, now))
        return WebhookResult(webhook_id)
    current = webhook(conn, op.account_id, op.webhook_id)
    if current is None:
        raise NotFound("no webhook with that id in this account")
    merged = {k: f.get(k, current[k]) for k in _SAVED}
    enabling = bool(merged["enabled"]) and not current["enabled"]
    conn.execute(
        f"UPDATE webhooks SET {', '.join(f'{k} = ?' for k in _SAVED)}, updated = ?"
        + (", failing_since = NULL, disabled_reason = NULL" if enabling else "")
        + " WHERE account_id = ? AND id = ?",
        [*(conn.to_json(merged[k]) if k in _JSON else merged[k] for k in _SAVED), now, op.account_id, op.webhook_id])
    return WebhookResult(op.webhook_id)


def apply_delete(conn: Conn, op: DeleteWebhook, limits: Limits, tally: Any) -> WebhookResult:
    if webhook(conn, op.account_id, op.webhook_id) is None:
        raise NotFound("no webhook with that id in this account")
    for table in ("webhook_attempts", "webhook_deliveries"):
        conn.execute(f"DELETE FROM {table} WHERE account_id = ? AND webhook_id = ?", (op.account_id, op.webhook_id))
    conn.execute("DELETE FROM webhooks WHERE account_id = ? AND id = ?", (op.account_id, op.webhook_id))
    return WebhookResult(op.webhook_id)


# -- reads ----------------------------------------------------------------------------------------------

def webhook(conn: Conn, account_id: str, webhook_id: str) -> dict[str, Any] | None:
    row = conn.one(f"SELECT {', '.join(WEBHOOK_COLUMNS)} FROM webhooks WHERE account_id = ? AND id = ?",
                   (account_id, webhook_id))
    return _decoded(conn, WEBHOOK_COLUMNS, row) if row else None


def webhooks_of(conn: Conn, account_id: str) -> list[dict[str, Any]]:
    rows = conn.all(f"SELECT {', '.join(WEBHOOK_COLUMNS)} FROM webhooks WHERE account_id = ? ORDER BY created, id",
                    (account_id,))
    return [_decoded(conn, WEBHOOK_COLUMNS, r) for r in rows]


def deliveries(conn: Conn, account_id: str, *, webhook_id: str | None = None, status: str | None = None,
               since: float | None = None, until: float | None = None, after_id: str | None = None,
               limit: int = 20) -> list[dict[str, Any]]:
    """Newest first, keyed by id (a ULID, so in creation order)."""
    where, params = ["account_id = ?"], [account_id]
    for column, op, value in (("webhook_id", "=", webhook_id), ("status", "=", status), ("created", ">=", since),
                              ("created", "<", until), ("id", "<", after_id)):
        if value is not None:
            where.append(f"{column} {op} ?")
            params.append(value)
    rows = conn.all(f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM webhook_deliveries WHERE {' AND '.join(where)} "
                    "ORDER BY id DESC LIMIT ?", [*params, limit])
    return [_decoded(conn, DELIVERY_COLUMNS, r) for r in rows]


def delivery(conn: Conn, account_id: str, delivery_id: str) -> dict[str, Any] | None:
    row = conn.one(f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM webhook_deliveries WHERE account_id = ? AND id = ?",
                   (account_id, delivery_id))
    return _decoded(conn, DELIVERY_COLUMNS, row) if row else None


def attempts(conn: Conn, account_id: str, delivery_id: str) -> list[dict[str, Any]]:
    rows = conn.all(f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM webhook_attempts WHERE account_id = ? "
                    "AND delivery_id = ? ORDER BY attempt", (account_id, delivery_id))
    return [dict(zip(ATTEMPT_COLUMNS, r)) for r in rows]


# -- API writes outside the pipeline: retry and replay (they touch only delivery rows) -------------------

def retry(conn: Conn, account_id: str, delivery_id: str) -> bool:
    """Send a delivery again as soon as its webhook's deliverer gets to it. False if there is none."""
    now = clock.now()
    conn.begin()
    try:
        cur = conn.execute("UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, updated = ? "
                           "WHERE account_id = ? AND id = ?", (now, now, account_id, delivery_id))
        found = conn.rowcount(cur) == 1
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return found


def replay(conn: Conn, account_id: str, hook: dict[str, Any], since: float, until: float, *,
           matches: Any, max_messages: int) -> list[str]:
    """Pending deliveries of what the outbox still holds from `since` to `until` for this webhook,
    batch_size messages each (their items are read from the outbox when sent). Returns their ids."""
    first = outbox.position_at(conn, account_id, since) + 1
    last = outbox.position_at(conn, account_id, until)
    now = clock.now()
    made: list[str] = []
    batch: list[dict[str, Any]] = []
    pos, seen = first - 1, 0

    def flush() -> None:
        if batch:
            made.append(_insert_delivery(conn, account_id, hook["id"], batch, None, "pending", now, next_at=now))
            batch.clear()

    conn.begin()
    try:
        while pos < last and seen < max_messages:
            rows = outbox.after(conn, account_id, pos, 1000, until=last)
            if not rows:
                break
            pos = rows[-1]["position"]
            for row in rows:
                if matches(row):
                    batch.append(row)
                    seen += 1
                    if len(batch) >= hook["batch_size"]:
                        flush()
        flush()
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return made


# -- the deliverer ------------------------------------------------------------------------------------

def claim(conn: Conn, owner: str, now: float, lease: float, limit: int,
          held: frozenset[tuple[str, str]] = frozenset()) -> list[dict[str, Any]]:
    """Take the lease of up to `limit` enabled webhooks nobody holds (or whose holder let it lapse),
    but those in `held` (ours, with a lane that renews them). A plain read first: when there is
    nothing to take, as on nearly every poll, that is all, no transaction and no write.
    PostgreSQL: FOR UPDATE SKIP LOCKED, so deliverers of several workers and hosts never wait for
    each other or claim the same webhook; SQLite has one writer at a time anyway."""
    where = ("SELECT account_id, id FROM webhooks WHERE enabled = ? AND (lease_until IS NULL OR lease_until < ?"
             " OR lease_owner = ?) ORDER BY lease_until IS NOT NULL, lease_until LIMIT ?")
    params = (True, now, owner, limit + len(held))
    if not [r for r in conn.all(where, params) if tuple(r) not in held]:
        conn.rollback()  # the read's transaction, where the connection makes one
        return []
    lock = " FOR UPDATE SKIP LOCKED" if conn.dialect == "postgresql" else ""
    conn.begin()
    try:
        rows = [(acc, wid) for acc, wid in conn.all(where + lock, params) if (acc, wid) not in held][:limit]
        conn.executemany("UPDATE webhooks SET lease_owner = ?, lease_until = ? WHERE account_id = ? AND id = ?",
                         [(owner, now + lease, acc, wid) for acc, wid in rows])
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return [{"account_id": acc, "id": wid} for acc, wid in rows]


def renew(conn: Conn, account_id: str, webhook_id: str, owner: str, until: float) -> dict[str, Any] | None:
    """Extend our lease and read the webhook as it is now; None if it is gone, disabled or not ours."""
    conn.begin()
    try:
        cur = conn.execute("UPDATE webhooks SET lease_until = ? WHERE account_id = ? AND id = ? AND lease_owner = ? "
                           "AND enabled = ?", (until, account_id, webhook_id, owner, True))
        ours = conn.rowcount(cur) == 1
        row = webhook(conn, account_id, webhook_id) if ours else None
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return row


def release(conn: Conn, account_id: str, webhook_id: str, owner: str) -> None:
    _write(conn, "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL WHERE account_id = ? AND id = ? "
                 "AND lease_owner = ?", (account_id, webhook_id, owner))


def next_pending(conn: Conn, account_id: str, webhook_id: str) -> dict[str, Any] | None:
    """The webhook's oldest delivery still to be made (it goes before anything newer: order per profile).
    A read in the caller's transaction (the deliverer ends it after the trip's other reads)."""
    row = conn.one(f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM webhook_deliveries WHERE account_id = ? "
                   "AND webhook_id = ? AND status = 'pending' ORDER BY id LIMIT 1", (account_id, webhook_id))
    return _decoded(conn, DELIVERY_COLUMNS, row) if row else None


def records(conn: Conn, writes: Sequence[Callable[[Conn], bool]]) -> list[bool]:
    """Several lanes' records (record_new, record_retry) in one transaction: fewer commits, and on
    SQLite fewer turns at the write lock the writer process waits for. Each says whether it wrote."""
    conn.begin()
    try:
        done = [write(conn) for write in writes]
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return done


def record_new(conn: Conn, account_id: str, hook: dict[str, Any], owner: str, delivery_id: str,
               messages: Sequence[dict[str, Any]], cursor_to: int, attempt: dict[str, Any], status: str,
               next_at: float | None, failing_since: float | None, disabled: str | None) -> bool:
    """After the first attempt of new messages: the delivery, its attempt and the cursor, in the
    caller's transaction (records), guarded by our lease. False (and nothing written) if the lease
    is no longer ours or the cursor has moved."""
    now = clock.now()
    move = ("UPDATE webhooks SET cursor = ?, failing_since = ?, enabled = (enabled AND ?), disabled_reason = "
            "COALESCE(?, disabled_reason) WHERE account_id = ? AND id = ? AND lease_owner = ? AND cursor = ?")
    moved = (cursor_to, failing_since, disabled is None, disabled, account_id, hook["id"], owner, hook["cursor"])
    if not messages:  # the cursor moves past rows none of which were for this webhook
        return conn.rowcount(conn.execute(move, moved)) == 1
    items = None if status == "succeeded" else list(messages)
    delivery = _delivery_values(conn, account_id, hook["id"], messages, items, status, now, next_at=next_at,
                                delivery_id=delivery_id, attempts=1, last_status=attempt["status_code"],
                                last_error=disabled or attempt["error"])
    tried = _attempt_values(account_id, delivery_id, 1, hook["id"], attempt)
    if conn.dialect == "postgresql":
        # One statement, not three: the rows are inserted only if the guarded UPDATE moved the cursor
        # (one snapshot; the inserts see the UPDATE's RETURNING).
        row = conn.one(f"WITH moved AS ({move} RETURNING 1), "
                       f"d AS ({_INSERT_DELIVERY} SELECT {_marks(delivery)} FROM moved), "
                       f"a AS ({_INSERT_ATTEMPT} SELECT {_marks(tried)} FROM moved) "
                       "SELECT COUNT(*) FROM moved", [*moved, *delivery, *tried])
        return row is not None and row[0] == 1
    if conn.rowcount(conn.execute(move, moved)) != 1:
        return False
    conn.execute(f"{_INSERT_DELIVERY} VALUES ({_marks(delivery)})", delivery)
    conn.execute(f"{_INSERT_ATTEMPT} VALUES ({_marks(tried)})", tried)
    return True


def record_retry(conn: Conn, account_id: str, hook: dict[str, Any], owner: str, pending: dict[str, Any],
                 items: Sequence[dict[str, Any]], attempt: dict[str, Any], status: str, next_at: float | None,
                 failing_since: float | None, disabled: str | None) -> bool:
    """After another attempt of a pending delivery, in the caller's transaction (records), guarded
    by our lease."""
    now = clock.now()
    number = pending["attempts"] + 1
    cur = conn.execute("UPDATE webhooks SET failing_since = ?, enabled = (enabled AND ?), disabled_reason = "
                       "COALESCE(?, disabled_reason) WHERE account_id = ? AND id = ? AND lease_owner = ?",
                       (failing_since, disabled is None, disabled, account_id, hook["id"], owner))
    if conn.rowcount(cur) != 1:
        return False
    conn.execute("UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, items = ?, "
                 "last_status = ?, last_error = ?, updated = ? WHERE account_id = ? AND id = ?",
                 (status, number, next_at, None if status == "succeeded" else conn.to_json(list(items)),
                  attempt["status_code"], disabled or attempt["error"], now, account_id, pending["id"]))
    _insert_attempt(conn, account_id, pending["id"], number, hook["id"], attempt)
    return True


def prune(conn: Conn, before: float) -> None:
    """Finished deliveries (and their attempts) older than the retained window."""
    conn.begin()
    try:
        old = conn.all("SELECT account_id, id FROM webhook_deliveries WHERE status <> 'pending' AND created < ? LIMIT 5000",
                       (before,))
        conn.executemany("DELETE FROM webhook_attempts WHERE account_id = ? AND delivery_id = ?", old)
        conn.executemany("DELETE FROM webhook_deliveries WHERE account_id = ? AND id = ?", old)
        outbox.prune(conn, before)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


_INSERT_DELIVERY = ("INSERT INTO webhook_deliveries (account_id, id, webhook_id, status, attempts, next_attempt_at, "
                    "first_position, last_position, message_ids, items, last_status, last_error, created, updated)")
_INSERT_ATTEMPT = ("INSERT INTO webhook_attempts (account_id, delivery_id, attempt, webhook_id, started, status_code, "
                   "latency_ms, response, error)")


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


def _delivery_values(conn: Conn, account_id: str, webhook_id: str, messages: Sequence[dict[str, Any]], items: Any,
                     status: str, now: float, *, next_at: float | None, delivery_id: str, attempts: int = 0,
                     last_status: int | None = None, last_error: str | None = None) -> tuple:
    return (account_id, delivery_id, webhook_id, status, attempts, next_at, messages[0]["position"],
            messages[-1]["position"], conn.to_json([m["id"] for m in messages]),
            None if items is None else conn.to_json(items), last_status, last_error, now, now)


def _attempt_values(account_id: str, delivery_id: str, number: int, webhook_id: str, attempt: dict[str, Any]) -> tuple:
    return (account_id, delivery_id, number, webhook_id, attempt["started"], attempt["status_code"],
            attempt["latency_ms"], attempt["response"], attempt["error"])


def _insert_delivery(conn: Conn, account_id: str, webhook_id: str, messages: Sequence[dict[str, Any]],
                     items: Any, status: str, now: float, *, next_at: float | None, delivery_id: str | None = None,
                     attempts: int = 0, last_status: int | None = None, last_error: str | None = None) -> str:
    delivery_id = delivery_id or ids.new_ulid()
    values = _delivery_values(conn, account_id, webhook_id, messages, items, status, now, next_at=next_at,
                              delivery_id=delivery_id, attempts=attempts, last_status=last_status,
                              last_error=last_error)
    conn.execute(f"{_INSERT_DELIVERY} VALUES ({_marks(values)})", values)
    return delivery_id


def _insert_attempt(conn: Conn, account_id: str, delivery_id: str, number: int, webhook_id: str,
                    attempt: dict[str, Any]) -> None:
    values = _attempt_values(account_id, delivery_id, number, webhook_id, attempt)
    conn.execute(f"{_INSERT_ATTEMPT} VALUES ({_marks(values)})", values)


def _write(conn: Conn, sql: str, params: Sequence[Any]) -> None:
    conn.begin()
    try:
        conn.execute(sql, params)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _decoded(conn: Conn, columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(columns, row))
    for key in _JSON.intersection(out):
        out[key] = conn.from_json(out[key])
    for key in ("enabled",):
        if key in out:
            out[key] = bool(out[key])
    for key in ("cursor", "first_position", "last_position"):
        if out.get(key) is not None:
            out[key] = int(out[key])
    return out
