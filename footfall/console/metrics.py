"""Metrics: the list (count, last seen) and a metric's page (chart, breakdown, latest events)."""

from __future__ import annotations

import functools
from typing import Any
from zoneinfo import available_timezones

from starlette.requests import Request
from starlette.responses import Response

from footfall import clock
from footfall.api.app_state import services
from footfall.console import charts, web
from footfall.console.overview import feed_item
from footfall.store import accounts, aggregates, console_reads
from footfall.store.conn import Conn
from footfall.refusals import ApiError
from footfall.domain.limits import PROPERTY_NAME_CHARS



@functools.lru_cache(maxsize=1)
def zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z or z == "UTC")


async def metric_list(request: Request) -> Response:
    viewer = await web.require_viewer(request, "metrics")
    rows = await services(request).read(lambda conn: console_reads.metric_summaries(conn, viewer.account_id))
    return web.page(request, "metrics.html", viewer, metrics=rows)


def _choice(request: Request, name: str, allowed: Any, default: str) -> str:
    value = request.query_params.get(name) or default
    if value not in allowed:
        raise web.Refused(400, f"`{name}` must be one of {', '.join(sorted(allowed))}, not {value[:40]!r}.")
    return value


async def metric_page(request: Request) -> Response:
    viewer = await web.require_viewer(request, "metrics")
    metric_id = request.path_params["id"]
    interval = _choice(request, "interval", charts.INTERVAL_DAYS, "day")
    picked = _choice(request, "tz", set(zones()), "") if request.query_params.get("tz") else None
    measure = _choice(request, "measure", charts.MEASURES, "count")
    by = request.query_params.get("by", "").strip()
    if len(by) > PROPERTY_NAME_CHARS or '"' in by or "\x00" in by:
        raise web.Refused(400, f"`by` must be an event property name (at most {PROPERTY_NAME_CHARS} characters, "
                               "no double quote).")
    now = clock.now()

    def read(conn: Conn) -> dict[str, Any] | None:
        metric = console_reads.metric_row(conn, viewer.account_id, metric_id)
        if metric is None:
            return None
        zone = picked or accounts.timezone_of(conn, viewer.account_id)  # the picker starts at the account's
        s = charts.series(conn, viewer.account_id, charts.document(metric_id, interval, zone, now,
                                                                    measurements=[measure]))
        assert s is not None
        split = charts.breakdown(conn, viewer.account_id, charts.document(metric_id, interval, zone, now, by=[by],
                                                                           measurements=[measure]),
                                 measure) if by else []
        return {"metric": metric, "zone": zone, "chart": charts.chart_json(s, measure), "breakdown": split,
                "properties": console_reads.event_property_names(conn, viewer.account_id, metric_id),
                "events": [feed_item(e) for e in console_reads.latest_events(conn, viewer.account_id,
                                                                              metric_id=metric_id)]}

    try:
        data = await services(request).read(read)
    except aggregates.TooManyGroups:
        raise web.Refused(400, "That breakdown has too many values to group; pick another property or a longer interval.")
    except ApiError as exc:
        raise web.Refused(exc.status, exc.detail) from None
    if data is None:
        raise web.Refused(404, "There is no such metric in this account.")
    breakdown_max = max((row["total"] for row in data["breakdown"]), default=0)
    return web.page(request, "metric.html", viewer, interval=interval, measure=measure, by=by,
                    intervals=list(charts.INTERVAL_DAYS), measures=charts.MEASURES, zones=zones(),
                    breakdown_max=breakdown_max or 1, **data)
