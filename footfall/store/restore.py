"""`footfall import` of the export's own format: profiles and events stored with the ids they were exported with.

So an export → import round trip is lossless and idempotent: a profile or event whose id is already
stored is a duplicate (nothing changes); an identifier held by another profile, or an event naming a
profile that is not there, is refused with its line number and leaves nothing.
"""

from __future__ import annotations

from typing import Any

from footfall import clock
from footfall.refusals import InvalidInput
from footfall.domain.event_dedup import dedup_key
from footfall.domain.limits import Limits
from footfall.domain.privacy import RestoredEvent, RestoredProfile, RestoreOp, RestoreResult
from footfall.store import event_rows, profile_upserts
from footfall.store.conn import Conn
from footfall.store.tally import Tally

_PROFILE_COLUMNS = ("id", "email", "phone_number", "external_id", "anonymous_id", "exchange_id", "first_name",
                    "last_name", "organization", "title", "locale", "image", "location", "properties", "consent",
                    "created", "updated")
_JSON = frozenset({"location", "properties", "consent"})
_INSERT_PROFILE = (f"INSERT INTO profiles (account_id, {', '.join(_PROFILE_COLUMNS)}) "
                   f"VALUES ({', '.join('?' for _ in range(len(_PROFILE_COLUMNS) + 1))})")
_INSERT_EVENTS = ("INSERT INTO events (account_id, id, metric_id, profile_id, time, value, value_currency, unique_id,"
                  " dedup_key, properties, received) VALUES ")
_EVENT_VALUES = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_EVENTS_PER_INSERT = 250  # 2,750 parameters: well under SQLite's 32,766 and PostgreSQL's 65,535


def apply_restore(conn: Conn, op: RestoreOp, limits: Limits, tally: Tally) -> RestoreResult:
    now = clock.now()
    result = RestoreResult()
    for item in op.profiles:
        _restore_profile(conn, op.account_id, item, tally, result)
    known: dict[str, bool] = {}
    rows: list[tuple[RestoredEvent, str, tuple]] = []
    for event in op.events:
        row = _event_row(conn, op.account_id, event, limits, now, known, result)
        if row is not None:
            rows.append(row)
    # A few hundred events a statement (multi-row INSERT … RETURNING id): the ids that come back are the
    # events stored, the others were there already. In pipeline mode the results are read after all are sent.
    sent = []
    for start in range(0, len(rows), _EVENTS_PER_INSERT):
        part = rows[start:start + _EVENTS_PER_INSERT]
        sql = _INSERT_EVENTS + ", ".join([_EVENT_VALUES] * len(part)) + " ON CONFLICT DO NOTHING RETURNING id"
        sent.append((part, conn.execute(sql, [v for _, _, values in part for v in values])))
    stored = 0
    for part, cur in sent:
        inserted = {r[0] for r in cur.fetchall()}
        for item, metric_id, _ in part:
            if item.event_id in inserted:
                inserted.discard(item.event_id)  # an id twice in the chunk: only its first line went in
                stored += 1
                tally.stored_event(op.account_id, metric_id, item.event.time, item.event.value)
    result.stored += stored
    result.duplicates += len(rows) - stored
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
        conn.run(profile_upserts._INSERT_IDENTIFIER, (account_id, kind, value, item.profile_id))
    tally.add(account_id, "profiles_created")
    result.stored += 1
    result.changed.append(item.profile_id)


def _event_row(conn: Conn, account_id: str, item: RestoredEvent, limits: Limits, now: float,
               known: dict[str, bool], result: RestoreResult) -> tuple[RestoredEvent, str, tuple] | None:
    """(the event, its metric id, its row's values), or None if it is refused."""
    if item.profile_id not in known:
        known[item.profile_id] = conn.one("SELECT 1 FROM profiles WHERE account_id = ? AND id = ?",
                                          (account_id, item.profile_id)) is not None
    if not known[item.profile_id]:
        result.refused.append((item.line, f"profile {item.profile_id} is not in this account "
                                          "(import its profiles first)"))
        return None
    try:
        metric_id = event_rows.metric_for(conn, account_id, item.metric, limits, now)
    except InvalidInput as exc:
        result.refused.append((item.line, exc.detail))
        return None
    event = item.event
    return item, metric_id, (account_id, item.event_id, metric_id, item.profile_id, event.time, event.value,
                             event.value_currency, event.unique_id,
                             item.dedup_key or dedup_key(event.unique_id, event.time),
                             conn.to_json(event.properties), now)
