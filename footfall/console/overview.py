"""The overview (/): totals, the live ingest rate and feed, the top metrics with a sparkline each."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from footfall import clock
from footfall.api import stream
from footfall.api.app_state import services
from footfall.console import charts, web
from footfall.store import accounts, console_reads
from footfall.store.conn import Conn
from footfall.timefmt import iso

TOP_METRICS = 5
SPARK_DAYS = 30


def _midnight(now: float, zone: str) -> float:
    """The start of today in the account's time zone."""
    tz = ZoneInfo(zone)
    day = datetime.fromtimestamp(now, tz).date()
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def _overview(conn: Conn, account_id: str, now: float) -> dict[str, Any]:
    today = _midnight(now, accounts.timezone_of(conn, account_id))
    since = {"today": today, "7 days": now - 7 * 86400, "30 days": now - 30 * 86400}
    totals = [{"label": label,
               "events": console_reads.event_count_since(conn, account_id, t),
               "profiles": console_reads.profile_count_since(conn, account_id, t)} for label, t in since.items()]
    metrics = sorted(console_reads.metric_summaries(conn, account_id), key=lambda m: (-m["count"], m["name"]))
    top = []
    for m in metrics[:TOP_METRICS]:
        s = charts.series(conn, account_id, charts.document(m["id"], "day", "UTC", now, SPARK_DAYS))
        if s is not None:
            top.append({**m, "chart": charts.chart_json(s, "count")})
    return {"totals": totals, "top": top, "feed": [feed_item(e) for e in console_reads.latest_events(conn, account_id)],
            "stored": console_reads.stored_events_total(conn, account_id)}


def feed_item(e: dict[str, Any]) -> dict[str, Any]:
    return {"id": e["id"], "time": iso(e["time"]), "metric": e["metric"], "metric_id": e["metric_id"],
            "email": e["email"] or "", "profile_id": e["profile_id"], "value": e["value"]}


async def overview(request: Request) -> Response:
    viewer = await web.viewer_of(request)
    if viewer is None:
        return web.to_signin()
    if not viewer.can("events", "read"):
        raise web.Refused(403, "This console was opened with a key that lacks the events:read scope.")
    data = await services(request).read(lambda conn: _overview(conn, viewer.account_id, clock.now()))
    return web.page(request, "overview.html", viewer, **data)


async def live(request: Request) -> Response:
    """The live feed's wake-up call: the account's event messages as they commit, from the same
    stream as /api/stream (webhooks/hub.py wakes it at once). The page then reads /console/feed."""
    viewer = await web.require_viewer(request, "events")
    return await stream.outbox_stream(request, viewer.account_id, lambda row: row["topic"].startswith("event:"),
                                      None, named=False)


async def feed(request: Request) -> Response:
    """The live feed's poll: events that arrived after ?after=<event id>, newest first, and the stored total."""
    viewer = await web.require_viewer(request, "events")
    after = request.query_params.get("after") or None
    if after is not None and not (len(after) <= 26 and after.isalnum()):
        raise web.Refused(400, "`after` must be an event id.")

    def read(conn: Conn) -> dict[str, Any]:
        events = console_reads.latest_events(conn, viewer.account_id, after_id=after)
        return {"events": [feed_item(e) for e in events], "stored": console_reads.stored_events_total(conn, viewer.account_id),
                "at": clock.now()}

    return web.json_reply(await services(request).read(read))
