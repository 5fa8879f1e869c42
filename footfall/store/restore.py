"""`footfall import` of the export's own format: profiles and events stored with the ids they were exported with.

So an export → import round trip is lossless and idempotent: a profile or event whose id is already
stored is a duplicate (nothing changes); an identifier held by another profile, or an event naming a
profile that is not there, is refused with its line number and leaves nothing.
"""

from __future__ import annotations

from typing import Any, Callable

from footfall import clock
from footfall.domain.errors import InvalidInput
from footfall.domain.events import dedup_key
from footfall.domain.limits import Limits
from footfall.domain.privacy import RestoredEvent, RestoredProfile, RestoreOp, RestoreResult
from footfall.store import writes
from footfall.store.db import Conn
from footfall.store.writes import Tally

_PROFILE_COLUMNS = ("id", "email", "phone_number", "external_id", "anonymous_id", "exchange_id", "first_name",
                    "last_name", "organization", "title", "locale", "image", "location", "properties", "consent",
                    "created", "updated")
_JSON = frozenset({"location", "properties", "consent"})
_INSERT_PROFILE = (f"INSERT INTO profiles (account_id, {', '.join(_PROFILE_COLUMNS)}) "
                   f"VALUES ({', '.join('?' for _ in range(len(_PROFILE_COLUMNS) + 1))})")
_INSERT_EVENT = ("INSERT INTO events (account_id, id, metric_id, profile_id, time, value, value_currency, unique_id,"
                 " dedup_key, properties, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                 " ON CONFLICT DO NOTHING RETURNING id")


def apply_restore(conn: Conn, op: RestoreOp, limits: Limits, tally: Tally) -> RestoreResult:
    now = clock.now()
    result = RestoreResult()
    for item in op.profiles:
        _restore_profile(conn, op.account_id, item, tally, result)
    known: dict[str, bool] = {}
    pending: list[tuple[RestoredEvent, str, Callable[[], bool]]] = []
    for event in op.events:
        restored = _restore_event(conn, op.account_id, event, limits, now, known, result)
        if restored is not None:
            pending.append((event, *restored))
    stored = 0
    for item, metric_id, outcome in pending:  # in pipeline mode: one wait for the chunk
        if outcome():
            stored += 1
            tally.stored_event(op.account_id, metric_id, item.event.time, item.event.value)
    result.stored += stored
    result.duplicates += len(pending) - stored
    if stored:
        tally.add(op.account_id, "events_stored", stored)
    return result


def _restore_profile(conn: Conn, account_id: str, item: RestoredProfile, tally: Tally, result: RestoreResult) -> None:
    if conn.one("SELECT 1 FROM profiles WHERE account_id = ? AND id = ?", (account_id, item.profile_id)):
        result.duplicates += 1
        return
    for kind, value in item.identifiers:
        owner = conn.one("SELECT profile_id FROM profile_identifiers WHERE account_id = ? AND kind = ? AND value = ?",
                         (account_id, kind, value))
        if owner:
            result.refused.append((item.line, f"{kind} {value!r} belongs to another profile ({owner[0]})"))
            return
    row = item.row
    conn.run(_INSERT_PROFILE, [account_id, *[conn.to_json(row[c]) if c in _JSON else row.get(c)
                                             for c in _PROFILE_COLUMNS]])
    for kind, value in item.identifiers:
        conn.run(writes._INSERT_IDENTIFIER, (account_id, kind, value, item.profile_id))
    tally.add(account_id, "profiles_created")
    result.stored += 1
    result.changed.append(item.profile_id)


def _restore_event(conn: Conn, account_id: str, item: RestoredEvent, limits: Limits, now: float,
                   known: dict[str, bool], result: RestoreResult) -> tuple[str, Callable[[], bool]] | None:
    """(metric id, a call saying whether the event was inserted), or None if it is refused."""
    if item.profile_id not in known:
        known[item.profile_id] = conn.one("SELECT 1 FROM profiles WHERE account_id = ? AND id = ?",
                                          (account_id, item.profile_id)) is not None
    if not known[item.profile_id]:
        result.refused.append((item.line, f"profile {item.profile_id} is not in this account "
                                          "(import its profiles first)"))
        return None
    try:
        metric_id = writes.metric_for(conn, account_id, item.metric, limits, now)
    except InvalidInput as exc:
        result.refused.append((item.line, exc.detail))
        return None
    event = item.event
    cur = conn.execute(_INSERT_EVENT, (account_id, item.event_id, metric_id, item.profile_id, event.time, event.value,
                                       event.value_currency, event.unique_id,
                                       item.dedup_key or dedup_key(event.unique_id, event.time),
                                       conn.to_json(event.properties), now))
    if not conn.pipelined:
        inserted = cur.fetchone() is not None
        return metric_id, lambda: inserted
    return metric_id, lambda: cur.fetchone() is not None
