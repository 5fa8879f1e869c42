"""Profiles: search (email, phone, external id, id, or Name=value on a custom property) and a profile's page."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from footfall import clock
from footfall.api.app_state import services
from footfall.console import web
from footfall.refusals import ApiError, InvalidInput
from footfall.domain.normalize import phone as normal_phone
from footfall.domain import segment_definitions
from footfall.segments.compiler import Compiler
from footfall.store import console_reads, sqlalchemy_statements
from footfall.store.conn import Conn
from footfall.store.queries import events as event_queries
from footfall.store.queries import metrics as metric_queries
from footfall.store.queries import profiles as profile_queries
from footfall.store.queries.paging import Window
from footfall.wire.filters import Checked
from footfall.wire.jsonapi import decode_cursor, encode_cursor
from footfall.domain.limits import CONSOLE_SEARCH_CHARS, RESOURCE_ID_CHARS

RESULTS = 50
TIMELINE_PAGE = 20


def _search(conn: Conn, account_id: str, q: str) -> list[dict[str, Any]]:
    """Identifier matches through the API's profile filters; Name=value through the segment compiler."""
    if "=" in q and "@" not in q.split("=", 1)[0]:
        name, _, value = q.partition("=")
        name, value = name.strip(), value.strip()
        prop = f"properties['{name}']"
        numeric: list[dict[str, Any]] = []
        try:
            numeric = [{"type": "profile-property", "property": prop,
                        "filter": {"type": "numeric", "operator": "equals", "value": float(value)}}]
        except ValueError:
            pass
        raw = {"condition_groups": [{"conditions": [
            {"type": "profile-property", "property": prop,
             "filter": {"type": "string", "operator": "equals", "value": value}}, *numeric]}]}
        definition = segment_definitions.parse(raw)
        stmt = Compiler(conn.dialect, account_id, clock.now()).profiles(definition).limit(RESULTS)
        found = [r[0] for r in sqlalchemy_statements.execute(conn, stmt).fetchall()]
        return sorted(profile_queries.by_ids(conn, account_id, found), key=lambda r: (r["email"] or "", r["id"]))
    tries = [("email", q.lower()), ("external_id", q), ("id", q)]
    try:
        tries.append(("phone_number", normal_phone(q, "q")))
    except InvalidInput:
        pass
    rows: dict[str, dict[str, Any]] = {}
    for fld, value in tries:
        result = profile_queries.page(conn, account_id, [Checked(fld, "equals", value)], "email", Window(RESULTS))
        for row in result.rows:
            rows.setdefault(row["id"], row)
    return list(rows.values())


async def search(request: Request) -> Response:
    viewer = await web.require_viewer(request, "profiles")
    q = request.query_params.get("q", "").strip()
    if len(q) > CONSOLE_SEARCH_CHARS or "\x00" in q:
        raise web.Refused(400, f"The search is longer than {CONSOLE_SEARCH_CHARS} characters or contains a NUL character.")
    error = None
    results: list[dict[str, Any]] = []
    if q:
        try:
            results = await services(request).read(lambda conn: _search(conn, viewer.account_id, q))
        except InvalidInput as exc:
            error = f"{exc.detail} (in the property name)"
    return web.page(request, "profiles.html", viewer, q=q, results=results, error=error)


def _profile(conn: Conn, account_id: str, profile_id: str, metric_id: str | None,
             position: list[Any] | None) -> dict[str, Any] | None:
    profile = profile_queries.one(conn, account_id, profile_id)
    if profile is None:
        return None
    pid = profile["id"]
    filters = [Checked("profile_id", "equals", pid)]
    if metric_id:
        filters.append(Checked("metric_id", "equals", metric_id))
    timeline = event_queries.page(conn, account_id, filters, "-datetime", Window(TIMELINE_PAGE, position))
    metrics = metric_queries.page(conn, account_id, [], Window(200)).rows
    names = {m["id"]: m["name"] for m in metrics}
    return {"profile": profile, "identifiers": console_reads.identifiers(conn, account_id, pid),
            "memberships": console_reads.memberships(conn, account_id, pid),
            "merges": console_reads.merges_into(conn, account_id, pid),
            "timeline": timeline.rows, "next": timeline.next, "prev": timeline.prev,
            "metric_names": names, "metrics": sorted(metrics, key=lambda m: m["name"])}


async def profile_page(request: Request) -> Response:
    viewer = await web.require_viewer(request, "profiles")
    pid = request.path_params["id"]
    metric_id = request.query_params.get("metric") or None
    raw_cursor = request.query_params.get("cursor")
    if len(pid) > RESOURCE_ID_CHARS or (metric_id and len(metric_id) > 16):
        raise web.Refused(404, "There is no such profile in this account.")
    try:
        position = decode_cursor(raw_cursor) if raw_cursor else None
        data = await services(request).read(lambda conn: _profile(conn, viewer.account_id, pid, metric_id, position))
    except (ApiError, InvalidInput):
        raise web.Refused(400, "That timeline page link is not one this console made.") from None
    if data is None:
        raise web.Refused(404, "There is no such profile in this account.")
    if data["profile"]["id"] != pid:  # merged away: show the profile it became
        return web.redirect(f"/console/profiles/{data['profile']['id']}")
    base = f"/console/profiles/{pid}?" + (f"metric={metric_id}&" if metric_id else "")
    links = {"next": base + "cursor=" + encode_cursor(*data["next"]) if data["next"] else None,
             "prev": base + "cursor=" + encode_cursor(*data["prev"]) if data["prev"] else None}
    return web.page(request, "profile.html", viewer, metric_id=metric_id, links=links, **data)
