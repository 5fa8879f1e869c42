"""Metric series for the console's charts, computed by the same code as POST /api/metric-aggregates.

The console writes the very request document the API takes, decodes it with the API's decoder and
computes it with the API's function, so a chart equals the API's answer by construction; the page
embeds the document and the plotted series as JSON so that anyone (a test) can compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from footfall.api.metric_aggregates import compute
from footfall.store.conn import Conn
from footfall.wire import aggregate_query

INTERVAL_DAYS = {"hour": 2, "day": 30, "week": 84, "month": 365}
MEASURES = {"count": "Count", "unique": "Unique profiles", "sum_value": "Sum of value"}
TOP_N = 10


@dataclass
class Series:
    document: dict[str, Any]
    dates: list[str]
    x: list[float]
    values: dict[str, list[float]]


def document(metric_id: str, interval: str, zone: str, now: float, days: int | None = None,
             by: list[str] | None = None, measurements: list[str] | None = None) -> dict[str, Any]:
    """A metric-aggregates request: `days` local days up to the end of today, in `zone`. Only the
    measurements shown are asked for, count unless told (distinct profiles cost a scan of the events)."""
    tz = ZoneInfo(zone)
    today = datetime.fromtimestamp(now, tz).date()
    end = today + timedelta(days=1)
    start = end - timedelta(days=days or INTERVAL_DAYS[interval])
    attributes: dict[str, Any] = {
        "metric_id": metric_id, "measurements": measurements or ["count"], "interval": interval, "timezone": zone,
        "filter": [f"greater-or-equal(datetime,{start.isoformat()}T00:00:00)",
                   f"less-than(datetime,{end.isoformat()}T00:00:00)"],
    }
    if by:
        attributes["by"] = by
        attributes["page_size"] = aggregate_query.MAX_PAGE_SIZE
    return {"data": {"type": "metric-aggregate", "attributes": attributes}}


def series(conn: Conn, account_id: str, doc: dict[str, Any]) -> Series | None:
    query = aggregate_query.decode(doc)
    answer = compute(conn, account_id, query)
    if answer is None:
        return None
    dates, groups = answer
    x = [datetime.fromisoformat(d).timestamp() for d in dates]
    values = groups[0]["measurements"] if groups else {m: [0] * len(dates) for m in MEASURES}
    return Series(doc, dates, x, values)


def breakdown(conn: Conn, account_id: str, doc: dict[str, Any], measure: str) -> list[dict[str, Any]]:
    """Totals over the range per value of one property: the top N, then one "other" row for the rest."""
    query = aggregate_query.decode(doc)
    answer = compute(conn, account_id, query)
    if answer is None:
        return []
    _, groups = answer
    totals = sorted(((g["dimensions"][0], sum(g["measurements"][measure])) for g in groups),
                    key=lambda item: (-item[1], item[0]))
    top = [{"value": v if v != "" else "(not set)", "total": t, "other": False} for v, t in totals[:TOP_N]]
    rest = totals[TOP_N:]
    if rest:
        top.append({"value": f"other ({len(rest)} values)", "total": sum(t for _, t in rest), "other": True})
    return top


def chart_json(s: Series, measure: str) -> dict[str, Any]:
    return {"x": s.x, "dates": s.dates, "series": [{"label": MEASURES[measure], "values": s.values[measure]}],
            "query": s.document}
