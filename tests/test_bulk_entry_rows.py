"""A bulk entry's events are written, counted and announced together (store/bulk_events.py): the
same rows, counters, rollups and messages as the same events one at a time would give."""

from __future__ import annotations

from footfall.domain import topics
from footfall.domain.models import Event, ProfilePatch, TrackOp
from footfall.domain.operations import BulkEntry, BulkEventsOp
from tests.conftest import commit_ops, query

T = 1_700_000_000  # a bucket boundary is at T - T % 900 + 900


def _entry(events: list[Event]) -> BulkEntry:
    return BulkEntry(ProfilePatch(identifiers={"email": "entry@example.com"}), events, "data",
                     [f"data.events[{i}]" for i in range(len(events))])


def test_an_entrys_events_are_counted_rolled_up_and_announced_like_single_ones(database_url, account):
    (earlier,) = commit_ops(database_url, [TrackOp(account.id, ProfilePatch(identifiers={"email": "entry@example.com"}),
                                                   Event(metric="Viewed", time=T, unique_id="seen", value=1.0))])
    events = [
        Event(metric="Viewed", time=T, unique_id="seen", value=100.0),  # stored before: a duplicate
        Event(metric="Added", time=T + 1, value=2.5),
        Event(metric="Viewed", time=T + 2, unique_id="a", value=0.25),
        Event(metric="Added", time=T + 1, value=9.0),  # no id, the same second as the other Added: a duplicate
        Event(metric="Ordered", time=T + 900, unique_id="b"),  # the next bucket, no value
        Event(metric="Viewed", time=T + 900, unique_id="c", value=4.0),
    ]
    (result,) = commit_ops(database_url, [BulkEventsOp(account.id, [_entry(events)])])
    assert (result.completed, result.failed, result.duplicates) == (6, 0, 2)
    profile = result.results[0]
    assert profile.profile_id == earlier.profile_id
    rows = query(database_url, "SELECT e.id, m.name, e.time, e.value FROM events e JOIN metrics m ON "
                 "m.account_id = e.account_id AND m.id = e.metric_id WHERE e.account_id = ? ORDER BY e.time, m.name",
                 (account.id,))
    assert [(name, int(t), v) for _, name, t, v in rows] == [
        ("Viewed", T, 1.0), ("Added", T + 1, 2.5), ("Viewed", T + 2, 0.25), ("Ordered", T + 900, None),
        ("Viewed", T + 900, 4.0)]
    assert profile.event_id == rows[-1][0]  # the last event's id
    counters = dict(query(database_url, "SELECT name, value FROM counters WHERE account_id = ?", (account.id,)))
    assert (counters["events_stored"], counters["events_duplicate"]) == (5, 2)
    rollups = query(database_url, "SELECT m.name, r.bucket, r.count, r.sum_value FROM metric_rollups r JOIN metrics m "
                    "ON m.account_id = r.account_id AND m.id = r.metric_id WHERE r.account_id = ? "
                    "ORDER BY r.bucket, m.name", (account.id,))
    b = T - T % 900
    assert [(n, int(bucket), int(c), float(s)) for n, bucket, c, s in rollups] == [
        ("Added", b, 1, 2.5), ("Viewed", b, 2, 1.25), ("Ordered", b + 900, 1, 0.0), ("Viewed", b + 900, 1, 4.0)]
    messages = query(database_url, "SELECT topic, id, profile_id, subject_id FROM outbox WHERE account_id = ? "
                     "AND topic <> ? ORDER BY position", (account.id, topics.PROFILE_CREATED))
    stored_ids = {(name, int(t)): eid for eid, name, t, _ in rows}
    expected = [(topics.event_topic(e.metric), stored_ids[(e.metric, e.time)]) for e in
                [events[1], events[2], events[4], events[5]]]
    assert [(topic, mid) for topic, mid, _, _ in messages[1:]] == expected  # [0]: the earlier track's
    assert all(pid == profile.profile_id and sid == mid for _, mid, pid, sid in messages)


def test_a_unique_id_repeated_in_an_entry_refuses_the_request(database_url, account):
    events = [Event(metric="Viewed", time=T, unique_id="x"), Event(metric="Other", time=T, unique_id="x"),
              Event(metric="Viewed", time=T + 5, unique_id="x")]
    (refused,) = commit_ops(database_url, [BulkEventsOp(account.id, [_entry(events)])])
    assert getattr(refused, "path", None) == "data.events[2].unique_id"
    assert query(database_url, "SELECT COUNT(*) FROM events WHERE account_id = ?", (account.id,)) == [(0,)]
    assert query(database_url, "SELECT COUNT(*) FROM outbox WHERE account_id = ?", (account.id,)) == [(0,)]
