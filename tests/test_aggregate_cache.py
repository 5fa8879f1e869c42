"""The aggregate cache (store/aggregate_cache.py): a second look reads no events, and every write that
changes a cached number (a late event, a merge, a deletion, an event in place of a deleted one) is seen.

Each test compares with the same aggregate computed from the events alone (use_rollups=False), on
both backends, through the store's own group commit (what the writer runs).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from footfall.analytics import buckets
from footfall.domain.models import Event, ProfilePatch, TrackOp
from footfall.domain.privacy import DeleteProfilesOp
from footfall.refusals import TooManyGroups
from footfall.store import aggregate_cache, aggregates, db
from tests.conftest import commit_ops, query

YEAR = (int(datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()),
        int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()))
ZONE = ZoneInfo("Europe/Berlin")


def _t(month: int, day: int = 10, hour: int = 12) -> int:
    return int(datetime(2025, month, day, hour, tzinfo=timezone.utc).timestamp())


def _track(account_id: str, who: str, t: int, props: dict | None = None, metric: str = "Viewed") -> TrackOp:
    return TrackOp(account_id, ProfilePatch(identifiers={"email": f"{who}@example.com"}),
                   Event(metric=metric, time=t, value=1.0, unique_id=uuid.uuid4().hex, properties=props or {}))


def _metric(url: str, account_id: str) -> str:
    return query(url, "SELECT id FROM metrics WHERE account_id = ? AND name = 'Viewed'", (account_id,))[0][0]


class Recording:
    """A connection whose reads of the events table are recorded (SQL and parameters)."""

    def __init__(self, url: str) -> None:
        self.conn = db.connect(url)
        self.event_reads: list[tuple[str, list]] = []
        inner = self.conn.all

        def all_(text, params=()):
            if "FROM events" in text:
                self.event_reads.append((text, list(params)))
            return inner(text, params)

        self.conn.all = all_

    def look(self, account_id: str, metric_id: str, plan: buckets.Plan, by: list[str] | None = None,
             measurements: tuple[str, ...] = ("unique",), max_rows: int = 200_000) -> list[aggregates.Row]:
        """The cached answer, checked against the answer from the events alone."""
        self.event_reads.clear()
        got = aggregates.aggregate(self.conn, account_id, metric_id, plan, by or [], [], max_rows, measurements)
        reads = list(self.event_reads)
        want = aggregates.aggregate(self.conn, account_id, metric_id, plan, by or [], [], max_rows, measurements,
                                    use_rollups=False)
        self.event_reads = reads
        assert sorted(got, key=_order) == sorted(want, key=_order)
        return got

    def close(self) -> None:
        self.conn.close()


def _order(row: aggregates.Row) -> tuple:
    return row.key, tuple("" if d is None else d for d in row.dims)


@pytest.fixture
def recording(database_url):
    aggregate_cache.CACHE.clear()
    r = Recording(database_url)
    yield r
    r.close()
    aggregate_cache.CACHE.clear()


def _unique_by_month(rows: list[aggregates.Row]) -> dict[int, int]:
    return {r.key: r.unique for r in rows}


def _year_plan(interval: str = "month") -> buckets.Plan:
    plan = buckets.plan(interval, ZONE, *YEAR)
    assert plan.aligned(900)
    return plan


def _fill(url: str, account_id: str) -> None:
    ops = [_track(account_id, f"p{i % 7}", _t(month, 1 + i % 27, i % 24), {"Category": f"c{i % 3}"})
           for month in (2, 3, 5, 6, 9) for i in range(12)]
    commit_ops(url, ops)


def test_a_second_look_reads_no_events(database_url, account, recording):
    _fill(database_url, account.id)
    metric_id = _metric(database_url, account.id)
    plan = _year_plan()
    first = recording.look(account.id, metric_id, plan)
    assert len(recording.event_reads) == 1  # the five months with events are one run
    assert sum(r.unique for r in first) == 5 * 7
    assert recording.look(account.id, metric_id, plan) == first
    assert recording.event_reads == []
    by = recording.look(account.id, metric_id, _year_plan("day"), by=["Category"], measurements=("count",))
    assert recording.event_reads and sum(r.count for r in by) == 60
    assert recording.look(account.id, metric_id, _year_plan("day"), by=["Category"], measurements=("count",)) == by
    assert recording.event_reads == []


def test_a_late_event_recomputes_only_its_month(database_url, account, recording):
    _fill(database_url, account.id)
    metric_id = _metric(database_url, account.id)
    plan = _year_plan()
    before = _unique_by_month(recording.look(account.id, metric_id, plan))
    commit_ops(database_url, [_track(account.id, "late", _t(3, 20))])
    after = _unique_by_month(recording.look(account.id, metric_id, plan))
    march = [k for k, d in zip(plan.keys, plan.dates()) if d.month == 3][0]
    assert after == {**before, march: before[march] + 1}
    assert len(recording.event_reads) == 1
    _, params = recording.event_reads[0]
    start, end = params[-2:]  # the read's time range: inside March (Berlin)
    march_starts, april_starts = (int(datetime(2025, m, 1, tzinfo=ZONE).timestamp()) for m in (3, 4))
    assert march_starts <= start < end <= april_starts


def test_a_merge_lowers_the_unique_count(database_url, account, recording):
    anon = ProfilePatch(identifiers={"anonymous_id": "anon-1"})
    anon_event = TrackOp(account.id, anon, Event(metric="Viewed", time=_t(4, 5), unique_id="a1"))
    commit_ops(database_url, [_track(account.id, "known", _t(4, 3)), anon_event])
    metric_id = _metric(database_url, account.id)
    plan = _year_plan()
    april = [k for k, d in zip(plan.keys, plan.dates()) if d.month == 4][0]
    assert _unique_by_month(recording.look(account.id, metric_id, plan))[april] == 2
    # The anonymous visitor is identified by an event in another month: April's counts do not change.
    both = ProfilePatch(identifiers={"email": "known@example.com", "anonymous_id": "anon-1"})
    commit_ops(database_url, [TrackOp(account.id, both, Event(metric="Viewed", time=_t(8, 1), unique_id="b1"))])
    assert query(database_url, "SELECT COUNT(*) FROM profile_merges WHERE account_id = ?", (account.id,))[0][0] == 1
    assert _unique_by_month(recording.look(account.id, metric_id, plan))[april] == 1


def test_a_deletion_and_a_new_event_are_seen(database_url, account, recording):
    _fill(database_url, account.id)
    commit_ops(database_url, [_track(account.id, "gone", _t(6, 2))])
    metric_id = _metric(database_url, account.id)
    plan = _year_plan()
    june = [k for k, d in zip(plan.keys, plan.dates()) if d.month == 6][0]
    july = [k for k, d in zip(plan.keys, plan.dates()) if d.month == 7][0]
    before = _unique_by_month(recording.look(account.id, metric_id, plan))
    assert before[june] == 8 and july not in before
    # In one group: the deleted person's one June event goes, one of an existing person comes, so
    # June's count of events is as it was and only the rollups' counters tell it changed.
    delete = DeleteProfilesOp(account.id, uuid.uuid4().hex[:26], "email", "gone@example.com", None, 0.0)
    commit_ops(database_url, [delete, _track(account.id, "p1", _t(6, 3))])
    assert _unique_by_month(recording.look(account.id, metric_id, plan)) == {**before, june: 7}
    commit_ops(database_url, [_track(account.id, "new", _t(7, 3))])
    assert _unique_by_month(recording.look(account.id, metric_id, plan)) == {**before, june: 7, july: 1}


def test_too_many_groups_counts_cached_rows_too(database_url, account, recording):
    _fill(database_url, account.id)
    metric_id = _metric(database_url, account.id)
    plan = _year_plan("day")
    rows = recording.look(account.id, metric_id, plan, by=["Category"], measurements=("count",))
    with pytest.raises(TooManyGroups):
        aggregates.aggregate(recording.conn, account.id, metric_id, plan, ["Category"], [], len(rows) - 1, ["count"])


def test_unaligned_plans_are_not_cached(database_url, account, recording):
    _fill(database_url, account.id)
    metric_id = _metric(database_url, account.id)
    plan = buckets.plan("month", ZONE, YEAR[0] + 7, YEAR[1])
    recording.look(account.id, metric_id, plan)
    assert len(aggregate_cache.CACHE) == 0


class _Row:
    def __init__(self, key: int) -> None:
        self.key = key


class _FakeConn:
    dialect = "test"


def test_rows_computed_while_a_write_lands_are_not_kept():
    cache = aggregate_cache.BucketCache()
    plan = _year_plan()
    key = plan.keys[2]
    looks = iter([1, 2, 2, 2, 2])  # the second fingerprint read differs from the first: a write landed
    computed = []

    def fingerprints():
        return {key: aggregate_cache.Bucket(5, next(looks), YEAR[0] + 60 * 86400, YEAR[0] + 61 * 86400)}

    def compute(narrowed):
        computed.append((narrowed.start, narrowed.end))
        return [_Row(key)]

    got = aggregate_cache.rows(_FakeConn(), "A", "m", plan, (), fingerprints, compute, cache)
    assert [r.key for r in got] == [key] and len(cache) == 0  # answered, not kept
    got = aggregate_cache.rows(_FakeConn(), "A", "m", plan, (), fingerprints, compute, cache)
    assert [r.key for r in got] == [key] and len(cache) == 1
    assert len(computed) == 2
    assert computed[0] == (YEAR[0] + 60 * 86400, YEAR[0] + 61 * 86400 + 900)
    aggregate_cache.rows(_FakeConn(), "A", "m", plan, (), fingerprints, compute, cache)
    assert len(computed) == 2 and len(cache) == 1


def test_the_cache_holds_at_most_its_bound_of_rows():
    cache = aggregate_cache.BucketCache(max_rows=100)
    for i in range(20):
        cache.put(i, (1, 1), [object()] * 10)
        assert cache.get(0, (1, 1)) is not None  # used at every step: kept while older ones go
        assert cache.rows_held <= 100
    assert cache.get(0, (1, 1)) is not None  # used at every step, so never the least recent
    assert cache.get(1, (1, 1)) is None and cache.get(19, (1, 1)) is not None
    assert cache.get(19, (1, 2)) is None  # another fingerprint: not the rows asked for
    cache.put("big", (1, 1), [object()] * 11)  # over a tenth of the bound: not kept
    assert cache.get("big", (1, 1)) is None and cache.rows_held <= 100
    for i in range(300):
        cache.put(("empty", i), (0, 1), [])  # an entry without rows still counts
    assert len(cache) <= 100
