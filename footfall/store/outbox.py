"""The outbox: what webhooks and the live stream must send, written in the transaction that caused it.

`enqueue(conn, account_id, messages)` is the one way in. Call it on the connection, inside the
transaction, that makes the change the messages report (ingest's group commit, a membership write,
a deletion job): if that transaction commits the messages exist, if it rolls back they never did.
Nothing committed is therefore ever missed by a deliverer or a stream, whatever crashes when.

Each message gets the account's next `position`. Positions are handed out by one counter row per
account (outbox_positions), updated as the transaction's last statement before its commit: the row
lock makes a second writer wait until the first commits, so positions are in commit order and a
reader that has seen position p has seen every message before it (no gap can be filled in later).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

from footfall import clock
from footfall.store.conn import Conn

COLUMNS = ("position", "id", "topic", "profile_id", "subject_id", "payload", "created")
_CHUNK = 1000  # messages per statement: bounds one statement's size
_TAKE = ("INSERT INTO outbox_positions (account_id, position) VALUES (?, ?) ON CONFLICT (account_id) "
         "DO UPDATE SET position = outbox_positions.position + excluded.position RETURNING position")
_INSERT = ("INSERT INTO outbox (account_id, position, id, topic, profile_id, subject_id, payload, created) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


class Message(NamedTuple):
    """One thing to send. id is what receivers deduplicate on (an event message uses the event's id).
    payload: None for events (the event row is the payload, read when sent) and profile created /
    updated (the profile as it is when sent); otherwise what is sent, JSON. A named tuple, not a
    frozen dataclass: one is made for every event stored, and a tuple is made in a third of the time."""

    topic: str
    id: str
    profile_id: str | None = None
    subject_id: str | None = None
    payload: Any = None


def enqueue(conn: Conn, account_id: str, messages: Sequence[Message], now: float | None = None) -> None:
    """Write messages on `conn`, in its open transaction (see the module docstring). Make it the
    transaction's last statement where you can: it holds the account's position row until the commit."""
    if not messages:
        return
    created = clock.now() if now is None else now
    for start in range(0, len(messages), _CHUNK):
        part = messages[start:start + _CHUNK]
        if conn.dialect == "postgresql":
            _enqueue_postgres(conn, account_id, part, created)
        else:
            _enqueue_sqlite(conn, account_id, part, created)


def _enqueue_sqlite(conn: Conn, account_id: str, messages: Sequence[Message], created: float) -> None:
    (last,) = conn.one(_TAKE, (account_id, len(messages)))
    first = last - len(messages) + 1
    conn.executemany(_INSERT, [
        (account_id, first + i, m.id, m.topic, m.profile_id, m.subject_id,
         None if m.payload is None else conn.to_json(m.payload), created)
        for i, m in enumerate(messages)])


def _enqueue_postgres(conn: Conn, account_id: str, messages: Sequence[Message], created: float) -> None:
    """One statement, nothing to read back: in pipeline mode it costs no round trip. The messages go
    as one jsonb array of (topic, id, profile_id, subject_id, payload), encoded by msgspec in C: a
    VALUES list's text, a new one per count, would be parsed by psycopg for its placeholders on every
    call (it caches only short texts) and never prepared, and an array per column is dumped element by
    element in Python (~2 µs a message). A payload of None is SQL NULL, as it was sent before."""
    conn.run(_ENQUEUE_POSTGRES, [account_id, len(messages), len(messages), account_id, created,
                                 conn.to_json(messages)])


_ENQUEUE_POSTGRES = (
    "WITH p AS (INSERT INTO outbox_positions (account_id, position) VALUES (?, ?) ON CONFLICT (account_id) "
    "DO UPDATE SET position = outbox_positions.position + excluded.position RETURNING position) "
    "INSERT INTO outbox (account_id, position, id, topic, profile_id, subject_id, payload, created) "
    "SELECT a.account_id, p.position - ? + v.n, v.m->>1, v.m->>0, v.m->>2, v.m->>3, NULLIF(v.m->4, 'null'), "
    "a.created FROM p, (SELECT ?::text AS account_id, ?::float8 AS created) a, "
    "jsonb_array_elements(?::jsonb) WITH ORDINALITY AS v (m, n)")


# -- reading --------------------------------------------------------------------------------------

def head(conn: Conn, account_id: str) -> int:
    """The account's last position handed out (0: none yet)."""
    row = conn.one("SELECT position FROM outbox_positions WHERE account_id = ?", (account_id,))
    return int(row[0]) if row else 0


def oldest(conn: Conn, account_id: str) -> int | None:
    """The oldest position still retained."""
    row = conn.one("SELECT MIN(position) FROM outbox WHERE account_id = ?", (account_id,))
    return int(row[0]) if row and row[0] is not None else None


def after(conn: Conn, account_id: str, position: int, limit: int, *, until: int | None = None) -> list[dict[str, Any]]:
    """Messages after `position` (up to `until`, inclusive), oldest first."""
    sql = f"SELECT {', '.join(COLUMNS)} FROM outbox WHERE account_id = ? AND position > ?"
    params: list[Any] = [account_id, position]
    if until is not None:
        sql += " AND position <= ?"
        params.append(until)
    rows = conn.all(sql + " ORDER BY position LIMIT ?", [*params, limit])
    return [_row(conn, r) for r in rows]


def at_positions(conn: Conn, account_id: str, first: int, last: int) -> list[dict[str, Any]]:
    return after(conn, account_id, first - 1, last - first + 1, until=last)


def position_at(conn: Conn, account_id: str, moment: float) -> int:
    """The last position written before `moment` (0 if none retained): a binary search over the
    primary key, as positions follow commit order and so, within a commit's length, time."""
    low, high = (oldest(conn, account_id) or 1) - 1, head(conn, account_id)
    while low < high:
        mid = (low + high + 1) // 2
        row = conn.one("SELECT created FROM outbox WHERE account_id = ? AND position >= ? ORDER BY position LIMIT 1",
                       (account_id, mid))
        if row is None or row[0] >= moment:
            high = mid - 1
        else:
            low = mid
    return low


def prune(conn: Conn, before: float, limit: int = 10_000) -> int:
    """Delete up to `limit` of each account's messages created before `before` (the retained window),
    found by position (the primary key), not by a scan of the table; returns how many."""
    deleted = 0
    for (account_id,) in conn.all("SELECT account_id FROM outbox_positions"):
        upto = position_at(conn, account_id, before)
        low = oldest(conn, account_id)
        if low is None or upto < low:
            continue
        upto = min(upto, low + limit - 1)
        conn.run("DELETE FROM outbox WHERE account_id = ? AND position <= ?", (account_id, upto))
        deleted += upto - low + 1
    return deleted


def _row(conn: Conn, values: Sequence[Any]) -> dict[str, Any]:
    row = dict(zip(COLUMNS, values))
    row["position"] = int(row["position"])
    row["payload"] = conn.from_json(row["payload"])
    return row


_EVENT_PAYLOAD_COLUMNS = ("id", "metric_id", "profile_id", "time", "value", "unique_id", "properties")


# The array's ids one at a time, each a LATERAL lookup of at most one row, so that the primary key
# is used while the statistics undercount the account (see queries/profiles._by_id_array).
_EVENTS_BY_ID_ARRAY = (f"SELECT {', '.join('e.' + c for c in _EVENT_PAYLOAD_COLUMNS)} FROM unnest(?::text[]) AS k (id), "
                       f"LATERAL (SELECT {', '.join(_EVENT_PAYLOAD_COLUMNS)} FROM events "
                       "WHERE account_id = ? AND id = k.id LIMIT 1) AS e")


def events_by_ids(conn: Conn, account_id: str, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The events event messages name (their payload), by id; a deleted event is absent."""
    found: dict[str, dict[str, Any]] = {}
    wanted = sorted(set(event_ids))
    for start in range(0, len(wanted), 500):
        part = wanted[start:start + 500]
        if conn.dialect == "postgresql":  # one text whatever the count (see queries/profiles.by_ids)
            rows = conn.all(_EVENTS_BY_ID_ARRAY, [part, account_id])
        else:
            rows = conn.all(f"SELECT {', '.join(_EVENT_PAYLOAD_COLUMNS)} FROM events WHERE account_id = ? "
                            f"AND id IN ({', '.join('?' for _ in part)})", [account_id, *part])
        for values in rows:
            row = dict(zip(_EVENT_PAYLOAD_COLUMNS, values))
            row["properties"] = conn.from_json(row["properties"]) or {}
            found[row["id"]] = row
    return found
