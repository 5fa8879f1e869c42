"""Metric rollups: per account, metric and 15-minute UTC bucket, the count and the sum of value of its events.

Every path that inserts events reports each stored (not deduplicated) event to the transaction's
Tally (tally.Tally.stored_event); at the commit the tally adds them up and writes one upsert per
(account, metric, bucket) of the group (`add`). A path that deletes events (a privacy deletion, a
merge dropping the anonymous side's duplicates) names the buckets it touches (`buckets_of_profile`)
and the tally recounts those buckets from the events at the commit (`recount`): after every other
statement of the transaction, so whatever else the group inserted in them is counted once, and
exactly (a float subtraction would leave residues). Bulk loads that bypass the writer call `rebuild`.

Why 15 minutes: every UTC offset in use (and every DST transition instant) is a multiple of 15
minutes, so a zone's hour, day, week or month is a whole number of these buckets
(analytics/buckets.Plan.aligned says when a query is).
"""

from __future__ import annotations

from typing import Iterable

from footfall.store.conn import Conn

BUCKET = 900

RollupKey = tuple[str, str, int]  # (account, metric, bucket start)

_ADD = ("INSERT INTO metric_rollups (account_id, metric_id, bucket, count, sum_value) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (account_id, metric_id, bucket) DO UPDATE SET count = metric_rollups.count + excluded.count, "
        "sum_value = metric_rollups.sum_value + excluded.sum_value")
_DROP = "DELETE FROM metric_rollups WHERE account_id = ? AND metric_id = ? AND bucket = ?"
# The rows of the events matching `where`, counted into buckets: a recount of some, a rebuild of all.
_COUNT_INTO = ("INSERT INTO metric_rollups (account_id, metric_id, bucket, count, sum_value) "
               "SELECT account_id, metric_id, time / 900 * 900, COUNT(*), COALESCE(SUM(value), 0) FROM events "
               "WHERE {where} GROUP BY account_id, metric_id, time / 900 * 900")
_RECOUNT = _COUNT_INTO.format(where="account_id = ? AND metric_id = ? AND time >= ? AND time < ?")
_REBUILD = _COUNT_INTO.format(where="account_id = ?")


def bucket_of(t: int) -> int:
    return int(t) // BUCKET * BUCKET


def add(conn: Conn, increments: dict[RollupKey, list]) -> None:
    """One upsert per bucket, in key order (two writers on PostgreSQL lock rows in the same order)."""
    if increments:
        conn.executemany(_ADD, [(*key, int(n), float(s)) for key, (n, s) in sorted(increments.items())])


def recount(conn: Conn, keys: Iterable[RollupKey]) -> None:
    """Replace these buckets' rows by what the events in them add up to now (no row if none are left)."""
    for account_id, metric_id, bucket in sorted(set(keys)):
        conn.run(_DROP, (account_id, metric_id, bucket))
        conn.run(_RECOUNT, (account_id, metric_id, bucket, bucket + BUCKET))


def buckets_of_profile(conn: Conn, account_id: str, profile_id: str) -> list[RollupKey]:
    """The buckets holding a profile's events (ix_events_profile_time), before they are deleted."""
    rows = conn.all("SELECT DISTINCT metric_id, time / 900 * 900 FROM events WHERE account_id = ? AND profile_id = ?",
                    (account_id, profile_id))
    return [(account_id, metric_id, int(bucket)) for metric_id, bucket in rows]


def rebuild(conn: Conn, account_id: str) -> None:
    """Recount every bucket of an account from its events (events loaded around the writer)."""
    conn.run("DELETE FROM metric_rollups WHERE account_id = ?", (account_id,))
    conn.run(_REBUILD, (account_id,))
