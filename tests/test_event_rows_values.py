"""Event rows and outbox messages are stored exactly as given, on each backend.

On PostgreSQL the writer sends a group's event rows and outbox messages as one jsonb array each
(store/event_rows._insert, store/outbox._enqueue_postgres); SQLite binds every value. These check the
values that an encoding could change: floats at their edges, text that JSON escapes, NULLs, nested
properties, a payload of None (NULL, not JSON null), positions in order.
"""

from __future__ import annotations

import json

from footfall.domain.event_dedup import dedup_key
from footfall.domain.models import Event, ProfilePatch, TrackOp
from footfall.domain.operations import BulkEntry, BulkEventsOp
from footfall.store import outbox
from tests.conftest import commit_ops, query

VALUES = [0.1, 0.30000000000000004, 1e-300, 5e-324, 1.7976931348623157e308, -2.5, 123456789.12345679, None, 0.0,
          1e21, 7.0]
TEXTS = ['quote " and \\ backslash', "line\nbreak\ttab", "ünïcödé ✓ 😀", "<b>&amp;</b>", "'; DROP TABLE x; --",
         "\u2028\u2029", "\x01\x1f", "a" * 2000, "null", "[1]", "{}"]
PROPERTIES = [
    {"nested": {"list": [1, 2.5, None, True, False, "x"], "deep": {"k": "v"}}},
    {},
    {"big": 2 ** 62, "neg": -(2 ** 62), "float": 1e-7, "text": TEXTS[0], "emoji": TEXTS[2]},
    {"null": None, "empty": "", "zero": 0},
]


def _events() -> list[Event]:
    events = []
    for i, value in enumerate(VALUES):
        text = TEXTS[i % len(TEXTS)]
        events.append(Event(metric=f"Metric {text[:20]}", time=1_700_000_000 + i * 1000, value=value,
                            value_currency=None if i % 2 else "EUR",
                            unique_id=None if i == 3 else f"uid {text}",
                            properties={**PROPERTIES[i % len(PROPERTIES)], "i": i, "text": text}))
    return events


def _stored(url: str, account_id: str) -> dict[str, tuple]:
    rows = query(url, "SELECT e.id, m.name, e.time, e.value, e.value_currency, e.unique_id, e.dedup_key, "
                      "e.properties, e.profile_id FROM events e JOIN metrics m ON m.account_id = e.account_id "
                      "AND m.id = e.metric_id WHERE e.account_id = ?", (account_id,))
    return {row[0]: row[1:] for row in rows}


def _as_stored(event: Event) -> tuple:
    return (event.metric, event.time, event.value, event.value_currency, event.unique_id,
            dedup_key(event.unique_id, event.time), event.properties)


def _decoded(row: tuple) -> tuple:
    name, time, value, currency, unique_id, key, properties, _ = row
    properties = json.loads(properties) if isinstance(properties, str) else properties
    return (name, int(time), None if value is None else float(value), currency, unique_id, key, properties)


def test_bulk_events_are_stored_exactly_as_sent(database_url, account):
    events = _events()
    entry = BulkEntry(ProfilePatch(identifiers={"email": "values@example.com"}), events, "data",
                      [f"data.events[{i}]" for i in range(len(events))])
    (result,) = commit_ops(database_url, [BulkEventsOp(account.id, [entry])])
    assert (result.completed, result.failed, result.duplicates) == (len(events), 0, 0)
    stored = _stored(database_url, account.id)
    assert sorted((_decoded(row) for row in stored.values()), key=repr) == sorted(map(_as_stored, events), key=repr)
    assert result.results[0].event_id in stored  # the last event's id


def test_track_events_are_stored_exactly_as_sent_and_announced_in_order(database_url, account):
    events = _events()
    ops = [TrackOp(account.id, ProfilePatch(identifiers={"email": f"t{i}@example.com"}), event)
           for i, event in enumerate(events)]
    results = commit_ops(database_url, ops)
    stored = _stored(database_url, account.id)
    for result, event in zip(results, events):
        assert not result.duplicate and _decoded(stored[result.event_id]) == _as_stored(event)
    # One message per new profile, then (recorded once the group's events are in) per event, in op order,
    # at positions 1, 2, ...; a payload of None is NULL (what is sent is read then), not JSON null.
    messages = query(
        database_url, "SELECT position, topic, id, profile_id, subject_id, payload IS NULL FROM outbox "
                      "WHERE account_id = ? ORDER BY position", (account.id,))
    assert [int(m[0]) for m in messages] == list(range(1, 2 * len(events) + 1))
    expected = ([("profile:created", None, result.profile_id, None, True) for result in results]
                + [(None, result.event_id, result.profile_id, result.event_id, True) for result in results])
    got = [(topic if topic.startswith("profile") else None, None if topic.startswith("profile") else mid, pid, sid,
            bool(null)) for _, topic, mid, pid, sid, null in messages]
    assert got == expected


def test_an_outbox_payload_is_stored_as_given(database_url, account):
    from footfall.store import db

    payloads = [{"changed": ["email", TEXTS[0]]}, {"n": 1e-300, "list": [None, True]}, None, {"t": TEXTS[2]}]
    conn = db.connect(database_url)
    try:
        conn.begin()
        outbox.enqueue(conn, account.id, [outbox.Message("profile:updated", f"m{i}", "p", None, payload)
                                          for i, payload in enumerate(payloads)])
        conn.commit()
        read = outbox.after(conn, account.id, 0, 10)
    finally:
        conn.close()
    assert [(m["position"], m["id"], m["payload"]) for m in read] == [
        (i + 1, f"m{i}", payload) for i, payload in enumerate(payloads)]
    nulls = query(database_url, "SELECT position FROM outbox WHERE account_id = ? AND payload IS NULL", (account.id,))
    assert [int(p) for (p,) in nulls] == [3]
