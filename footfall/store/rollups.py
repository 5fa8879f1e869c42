"""Metric rollups: per account, metric and 15-minute UTC bucket, the count and the sum of value of its events.

Every path that inserts events reports each stored (not deduplicated) event to the transaction's
Tally (tally.Tally.stored_event); at the commit the tally adds them up and writes one upsert per
(account, metric, bucket) of the group (`add`). A path that deletes or moves events (a privacy deletion,
a merge moving the anonymous side's events and dropping its duplicates) names the buckets it touches
(`buckets_of_profile`)
and the tally recounts those buckets from the events at the commit (`recount`): after every other
statement of the transaction, so whatever else the group inserted in them is counted once, and
exactly (a float subtraction would leave residues). Bulk loads that bypass the writer call `rebuild`.

Why 15 minutes: every UTC offset in use (and every DST transition instant) is a multiple of 15
minutes, so a zone's hour, day, week or month is a whole number of these buckets
(analytics/buckets.Plan.aligned says when a query is).

Counters: each row's `count` and `sum_value` are what its events add up to; its `changes` is raised
by every statement that writes the row (an add, a recount, a rebuild) and never lowered, and rows are
never deleted (a bucket recounted to no events keeps a zero row). So for any set of buckets,
(SUM(count), SUM(changes)) is unchanged exactly when no write touched them, which is how
store/aggregate_cache.py knows a bucket's cached distinct-profile count or breakdown is still true.
A merge moves events between profiles without changing any count: its buckets are recounted too
(profile_upserts.merge_into), only to raise their counters.
"""

from __future__ import annotations

from typing import Iterable

from footfall.store.conn import Conn

BUCKET = 900

RollupKey = tuple[str, str, int]  # (account, metric, bucket start)

_ADD = ("INSERT INTO metric_rollups (account_id, metric_id, bucket, count, sum_value, changes) "
        "VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (account_id, metric_id, bucket) DO UPDATE SET count = metric_rollups.count + excluded.count, "
        "sum_value = metric_rollups.sum_value + excluded.sum_value, changes = metric_rollups.changes + 1")
# A recount or rebuild: the rows of `where` set to zero (counters raised), then the events matching it
# counted into their buckets (rows kept, never deleted, so no counter goes backwards).
_ZERO = "UPDATE metric_rollups SET count = 0, sum_value = 0, changes = changes + 1 WHERE {where}"
_COUNT_INTO = ("INSERT INTO metric_rollups (account_id, metric_id, bucket, count, sum_value, changes) "
               "SELECT account_id, metric_id, time / 900 * 900, COUNT(*), COALESCE(SUM(value), 0), 1 FROM events "
               "WHERE {where} GROUP BY account_id, metric_id, time / 900 * 900 "
               "ON CONFLICT (account_id, metric_id, bucket) DO UPDATE SET count = excluded.count, "
               "sum_value = excluded.sum_value, changes = metric_rollups.changes + 1")
_ZERO_BUCKET = _ZERO.format(where="account_id = ? AND metric_id = ? AND bucket = ?")
_RECOUNT = _COUNT_INTO.format(where="account_id = ? AND metric_id = ? AND time >= ? AND time < ?")
_ZERO_ACCOUNT = _ZERO.format(where="account_id = ?")
_REBUILD = _COUNT_INTO.format(where="account_id = ?")


def bucket_of(t: int) -> int:
    return int(t) // BUCKET * BUCKET


def add(conn: Conn, increments: dict[RollupKey, list]) -> None:
    """One upsert per bucket, in key order (two writers on PostgreSQL lock rows in the same order)."""
    if increments:
        conn.executemany(_ADD, [(*key, int(n), float(s)) for key, (n, s) in sorted(increments.items())])


def recount(conn: Conn, keys: Iterable[RollupKey]) -> None:
    """Set these buckets' rows to what the events in them add up to now (a zero row if none are left),
    raising their counters."""
    for account_id, metric_id, bucket in sorted(set(keys)):
        conn.run(_ZERO_BUCKET, (account_id, metric_id, bucket))
        conn.run(_RECOUNT, (account_id, metric_id, bucket, bucket + BUCKET))


def buckets_of_profile(conn: Conn, account_id: str, profile_id: str) -> list[RollupKey]:
    """The buckets holding a profile's events (ix_events_profile_time), before they are deleted or moved."""
    rows = conn.all("SELECT DISTINCT metric_id, time / 900 * 900 FROM events WHERE account_id = ? AND profile_id = ?",
                    (account_id, profile_id))
    return [(account_id, metric_id, int(bucket)) for metric_id, bucket in rows]


def rebuild(conn: Conn, account_id: str) -> None:
    """Recount every bucket of an account from its events (events loaded around the writer)."""
    conn.run(_ZERO_ACCOUNT, (account_id,))
    conn.run(_REBUILD, (account_id,))
