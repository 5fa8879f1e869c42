"""The event rows of ingest: the metric (created while the account is under its metric limit) and the
deduplicated event insert (the rule: domain/event_dedup.py; first processed wins).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

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
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_CONFLICT = f"ON CONFLICT ({', '.join(DEDUP_COLUMNS)}) DO NOTHING RETURNING id"
_SELECT_EVENT = f"SELECT id FROM events WHERE {' AND '.join(f'{c} = ?' for c in DEDUP_COLUMNS)}"
_CHUNK = 256  # rows per statement: 11 parameters each stays under SQLite's 32,766 variables
# Inside Conn.pipeline(), gathered rows are sent once this many wait, without waiting for the answer:
# PostgreSQL inserts them while the writer applies the group's next operations. A group of Segment /
# PostHog batches (100 events each in bench sources) otherwise sent all of its events after its last
# request, and the writer then waited for PostgreSQL to insert them all (0.82x the bulk route's
# events/s, whose per-entry savepoint sends each request's events as it goes). One request's worth:
# a group of one-event operations still writes up to this many in one statement.
SEND_AT = 100


def insert_event(conn: Conn, account_id: str, metric_id: str, profile_id: str, event: Event,
                 now: float, dedup_by: str) -> Callable[[], tuple[str, bool]]:
    """Insert unless the dedup key is taken (first processed wins). The row is gathered with the other
    events of the group and written in one statement with them (PendingEvents); returns a call that
    gives (id, duplicate), which writes them if that has not happened yet. dedup_by: the rule for an
    event without a unique id (Limits.dedup_without_id)."""
    event_id = ids.new_ulid()
    pending = _gathered(conn, [_row(account_id, event_id, metric_id, profile_id, event, now, dedup_by)])
    return lambda: pending.outcome(conn, event_id)


def insert_events(conn: Conn, account_id: str, metric_ids: list[str], profile_id: str, events: list[Event],
                  now: float, dedup_by: str) -> Callable[[], list[tuple[str, bool]]]:
    """insert_event for the events of one profile (events[i] of metric metric_ids[i]), in their order:
    one call for them all, which gives each one's (id, duplicate)."""
    event_ids = ids.new_ulids(len(events))
    pending = _gathered(conn, [_row(account_id, event_id, metric_id, profile_id, event, now, dedup_by)
                               for event_id, metric_id, event in zip(event_ids, metric_ids, events)])
    return lambda: pending.outcomes_of(conn, event_ids)


def _row(account_id: str, event_id: str, metric_id: str, profile_id: str, event: Event, now: float,
         dedup_by: str) -> tuple:
    """An event's row (_EVENT_COLUMNS), its properties as they are: PendingEvents.write encodes them."""
    return (account_id, event_id, metric_id, profile_id, event.time, event.value, event.value_currency,
            event.unique_id, dedup_key(event.unique_id, event.time, event.microsecond, dedup_by),
            event.properties, now)


def _gathered(conn: Conn, rows: list[tuple]) -> "PendingEvents":
    pending: PendingEvents = conn.gather("events", PendingEvents)
    pending.rows.extend(rows)
    if len(pending.rows) >= SEND_AT and conn.pipelined:
        conn.write_gathered()  # without waiting for the answer (read at the end, as the rest)
    return pending


class PendingEvents:
    """Event rows gathered in one transaction, written by multi-row INSERTs in their order (so the
    first of two with one key wins, as one at a time). A row not returned by its INSERT met a taken
    key: a duplicate, whose stored copy's id is read when the results are (resolve(): at the end of
    Conn.pipeline(), or before a merge may move it: Conn.resolve_gathered)."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self._sent: list[tuple[Any, list[tuple]]] = []  # (the cursor of an INSERT, its rows)
        self.outcomes: dict[str, tuple[str, bool]] | None = None  # by the id each row was given

    def outcome(self, conn: Conn, event_id: str) -> tuple[str, bool]:
        return self._resolved(conn)[event_id]

    def outcomes_of(self, conn: Conn, event_ids: list[str]) -> list[tuple[str, bool]]:
        outcomes = self._resolved(conn)
        return [outcomes[event_id] for event_id in event_ids]

    def _resolved(self, conn: Conn) -> dict[str, tuple[str, bool]]:
        if self.outcomes is None:
            if conn.gathered.get("events") is self:
                del conn.gathered["events"]
                self.write(conn)
            self.resolve(conn)
        return self.outcomes  # type: ignore[return-value]

    def write(self, conn: Conn) -> None:
        """Send the rows (inside Conn.pipeline() without waiting for the answer; else read it now)."""
        for start in range(0, len(self.rows), _CHUNK):
            part = self.rows[start:start + _CHUNK]
            self._sent.append((_insert(conn, part), part))
        if not conn.pipelined:
            self.resolve(conn)

    def resolve(self, conn: Conn) -> None:
        if self.outcomes is not None:
            return
        outcomes: dict[str, tuple[str, bool]] = {}
        for cursor, part in self._sent:
            stored = {row[0] for row in cursor.fetchall()}
            for row in part:
                event_id = row[1]
                if event_id in stored:
                    outcomes[event_id] = (event_id, False)
                else:
                    found = conn.one(_SELECT_EVENT, (row[0], row[3], row[2], row[8]))
                    outcomes[event_id] = ((found[0] if found else event_id), True)
        self.outcomes, self._sent = outcomes, []


def _insert(conn: Conn, rows: list[tuple]) -> Any:
    """Insert `rows` in their order; the cursor whose rows are the ids of those stored (not duplicates)."""
    if conn.dialect == "postgresql":
        # The rows as one jsonb array (properties nested as they are), encoded by msgspec in C: one
        # statement text whatever the count (a VALUES list's text, a new one per count, would be parsed
        # by psycopg for its placeholders every time, and prepared never), and no per-element dumping in
        # Python (an array per column, in binary, cost ~6 µs a row in psycopg's ListBinaryDumper).
        # jsonb_array_elements yields the rows in order, so the first of a key still wins. A number
        # comes back exactly: jsonb keeps the shortest decimal that msgspec writes for a float, which
        # float8 reads back as the same double.
        return conn.execute(_INSERT_JSON, (conn.to_json(rows),))
    to_json = conn.to_json
    params: list[Any] = []
    for row in rows:  # the properties (10th of 11) as JSON text
        params += row[:9]
        params += (to_json(row[9]), row[10])
    return conn.execute(_values_sql(len(rows)), params)


_INSERT_JSON = (f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT r->>0, r->>1, r->>2, r->>3, (r->>4)::bigint, "
                "(r->>5)::float8, r->>6, r->>7, r->>8, r->9, (r->>10)::float8 FROM jsonb_array_elements(?::jsonb) r "
                + _CONFLICT)


@functools.lru_cache(maxsize=64)
def _values_sql(rows: int) -> str:
    return f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES {', '.join([_ROW] * rows)} {_CONFLICT}"
