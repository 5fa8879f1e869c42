"""Aggregates that must be computed from the events (distinct profiles, breakdowns by a property), kept
in the process per bucket of the query's plan and computed again only for the buckets written since.

A year of distinct profiles per month is a scan of the metric's year of events (they do not add up
from the 15-minute rollups), and a breakdown is a JSON extraction per event of the range: hundreds of
milliseconds on a million events, for numbers that, outside the current day, rarely change. The
rollups (store/rollups.py) say when they do: every write to a rollup row raises its `changes`, rows
are never deleted, and every path that inserts, deletes or moves an event (a merge) writes the rows
of its buckets in the same transaction. So a plan bucket (a month of a month chart, a day of a
30-day breakdown) whose (SUM(count), SUM(changes)) over the rollup rows inside it is what it was when
its rows were computed still has those rows.

`rows` reads those fingerprints (one query on the rollups), skips buckets without events, serves
each bucket whose fingerprint is unchanged from the cache, and computes the others from the events,
consecutive stale buckets in one query each. Rows computed are kept, under the fingerprint read
before computing, only if the fingerprints read again afterwards are still the same: a write
committed while they were computed (PostgreSQL's read committed gives each statement its own
snapshot) may or may not be in them, so they are answered but not kept as current. (Kept under the
earlier fingerprint they could never be served, since the counters only go up; the second read keeps
them from taking room in the cache.)

Used only when the plan's buckets are whole 15-minute rollup buckets (Plan.aligned) and the rollups
are used at all (store/aggregates.py decides). The cache is per process, bounded by the rows it
holds (least recently used entries go first), and keyed by dialect, account, metric, interval, zone,
the query's shape (measurements, `by`, filters) and the bucket (its key, and the range's start or end
where the range cuts it). It assumes the database under a running process only moves forward: a
database replaced by an older copy behind its back could, by chance, show the same fingerprint for
different events.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Callable, Hashable, Protocol, Sequence

from footfall.analytics.buckets import Plan
from footfall.store.conn import Conn
from footfall.store.rollups import BUCKET

MAX_ROWS_HELD = 200_000  # rows held by the process's cache, over all entries

Fingerprint = tuple[int, int]  # (SUM(count), SUM(changes)) of a plan bucket's rollup rows


class KeyedRow(Protocol):
    key: int


@dataclass(frozen=True)
class Bucket:
    """What the rollups say about one plan bucket."""

    count: int    # events in it
    changes: int  # writes to its rollup rows, ever
    first: int    # the first and last 15-minute rollup bucket with a row in it (where its events lie)
    last: int

    @property
    def fingerprint(self) -> Fingerprint:
        return self.count, self.changes


class BucketCache:
    """Rows per key with the fingerprint they were computed at; least recently used first out once
    more than max_rows rows are held (an entry counts at least 1); entries over max_rows / 10 rows are
    not kept. Shared by the worker threads of a process, so every access holds a lock."""

    def __init__(self, max_rows: int = MAX_ROWS_HELD) -> None:
        self.max_rows = max_rows
        self._entries: OrderedDict[Hashable, tuple[Fingerprint, tuple[Any, ...]]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, fingerprint: Fingerprint) -> tuple[Any, ...] | None:
        """The rows kept for key if they were computed at this fingerprint, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != fingerprint:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, fingerprint: Fingerprint, rows: Sequence[Any]) -> None:
        kept = tuple(rows)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._held -= _weight(old[1])
            if _weight(kept) > self.max_rows // 10:
                return
            self._entries[key] = (fingerprint, kept)
            self._held += _weight(kept)
            while self._held > self.max_rows:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._held -= _weight(dropped)

    @property
    def rows_held(self) -> int:
        with self._lock:
            return self._held

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._held = 0


def _weight(rows: tuple[Any, ...]) -> int:
    return max(1, len(rows))


CACHE = BucketCache()


def rows(conn: Conn, account_id: str, metric_id: str, plan: Plan, shape: Hashable,
         fingerprints: Callable[[], dict[int, Bucket]], compute: Callable[[Plan], list[KeyedRow]],
         cache: BucketCache | None = None) -> list[Any]:
    """The rows of every plan bucket with events, in key order: from the cache where the bucket's
    fingerprint is unchanged, else from compute(plan narrowed to a run of such buckets).
    fingerprints(): the plan's buckets as the rollups see them now, by plan key."""
    cache = CACHE if cache is None else cache
    scope = (conn.dialect, account_id, metric_id, plan.interval, plan.zone.key, shape)
    before = fingerprints()
    keys = sorted(k for k, b in before.items() if b.count)  # keys grow with time in every interval
    found: dict[int, list[Any]] = {}
    stale: list[int] = []
    for k in keys:
        got = cache.get(_entry(scope, plan, k), before[k].fingerprint)
        if got is None:
            stale.append(k)
        else:
            found[k] = list(got)
    if stale:
        computed: dict[int, list[Any]] = {k: [] for k in stale}
        for run in _runs(keys, computed):
            narrowed = replace(plan, start=before[run[0]].first, end=before[run[-1]].last + BUCKET)
            for row in compute(narrowed):
                if row.key in computed:  # a bucket written meanwhile may show up: not asked for, not kept
                    computed[row.key].append(row)
        after = fingerprints()
        for k, got_rows in computed.items():
            if k in after and after[k].fingerprint == before[k].fingerprint:
                cache.put(_entry(scope, plan, k), before[k].fingerprint, got_rows)
        found.update(computed)
    return [row for k in keys for row in found[k]]


def _entry(scope: tuple[Any, ...], plan: Plan, key: int) -> tuple[Any, ...]:
    """A bucket's cache key: the range's start or end is part of it where the range cuts the bucket
    (the first and last bucket of a plan may be partial)."""
    return (*scope, key, plan.start if key == plan.keys[0] else None, plan.end if key == plan.keys[-1] else None)


def _runs(keys: list[int], stale: dict[int, Any]) -> list[list[int]]:
    """The stale keys in runs with no fresh bucket between them (buckets without events do not break
    a run: they have nothing to compute)."""
    runs: list[list[int]] = []
    current: list[int] = []
    for k in keys:
        if k in stale:
            current.append(k)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs
