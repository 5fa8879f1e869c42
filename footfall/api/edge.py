"""The edge: what every request is refused for before any route runs, in one place.

A NUL character (`%00`) in a path id or a query parameter can match no row, and PostgreSQL cannot
even receive it in a text parameter (the driver raises, which used to be a 500). So it is refused
here, for every route and both backends, with a 400 naming the parameter, before any handler or
SQL sees it. The legacy track / identify routes keep their own protocol (`0`, the reason in verbose
mode) for what is inside their query.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import parse_qsl

from starlette.routing import Match

from footfall.wire.jsonapi import MEDIA_TYPE, errors_body
from footfall.refusals import InvalidInput, as_api_error

Scope = dict[str, Any]
_LEGACY = frozenset({"/api/track", "/api/track/", "/api/identify", "/api/identify/"})


class Edge:
    """ASGI middleware: refuse NUL in the path or the query with a 400 naming the parameter."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            parameter = nul_parameter(scope)
            if parameter is not None:
                await _refuse(scope, send, parameter)
                return
        await self.app(scope, receive, send)


def nul_parameter(scope: Scope) -> str | None:
    """The name of the path or query parameter holding a NUL, or None (the cheap test first)."""
    path: str = scope.get("path", "")
    if "\x00" in path:
        return _path_parameter(scope)
    query: bytes = scope.get("query_string", b"")
    if b"%00" not in query or path in _LEGACY:
        return None
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in key:
            return "query"
        if "\x00" in value:
            return key
    return None


def _path_parameter(scope: Scope) -> str:
    """`id`, `job_id`, …: the template name of the path segment that holds the NUL."""
    app = scope.get("app")
    found: dict[Match, str] = {}
    for route in getattr(getattr(app, "router", None), "routes", []):
        match, child = route.matches(scope)
        for name, value in child.get("path_params", {}).items() if match is not Match.NONE else ():
            if isinstance(value, str) and "\x00" in value:
                found.setdefault(match, name)
    return found.get(Match.FULL) or found.get(Match.PARTIAL) or "path"  # the route of this method first


async def _refuse(scope: Scope, send: Callable, parameter: str) -> None:
    where = "path" if "\x00" in scope.get("path", "") else "query"
    detail = f"The {where} parameter `{parameter}` contains a NUL character (%00), which no value may hold."
    err = as_api_error(InvalidInput(detail), 0, parameter=parameter)  # footfall/refusals.py's table
    if scope.get("path", "").startswith(("/api/", "/client/")):
        body, ctype = errors_body([err]), MEDIA_TYPE.encode()
    else:
        body, ctype = detail.encode(), b"text/plain; charset=utf-8"
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

