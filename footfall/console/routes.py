"""The console's route table: `/` is the overview; every other page and endpoint is under /console/."""

from __future__ import annotations

import functools
from typing import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from footfall.console import auth, keys, lists, metrics, overview, profiles, segments, web
from footfall.console.static import ConsoleStatic
from footfall.api.app_state import services
from footfall.refusals import StoreUnavailable, answer, retry_after

Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(endpoint: Endpoint) -> Endpoint:
    """Refusals become small pages (JSON for script requests); no session means the sign-in form."""

    @functools.wraps(endpoint)
    async def run(request: Request) -> Response:
        accept = request.headers.get("accept", "")
        wants_json = "application/json" in accept or "text/event-stream" in accept  # a script, not a page
        try:
            return await endpoint(request)
        except web.NotSignedIn:
            if wants_json:
                return web.json_reply({"error": "Sign in first."}, 401)
            return web.to_signin()
        except web.Refused as exc:
            if wants_json:
                return web.json_reply({"error": exc.message}, exc.status)
            viewer = await web.viewer_of(request)
            return web.page(request, "error.html", viewer, status=exc.status, message=exc.message)
        except StoreUnavailable as exc:  # its status, words and Retry-After: footfall/refusals.py's table
            row = answer(exc)
            if wants_json:
                return web.json_reply({"error": row.detail}, row.status)
            response = web.page(request, "error.html", None, status=row.status, message=row.detail)
            response.headers["Retry-After"] = retry_after(exc, services(request).settings.retry_after_seconds) or ""
            return response

    return run


def _route(path: str, endpoint: Endpoint, methods: list[str]) -> Route:
    return Route(path, guarded(endpoint), methods=methods, name=f"console:{endpoint.__name__}")


routes = [
    _route("/", overview.overview, ["GET"]),
    _route("/console", overview.overview, ["GET"]),
    _route("/console/signin", auth.signin_form, ["GET"]),
    _route("/console/signin", auth.signin, ["POST"]),
    _route("/console/signout", auth.signout, ["POST"]),
    _route("/console/feed", overview.feed, ["GET"]),
    _route("/console/stream", overview.live, ["GET"]),
    _route("/console/metrics", metrics.metric_list, ["GET"]),
    _route("/console/metrics/{id}", metrics.metric_page, ["GET"]),
    _route("/console/profiles", profiles.search, ["GET"]),
    _route("/console/profiles/{id}", profiles.profile_page, ["GET"]),
    _route("/console/segments", segments.segment_list, ["GET"]),
    _route("/console/segments", segments.create, ["POST"]),
    _route("/console/segments/new", segments.builder_new, ["GET"]),
    _route("/console/segments/count", segments.live_count, ["POST"]),
    _route("/console/segments/{id}", segments.segment_page, ["GET"]),
    _route("/console/segments/{id}", segments.update, ["POST"]),
    _route("/console/segments/{id}/edit", segments.builder_edit, ["GET"]),
    _route("/console/lists", lists.list_index, ["GET"]),
    _route("/console/lists", lists.create, ["POST"]),
    _route("/console/lists/{id}", lists.list_page, ["GET"]),
    _route("/console/lists/{id}/members", lists.change_members, ["POST"]),
    _route("/console/keys", keys.key_list, ["GET"]),
    _route("/console/keys", keys.create, ["POST"]),
    _route("/console/keys/{id}/revoke", keys.revoke, ["POST"]),
    Mount("/console/static", app=ConsoleStatic(), name="console-static"),
]
