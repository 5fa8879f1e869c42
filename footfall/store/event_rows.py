"""The event rows of ingest: the metric (created while the account is under its metric limit) and the
deduplicated event insert (the rule: domain/event_dedup.py; first processed wins).
"""

from __future__ import annotations

from typing import Callable

from footfall import ids
from footfall.refusals import LimitExceeded
from footfall.domain.event_dedup import DEDUP_COLUMNS, dedup_key
from footfall.domain.limits import Limits
from footfall.domain.models import Event
from footfall.store.conn import Conn


def metric_for(conn: Conn, account_id: str, name: str, limits: Limits, now: float) -> str:
    """The metric's id, creating it if the account is still under its metric limit.

    Ids are cached on the connection (a metric is never deleted or renamed by ingest); the cache is
    dropped on every rollback, which might have undone the row a cached id names."""
    key = ("metric", account_id, name)
    cached = conn.cache.get(key)
    if cached is not None:
        return cached
    row = conn.one("SELECT id FROM metrics WHERE account_id = ? AND name = ?", (account_id, name))
    if row:
        conn.cache[key] = row[0]
        return row[0]
    (count,) = conn.one("SELECT COUNT(*) FROM metrics WHERE account_id = ?", (account_id,))
    if count >= limits.max_metrics_per_account:
        raise LimitExceeded(
            f"the account already has {count} metrics, the limit; a new metric {name!r} cannot be created",
            "event",
        )
    metric_id = ids.short_id()
    conn.execute(
        "INSERT INTO metrics (account_id, id, name, integration, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
        (account_id, metric_id, name, "API", now, now),
    )
    conn.cache[key] = metric_id
    return metric_id
_EVENT_COLUMNS = ("account_id, id, metric_id, profile_id, time, value, value_currency, unique_id, dedup_key, "
                  "properties, received")
_INSERT_EVENT = (f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                 f"ON CONFLICT ({', '.join(DEDUP_COLUMNS)}) DO NOTHING")
_SELECT_EVENT = f"SELECT id FROM events WHERE {' AND '.join(f'{c} = ?' for c in DEDUP_COLUMNS)}"
# PostgreSQL only (pipeline mode): the insert, or if the key is taken the id stored under it, in one
# statement. The read runs only if nothing was inserted (a one-time filter), so one row either way.
_INSERT_OR_READ_EVENT = (f"WITH inserted AS ({_INSERT_EVENT} RETURNING id) SELECT id, FALSE FROM inserted "
                         f"UNION ALL SELECT id, TRUE FROM ({_SELECT_EVENT} AND NOT EXISTS (SELECT FROM inserted)) taken")


def insert_event(conn: Conn, account_id: str, metric_id: str, profile_id: str, event: Event,
                 now: float, dedup_by: str, *, new_profile: bool = False) -> Callable[[], tuple[str, bool]]:
    """Insert unless the dedup key is taken (first processed wins). Returns a call that gives
    (id, duplicate): in pipeline mode the result is not waited for here. dedup_by: the rule for
    an event without a unique id (Limits.dedup_without_id).

    new_profile: the profile was created in this operation and this is its first event, so no key
    can be taken (the key includes the profile's new id): the insert's result need not be read, and
    it can go with the profile's own inserts (Conn.hold)."""
    event_id = ids.new_ulid()
    key = dedup_key(event.unique_id, event.time, event.microsecond, dedup_by)
    values = (account_id, event_id, metric_id, profile_id, event.time, event.value, event.value_currency,
              event.unique_id, key, conn.to_json(event.properties), now)
    if new_profile:
        conn.hold(_INSERT_EVENT, values)
        return lambda: (event_id, False)
    where = (account_id, profile_id, metric_id, key)
    if conn.pipelined:
        return _insert_event_pipelined(conn, event_id, values, where)
    if conn.execute(_INSERT_EVENT, values).rowcount == 1:
        return lambda: (event_id, False)
    row = conn.one(_SELECT_EVENT, where)
    return lambda: ((row[0] if row else event_id), True)


def _insert_event_pipelined(conn: Conn, event_id: str, values: tuple, where: tuple) -> Callable[[], tuple[str, bool]]:
    """One statement instead of an insert whose row count decides a second: nothing to wait for now.
    The id of a taken key is read at once, before a later op of the batch may merge its profile away."""
    cur = conn.execute(_INSERT_OR_READ_EVENT, (*values, *where))

    def outcome() -> tuple[str, bool]:
        row = cur.fetchone()
        if row is None:  # taken by a transaction that committed after the statement began: read it now
            found = conn.one(_SELECT_EVENT, where)
            return (found[0] if found else event_id), True
        return row[0], row[1]

    return outcome
