"""Metric aggregates in SQL: count, sum of value and distinct profiles per time bucket and dimension.

The database groups the rows; only one row per (bucket, dimension values) comes back, so a year of
events is never loaded. The bucket key is integer arithmetic on an epoch second with the zone's UTC
offset in force at that second (a CASE over the DST transitions in the range), as
analytics/buckets.py describes; the same SQL runs on SQLite and PostgreSQL.

Only the measurements asked for are computed. Count and sum come from the metric's 15-minute
rollups (store/rollups.py) when nothing needs the events themselves (no `by`, no dimension filter)
and the plan's buckets are whole rollup buckets: the key is then computed on each rollup's start, which
lies in the same bucket as every event it counts. Otherwise, and always for `unique` (distinct
profiles do not add up across buckets), the events are grouped; both give the same numbers. What is
grouped from the events goes through store/aggregate_cache.py when the plan is aligned (and rollups
are used): only the plan buckets written since they were last computed are read from the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from footfall.analytics.buckets import Plan, Span
from footfall.store import aggregate_cache, rollups
from footfall.store.conn import Conn
from footfall.refusals import TooManyGroups

VALUE_CURRENCY = "$value_currency"  # the one `$` dimension Footfall stores outside the properties
MEASUREMENTS = ("count", "sum_value", "unique")


@dataclass(frozen=True)
class Row:
    key: int
    dims: tuple[str | None, ...]
    count: int = 0
    sum_value: float = 0.0
    unique: int = 0


def metric_exists(conn: Conn, account_id: str, metric_id: str) -> bool:
    return conn.one("SELECT 1 FROM metrics WHERE account_id = ? AND id = ?", (account_id, metric_id)) is not None


def from_rollups(plan: Plan, by: list[str], dimension_filters: list[tuple[str, list[str]]]) -> bool:
    """Can count and sum of this query be read from the rollups?"""
    return not by and not dimension_filters and plan.aligned(rollups.BUCKET)


def aggregate(conn: Conn, account_id: str, metric_id: str, plan: Plan, by: list[str],
              dimension_filters: list[tuple[str, list[str]]], max_rows: int,
              measurements: tuple[str, ...] | list[str] = MEASUREMENTS, *, use_rollups: bool = True) -> list[Row]:
    """One Row per bucket and distinct dimension values with events, in the order of their keys and
    dimensions (_in_order), whichever way they were computed; TooManyGroups past max_rows.
    Measurements not asked for are 0. use_rollups=False: always from the events (for comparison)."""
    wanted = [m for m in MEASUREMENTS if m in measurements]
    if not (use_rollups and from_rollups(plan, by, dimension_filters)):
        if use_rollups and plan.aligned(rollups.BUCKET):
            return _in_order(_from_events_cached(conn, account_id, metric_id, plan, by, dimension_filters, max_rows,
                                                 wanted))
        return _in_order(_from_events(conn, account_id, metric_id, plan, by, dimension_filters, max_rows, wanted))
    additive = [m for m in wanted if m != "unique"]
    rows = {r.key: r for r in _from_rollups(conn, account_id, metric_id, plan, additive)} if additive else {}
    if "unique" in wanted:
        for r in _from_events_cached(conn, account_id, metric_id, plan, [], [], max_rows, ["unique"]):
            had = rows.get(r.key)
            rows[r.key] = Row(r.key, (), had.count, had.sum_value, r.unique) if had else r
    return _in_order(rows.values())


def _in_order(rows: Iterable[Row]) -> list[Row]:
    """By key, then dimensions (a missing value first). A GROUP BY gives its rows in whatever order
    its plan makes them: PostgreSQL's hash aggregate, chosen once the statistics say there are many
    groups, gives them unsorted."""
    return sorted(rows, key=lambda r: (r.key, tuple((v is not None, v or "") for v in r.dims)))


def _from_rollups(conn: Conn, account_id: str, metric_id: str, plan: Plan, wanted: list[str]) -> list[Row]:
    text = (f"SELECT {_key(plan, 'bucket')}, SUM(count), COALESCE(SUM(sum_value), 0) FROM metric_rollups "
            "WHERE account_id = ? AND metric_id = ? AND bucket >= ? AND bucket < ? GROUP BY 1")
    rows = conn.all(text, (account_id, metric_id, plan.start, plan.end))
    return [Row(int(r[0]), (), int(r[1]) if "count" in wanted else 0, float(r[2]) if "sum_value" in wanted else 0.0)
            for r in rows if int(r[1])]


def _buckets(conn: Conn, account_id: str, metric_id: str, plan: Plan) -> dict[int, aggregate_cache.Bucket]:
    """Each plan bucket's events and writes, from its rollup rows (store/aggregate_cache.py's fingerprints)."""
    text = (f"SELECT {_key(plan, 'bucket')}, SUM(count), SUM(changes), MIN(bucket), MAX(bucket) FROM metric_rollups "
            "WHERE account_id = ? AND metric_id = ? AND bucket >= ? AND bucket < ? GROUP BY 1")
    rows = conn.all(text, (account_id, metric_id, plan.start, plan.end))
    return {int(k): aggregate_cache.Bucket(int(n), int(changes), int(first), int(last))
            for k, n, changes, first, last in rows}


def _from_events_cached(conn: Conn, account_id: str, metric_id: str, plan: Plan, by: list[str],
                        dimension_filters: list[tuple[str, list[str]]], max_rows: int, wanted: list[str]) -> list[Row]:
    """_from_events, computed only for the plan buckets written since the process last computed them
    (the plan must be aligned to the rollups' buckets); TooManyGroups on the total."""
    shape = (tuple(wanted), tuple(by), tuple((name, tuple(values)) for name, values in dimension_filters))
    rows = aggregate_cache.rows(
        conn, account_id, metric_id, plan, shape, lambda: _buckets(conn, account_id, metric_id, plan),
        lambda narrowed: _from_events(conn, account_id, metric_id, narrowed, by, dimension_filters, max_rows, wanted))
    if len(rows) > max_rows:
        raise TooManyGroups(max_rows)
    return rows


_EVENT_MEASURES = {"count": "COUNT(*)", "sum_value": "COALESCE(SUM(value), 0)", "unique": "COUNT(DISTINCT profile_id)"}


def _from_events(conn: Conn, account_id: str, metric_id: str, plan: Plan, by: list[str],
                 dimension_filters: list[tuple[str, list[str]]], max_rows: int, wanted: list[str]) -> list[Row]:
    select_params: list[object] = []
    dim_sql: list[str] = []
    for name in by:
        sql, params = _dimension(conn, name)
        dim_sql.append(sql)
        select_params += params
    where = ["account_id = ?", "metric_id = ?", "time >= ?", "time < ?"]
    where_params: list[object] = [account_id, metric_id, plan.start, plan.end]
    for name, values in dimension_filters:
        sql, params = _dimension(conn, name)
        where.append(f"{sql} IN ({', '.join('?' for _ in values)})")
        where_params += params + list(values)
    columns = [_key(plan, "time")] + dim_sql
    measures = [_EVENT_MEASURES[m] for m in wanted] or ["COUNT(*)"]  # a group exists if it has events
    text = (f"SELECT {', '.join(columns + measures)} FROM events WHERE {' AND '.join(where)} "
            f"GROUP BY {', '.join(str(i + 1) for i in range(len(columns)))} LIMIT {int(max_rows) + 1}")
    rows = conn.all(text, select_params + where_params)
    if len(rows) > max_rows:
        raise TooManyGroups(max_rows)
    n = len(by)
    out = []
    for r in rows:
        got = dict(zip(wanted, r[1 + n:]))
        out.append(Row(int(r[0]), tuple(None if v is None else str(v) for v in r[1:1 + n]),
                       int(got.get("count", 0)), float(got.get("sum_value", 0.0)), int(got.get("unique", 0))))
    return out


def _dimension(conn: Conn, name: str) -> tuple[str, list[object]]:
    """SQL for a dimension's text value: JSON scalars as JSON writes them (true, 3, 1.5), NULL if absent."""
    if name == VALUE_CURRENCY:
        return "value_currency", []
    if conn.dialect == "postgresql":
        return "(properties ->> ?)", [name]
    path = f'$."{name}"'
    return ("(CASE json_type(properties, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            "ELSE CAST(json_extract(properties, ?) AS TEXT) END)", [path, path])


def _offset(spans: list[Span], column: str) -> str:
    """The zone's UTC offset at each row's second (integers computed by us, so inlined)."""
    if len(spans) == 1:
        return str(int(spans[0].offset))
    whens = " ".join(f"WHEN {column} < {int(nxt.start)} THEN {int(cur.offset)}" for cur, nxt in zip(spans, spans[1:]))
    return f"(CASE {whens} ELSE {int(spans[-1].offset)} END)"


def _key(plan: Plan, column: str) -> str:
    """The bucket key of the epoch second in `column` (`time` of an event, `bucket` of a rollup)."""
    off = _offset(plan.spans, column)
    day = f"(({column} + {off}) / 86400)"
    if plan.interval == "hour":
        return f"((({column} + {off}) / 3600) * 3600 - {off})"
    if plan.interval == "day":
        return day
    if plan.interval == "week":
        return f"(({day} + 3) / 7)"
    starts = plan.month_starts
    whens = " ".join(f"WHEN {day} < {int(nxt[0])} THEN {int(cur[1])}" for cur, nxt in zip(starts, starts[1:]))
    return f"(CASE {whens} ELSE {int(starts[-1][1])} END)" if whens else str(int(starts[-1][1]))


def count_between(conn: Conn, account_id: str, start: int, end: int | None = None,
                  metric_id: str | None = None) -> int:
    """Events in [start, end) (end None: no bound), of one metric or all: whole 15-minute buckets from
    the rollups, the seconds before the first and after the last whole bucket from the events."""
    first = -(-int(start) // rollups.BUCKET) * rollups.BUCKET  # the first bucket starting at or after `start`
    last = None if end is None else int(end) // rollups.BUCKET * rollups.BUCKET
    if last is not None and last < first:
        return _count_events(conn, account_id, metric_id, int(start), int(end))
    scope, params = _scope(account_id, metric_id)
    bound = "" if last is None else " AND bucket < ?"
    (n,) = conn.one(f"SELECT COALESCE(SUM(count), 0) FROM metric_rollups WHERE {scope} AND bucket >= ?{bound}",
                    [*params, first, *([] if last is None else [last])])
    edges = _count_events(conn, account_id, metric_id, int(start), first)
    if last is not None:
        edges += _count_events(conn, account_id, metric_id, last, int(end))
    return int(n) + edges


def _count_events(conn: Conn, account_id: str, metric_id: str | None, start: int, end: int) -> int:
    if end <= start:
        return 0
    scope, params = _scope(account_id, metric_id)
    (n,) = conn.one(f"SELECT COUNT(*) FROM events WHERE {scope} AND time >= ? AND time < ?", [*params, start, end])
    return int(n)


def _scope(account_id: str, metric_id: str | None) -> tuple[str, list[object]]:
    """The WHERE clause (and its parameters) of one account's rows, of one metric or all."""
    if metric_id is None:
        return "account_id = ?", [account_id]
    return "account_id = ? AND metric_id = ?", [account_id, metric_id]


def metric_totals(conn: Conn, account_id: str) -> dict[str, int]:
    """Every metric's event count (from the rollups)."""
    rows = conn.all("SELECT metric_id, SUM(count) FROM metric_rollups WHERE account_id = ? GROUP BY metric_id",
                    (account_id,))
    return {metric_id: int(n) for metric_id, n in rows}
