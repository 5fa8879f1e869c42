"""Metric aggregates in SQL: count, sum of value and distinct profiles per time bucket and dimension.

The database groups the events; only one row per (bucket, dimension values) comes back, so a year
of events is never loaded. The bucket key is integer arithmetic on the event's epoch second with the
zone's UTC offset in force at that second (a CASE over the DST transitions in the range), as
analytics/buckets.py describes; the same SQL runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from footfall.analytics.buckets import Plan, Span
from footfall.store.db import Conn

VALUE_CURRENCY = "$value_currency"  # the one `$` dimension Footfall stores outside the properties


class TooManyGroups(Exception):
    """The answer would have more (bucket, dimension) rows than the configured maximum."""


@dataclass(frozen=True)
class Row:
    key: int
    dims: tuple[str | None, ...]
    count: int
    sum_value: float
    unique: int


def metric_exists(conn: Conn, account_id: str, metric_id: str) -> bool:
    return conn.one("SELECT 1 FROM metrics WHERE account_id = ? AND id = ?", (account_id, metric_id)) is not None


def aggregate(conn: Conn, account_id: str, metric_id: str, plan: Plan, by: list[str],
              dimension_filters: list[tuple[str, list[str]]], max_rows: int) -> list[Row]:
    """One Row per bucket and distinct dimension values with events; TooManyGroups past max_rows."""
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
    columns = [_key(plan)] + dim_sql
    text = (f"SELECT {', '.join(columns)}, COUNT(*), COALESCE(SUM(value), 0), COUNT(DISTINCT profile_id) "
            f"FROM events WHERE {' AND '.join(where)} "
            f"GROUP BY {', '.join(str(i + 1) for i in range(len(columns)))} LIMIT {int(max_rows) + 1}")
    rows = conn.all(text, select_params + where_params)
    if len(rows) > max_rows:
        raise TooManyGroups(max_rows)
    n = len(by)
    return [Row(int(r[0]), tuple(None if v is None else str(v) for v in r[1:1 + n]),
                int(r[1 + n]), float(r[2 + n]), int(r[3 + n])) for r in rows]


def _dimension(conn: Conn, name: str) -> tuple[str, list[object]]:
    """SQL for a dimension's text value: JSON scalars as JSON writes them (true, 3, 1.5), NULL if absent."""
    if name == VALUE_CURRENCY:
        return "value_currency", []
    if conn.dialect == "postgresql":
        return "(properties ->> ?)", [name]
    path = f'$."{name}"'
    return ("(CASE json_type(properties, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            "ELSE CAST(json_extract(properties, ?) AS TEXT) END)", [path, path])


def _offset(spans: list[Span]) -> str:
    """The zone's UTC offset at each event's second (integers computed by us, so inlined)."""
    if len(spans) == 1:
        return str(int(spans[0].offset))
    whens = " ".join(f"WHEN time < {int(nxt.start)} THEN {int(cur.offset)}" for cur, nxt in zip(spans, spans[1:]))
    return f"(CASE {whens} ELSE {int(spans[-1].offset)} END)"


def _key(plan: Plan) -> str:
    off = _offset(plan.spans)
    day = f"((time + {off}) / 86400)"
    if plan.interval == "hour":
        return f"(((time + {off}) / 3600) * 3600 - {off})"
    if plan.interval == "day":
        return day
    if plan.interval == "week":
        return f"(({day} + 3) / 7)"
    starts = plan.month_starts
    whens = " ".join(f"WHEN {day} < {int(nxt[0])} THEN {int(cur[1])}" for cur, nxt in zip(starts, starts[1:]))
    return f"(CASE {whens} ELSE {int(starts[-1][1])} END)" if whens else str(int(starts[-1][1]))
