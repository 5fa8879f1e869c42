"""Metric rollups: kept exact by every write path, and aggregates from them equal aggregates from the events.

The data are random (seeded), written through the store's own group commit (store/batch.apply_batch,
what the writer runs) on each backend. Values are multiples of 1/4, so any order of adding them up
gives the same float and the comparison can be exact.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from footfall.analytics import buckets
from footfall.domain.models import Event, ProfilePatch, TrackOp
from footfall.domain.operations import BulkEntry, BulkEventsOp, SourceBatchOp
from footfall.domain.privacy import DeleteProfilesOp, RestoredEvent, RestoreOp
from footfall.store import aggregates, db, migrate
from tests.conftest import commit_ops, query
from tests.servers import new_account

START = 1730419200  # 2024-11-01T00:00:00Z: a year and a half of DST changes on both sides
SPAN = 500 * 86400
ZONES = ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe",
         "America/St_Johns", "Pacific/Chatham"]
INTERVALS = ["hour", "day", "week", "month"]




def _assert_rollups_exact(url: str, account_id: str) -> int:
    """The rollup rows are exactly what the events add up to; returns the number of events. Rows of
    buckets whose events are all gone stay, as zeros (their counters must not go back)."""
    kept = query(url, "SELECT metric_id, bucket, count, sum_value FROM metric_rollups WHERE account_id = ? "
                      "ORDER BY metric_id, bucket", (account_id,))
    counted = query(url, "SELECT metric_id, time / 900 * 900, COUNT(*), COALESCE(SUM(value), 0) FROM events "
                         "WHERE account_id = ? GROUP BY metric_id, time / 900 * 900 ORDER BY 1, 2", (account_id,))
    zeros = [(m, int(b), float(s)) for m, b, n, s in kept if int(n) == 0]
    assert all(s == 0 for _, _, s in zeros), zeros
    kept = [(m, int(b), int(n), float(s)) for m, b, n, s in kept if int(n) != 0]
    counted = [(m, int(b), int(n), float(s)) for m, b, n, s in counted]
    assert kept == counted
    return sum(n for _, _, n, _ in counted)


def _event(rng: random.Random, metric: str | None = None) -> Event:
    value = None if rng.random() < 0.1 else rng.randrange(0, 4000) / 4
    return Event(metric=metric or rng.choice(["Placed Order", "Viewed"]), time=START + rng.randrange(SPAN),
                 value=value, unique_id=str(rng.randrange(10**9)))


def _track(account_id: str, rng: random.Random, who: int | None = None) -> TrackOp:
    who = rng.randrange(40) if who is None else who
    return TrackOp(account_id, ProfilePatch(identifiers={"email": f"p{who}@example.com"}), _event(rng))


def _fill(url: str, account_id: str, seed: int, n: int = 1500) -> None:
    rng = random.Random(seed)
    ops: list = []
    for i in range(n):
        ops.append(_track(account_id, rng))
        if i % 50 == 0:  # the same event again: a duplicate, stored once, counted once
            ops.append(TrackOp(account_id, ops[-1].profile, ops[-1].event))
        if len(ops) >= 100:
            commit_ops(url, ops)
            ops = []
    entries = [BulkEntry(ProfilePatch(identifiers={"email": f"bulk{j}@example.com"}),
                         [_event(rng, "Placed Order") for _ in range(5)], f"e{j}", [f"e{j}.{k}" for k in range(5)])
               for j in range(10)]
    source = SourceBatchOp(account_id, [_track(account_id, rng, 3) for _ in range(10)], [f"batch.{k}" for k in range(10)])
    commit_ops(url, [*ops, BulkEventsOp(account_id, entries), source])


def _metric(url: str, account_id: str, name: str = "Placed Order") -> str:
    return query(url, "SELECT id FROM metrics WHERE account_id = ? AND name = ?", (account_id, name))[0][0]


def _local_midnight(d: date, zone: ZoneInfo) -> int:
    return int(buckets.local_midnight(d, zone).timestamp())


@pytest.fixture(scope="module")
def filled_account(database_url) -> str:
    """One account per backend filled by _fill, read (never written) by every zone's test below: the
    comparison is per zone (its bucket edges, its query ranges), the events need not be. Filling one per
    zone was ~90% of those tests' time. Its own account, so no other test's rows are in it."""
    account = new_account(database_url, f"rollups-zones-{uuid.uuid4().hex[:8]}")
    _fill(database_url, account.id, seed=2024)
    return account.id


@pytest.mark.parametrize("zone_name", ZONES)
def test_aggregates_from_rollups_equal_aggregates_from_events(database_url, filled_account, zone_name):
    account_id = filled_account
    assert _assert_rollups_exact(database_url, account_id) == 1500 + 50 + 10
    zone = ZoneInfo(zone_name)
    rng = random.Random(zone_name)
    conn = db.connect(database_url)
    try:
        metric_id = _metric(database_url, account_id)
        for interval in INTERVALS:
            days = 4 if interval == "hour" else 366
            first = date(2024, 11, 1) + timedelta(days=rng.randrange(130))
            start, end = _local_midnight(first, zone), _local_midnight(first + timedelta(days=days), zone)
            plan = buckets.plan(interval, zone, start, end)
            assert aggregates.from_rollups(plan, [], [])
            for measurements in (["count", "sum_value"], ["count"], ["sum_value", "unique"]):
                fast = aggregates.aggregate(conn, account_id, metric_id, plan, [], [], 200_000, measurements)
                slow = aggregates.aggregate(conn, account_id, metric_id, plan, [], [], 200_000, measurements,
                                            use_rollups=False)
                assert fast == slow, (interval, measurements)
                assert sum(r.count for r in fast) > 0 or measurements == ["sum_value", "unique"]
    finally:
        conn.close()


def test_unaligned_queries_fall_back_to_the_events(database_url, account):
    zone = ZoneInfo("Asia/Kolkata")
    plan = buckets.plan("day", zone, START + 7, START + 10 * 86400)
    assert not aggregates.from_rollups(plan, [], [])
    aligned = buckets.plan("day", zone, START, START + 10 * 86400)
    assert not aggregates.from_rollups(aligned, ["Item"], [])
    assert not aggregates.from_rollups(aligned, [], [("Item", ["Hat"])])


def test_counts_between_any_two_seconds_equal_the_events(database_url, account):
    _fill(database_url, account.id, seed=5, n=400)
    rng = random.Random(9)
    conn = db.connect(database_url)
    try:
        metric_id = _metric(database_url, account.id)
        for _ in range(30):
            a = START + rng.randrange(SPAN)
            b = a + rng.randrange(3 * 86400) if rng.random() < 0.8 else a + rng.randrange(900)
            for mid in (None, metric_id):
                scope = "" if mid is None else " AND metric_id = ?"
                params = (account.id,) if mid is None else (account.id, mid)
                (want,) = conn.one(f"SELECT COUNT(*) FROM events WHERE account_id = ?{scope} AND time >= ? AND time < ?",
                                   (*params, a, b))
                assert aggregates.count_between(conn, account.id, a, b, mid) == want
                (since,) = conn.one(f"SELECT COUNT(*) FROM events WHERE account_id = ?{scope} AND time >= ?", (*params, a))
                assert aggregates.count_between(conn, account.id, a, None, mid) == since
    finally:
        conn.close()


def test_a_refused_op_in_a_group_counts_nothing(database_url, account):
    rng = random.Random(3)
    ops = [_track(account.id, rng, 1),
           TrackOp(account.id, ProfilePatch(identifiers={"email": "x@example.com"}, profile_id="01NOSUCHPROFILE0000000000"),
                   _event(rng)),
           _track(account.id, rng, 2)]
    commit_ops(database_url, ops)
    assert _assert_rollups_exact(database_url, account.id) == 2


def test_merges_and_privacy_deletions_keep_rollups_exact(database_url, account):
    rng = random.Random(11)
    _fill(database_url, account.id, seed=12, n=300)
    # An anonymous visitor with events, some the same as the known profile's (the known one's win), then identified.
    shared = [_event(rng, "Viewed") for _ in range(5)]
    anon = ProfilePatch(identifiers={"anonymous_id": "anon-1"})
    commit_ops(database_url, [TrackOp(account.id, anon, e) for e in shared + [_event(rng) for _ in range(5)]])
    known = ProfilePatch(identifiers={"email": "p7@example.com"})
    commit_ops(database_url, [TrackOp(account.id, known, e) for e in shared])
    both = ProfilePatch(identifiers={"email": "p7@example.com", "anonymous_id": "anon-1"})
    commit_ops(database_url, [TrackOp(account.id, both, _event(rng)), _track(account.id, rng, 7)])
    assert query(database_url, "SELECT COUNT(*) FROM profile_merges WHERE account_id = ?", (account.id,))[0][0] == 1
    _assert_rollups_exact(database_url, account.id)
    # A deletion in the same group as new events for the person deleted and for others, in its buckets.
    victim = query(database_url, "SELECT time FROM events e JOIN profiles p ON p.id = e.profile_id "
                                 "AND p.account_id = e.account_id WHERE e.account_id = ? AND p.email = ?",
                   (account.id, "p7@example.com"))
    same_bucket = [TrackOp(account.id, ProfilePatch(identifiers={"email": "other@example.com"}),
                           Event(metric="Viewed", time=t + 1, value=2.5, unique_id=f"o{t}")) for (t,) in victim[:5]]
    delete = DeleteProfilesOp(account.id, uuid.uuid4().hex[:26], "email", "p7@example.com", None, 0.0)
    before = _assert_rollups_exact(database_url, account.id)
    commit_ops(database_url, [_track(account.id, rng, 7), *same_bucket, delete, _track(account.id, rng, 8)])
    after = _assert_rollups_exact(database_url, account.id)
    assert after == before - len(victim) + len(same_bucket) + 1


def test_restored_events_count_once(database_url, account):
    rng = random.Random(13)
    commit_ops(database_url, [_track(account.id, rng, 1)])
    (pid,) = query(database_url, "SELECT id FROM profiles WHERE account_id = ?", (account.id,))[0]
    events = [RestoredEvent(i, f"01RESTORED{i:016d}", "Restored", pid, _event(rng, "Restored")) for i in range(20)]
    commit_ops(database_url, [RestoreOp(account.id, events=events)])
    commit_ops(database_url, [RestoreOp(account.id, events=events)])  # again: every one a duplicate
    assert _assert_rollups_exact(database_url, account.id) == 21


def test_the_migration_backfills_existing_events(empty_database):
    migrate.upgrade(empty_database, "0008_webhooks")
    conn = db.connect(empty_database)
    try:
        conn.begin()
        account = "A" * 26
        conn.execute("INSERT INTO metrics (account_id, id, name, integration, created, updated) VALUES (?,?,?,?,?,?)",
                     (account, "m1", "Placed Order", "API", 0, 0))
        rng = random.Random(1)
        conn.executemany("INSERT INTO events (account_id, id, metric_id, profile_id, time, value, value_currency, "
                         "unique_id, dedup_key, properties, received) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         [(account, f"E{i:025d}", "m1", f"P{i % 7:025d}", START + rng.randrange(SPAN),
                           None if i % 9 == 0 else rng.randrange(400) / 4, None, None, str(i), "{}", 0.0)
                          for i in range(500)])
        conn.commit()
    finally:
        conn.close()
    migrate.upgrade(empty_database)
    assert _assert_rollups_exact(empty_database, "A" * 26) == 500
    rows = query(empty_database, "SELECT COUNT(*) FROM metric_rollups", ())
    assert 0 < rows[0][0] <= 500


def test_rows_come_in_key_order_whatever_plan_the_database_chose(database_url, filled_account):
    """PostgreSQL's hash aggregate (chosen once the statistics count many groups; forced here) gives
    a GROUP BY's rows unsorted: aggregate() orders them, so the events' answer equals the rollups'
    (the comparison above failed now and then after autovacuum analysed a grown events table)."""
    conn = db.connect(database_url)
    try:
        if conn.dialect == "postgresql":
            conn.execute("SET enable_sort = off")
        metric_id = _metric(database_url, filled_account)
        plan = buckets.plan("day", ZoneInfo("UTC"), START, START + 366 * 86400)
        slow = aggregates.aggregate(conn, filled_account, metric_id, plan, [], [], 200_000, ["count"],
                                    use_rollups=False)
        assert len(slow) > 100
        assert [r.key for r in slow] == sorted(r.key for r in slow)
        assert slow == aggregates.aggregate(conn, filled_account, metric_id, plan, [], [], 200_000, ["count"])
    finally:
        conn.close()
