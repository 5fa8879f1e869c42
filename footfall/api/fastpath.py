"""A raw-ASGI front for the hottest ingest routes, ahead of Starlette's router.

Starlette matches a path by trying every route's regex, wraps each request in Request and Response
objects and the per-route CORS middleware; for a route that does ~nothing but queue one event that
was most of the CPU per request. Routes registered here are answered straight from the ASGI scope.
Everything else (other methods such as OPTIONS preflights and HEAD, other paths) goes on to
Starlette unchanged. This runs inside Starlette's ServerErrorMiddleware, so an unexpected exception
still becomes the usual 500.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from footfall.api.body import TooLarge

Scope = dict[str, Any]
Headers = list[tuple[bytes, bytes]]


class Disconnected(Exception):
    """The client went away before its body arrived; there is nobody to answer."""


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: bytes
    headers: Headers


class RawRequest:
    """The parts of an HTTP request the fast handlers read, taken lazily from the ASGI scope."""

    __slots__ = ("scope", "_receive", "method", "query_string", "_headers", "_query")

    def __init__(self, scope: Scope, receive: Callable[[], Awaitable[dict]]) -> None:
        self.scope = scope
        self._receive = receive
        self.method: str = scope["method"]
        self.query_string: bytes = scope.get("query_string", b"")
        self._headers: dict[bytes, bytes] | None = None
        self._query: dict[str, str] | None = None

    @property
    def services(self) -> Any:
        return self.scope["app"].state.services

    @property
    def query(self) -> dict[str, str]:
        """Query parameters as Starlette reads them (latin-1, blanks kept, the last of a repeated key)."""
        if self._query is None:
            self._query = dict(parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True))
        return self._query

    def header(self, name: bytes) -> str | None:
        if self._headers is None:
            self._headers = dict(self.scope["headers"])
        value = self._headers.get(name)
        return None if value is None else value.decode("latin-1")

    async def body(self, limit: int) -> bytes:
        """The whole body, refusing (TooLarge) as soon as it is declared or seen to exceed `limit`."""
        declared = self.header(b"content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise TooLarge(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise Disconnected
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(limit)
                chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


Handler = Callable[[RawRequest], Awaitable[Reply]]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class FastRoute:
    """`methods` on `path` (and on path + '/'), answered by `handler` (RawRequest -> Reply) or by a
    Starlette `endpoint` (Request -> Response, its exceptions rendered by the app's exception
    handlers as Starlette would). cors adds the open-CORS headers of a simple response."""

    path: str
    handler: Handler | None = None
    endpoint: Endpoint | None = None
    methods: tuple[str, ...] = ("GET", "POST")
    cors: bool = True


class FastPath:
    """ASGI middleware: serve FastRoutes directly, pass everything else to `app`."""

    def __init__(self, app: Callable, routes: list[FastRoute]) -> None:
        self.app = app
        self._routes: dict[tuple[str, str], FastRoute] = {}
        for route in routes:
            for path in (route.path, route.path + "/"):
                for method in route.methods:
                    self._routes[(method, path)] = route

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        route = self._routes.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
        elif route.handler is not None:
            await self._reply(route, scope, receive, send)
        else:
            await self._endpoint(route, scope, receive, send)

    async def _reply(self, route: FastRoute, scope: Scope, receive: Callable, send: Callable) -> None:
        assert route.handler is not None
        request = RawRequest(scope, receive)
        try:
            reply = await route.handler(request)
        except Disconnected:
            return
        headers = [(b"content-type", reply.content_type), (b"content-length", str(len(reply.body)).encode()),
                   *reply.headers]
        if route.cors:
            headers += _cors_headers(request.header(b"origin"))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def _endpoint(self, route: FastRoute, scope: Scope, receive: Callable, send: Callable) -> None:
        assert route.endpoint is not None
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request)
        except Exception as exc:  # as Starlette's ExceptionMiddleware: the app's handler for the class
            handler = _handler_for(scope["app"], exc)
            if handler is None:
                raise  # ServerErrorMiddleware (outside this one) answers 500
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
        if route.cors:
            response.raw_headers += _cors_headers(request.headers.get("origin"))
        await response(scope, receive, send)


def _handler_for(app: Any, exc: Exception) -> Callable | None:
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None


def _cors_headers(origin: str | bytes | None) -> Headers:
    """What Starlette's CORSMiddleware(allow_origins=["*"]) adds to a simple (non-preflight) response."""
    if origin is not None:
        return [(b"access-control-allow-origin", b"*"), (b"vary", b"Origin")]
    return [(b"vary", b"Origin")]
