"""A raw-ASGI front for the hottest ingest routes, ahead of Starlette's router.

Starlette matches a path by trying every route's regex, wraps each request in Request and Response
objects and the per-route CORS middleware; for a route that does ~nothing but queue one event that
was most of the CPU per request. Routes registered here are answered straight from the ASGI scope:
a handler reads a RawRequest and returns a Reply. Everything else (other methods such as OPTIONS
preflights and HEAD, other paths) goes on to Starlette unchanged; `starlette_endpoint` serves the
same handler there. This runs inside Starlette's ServerErrorMiddleware, so an unexpected exception
still becomes the usual 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, Protocol

from starlette.requests import Request
from starlette.responses import Response
from footfall.failures import Disconnected
from footfall.wire import form_fields

log = logging.getLogger("footfall.api")

Scope = dict[str, Any]
Headers = list[tuple[bytes, bytes]]


class Incoming(Protocol):
    """What the shared request helpers (api/request_keys.py, api/json_documents.py, api/ingest.py) read from a request:
    Starlette's Request and RawRequest both provide it."""

    @property
    def scope(self) -> Scope: ...

    @property
    def method(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def query_params(self) -> Mapping[str, str]: ...

    def stream(self) -> AsyncIterator[bytes]: ...


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: bytes | None  # None: no Content-Type header (an empty 202)
    headers: Headers


class RawRequest:
    """The parts of an HTTP request the fast handlers read, taken lazily from the ASGI scope and read
    as Starlette's Request reads them (so shared helpers see the same values on either path)."""

    __slots__ = ("scope", "_receive", "method", "query_string", "_headers", "_query")

    def __init__(self, scope: Scope, receive: Callable[[], Awaitable[dict]]) -> None:
        self.scope = scope
        self._receive = receive
        self.method: str = scope["method"]
        self.query_string: bytes = scope.get("query_string", b"")
        self._headers: dict[str, str] | None = None
        self._query: dict[str, str] | None = None

    @property
    def receive(self) -> Callable[[], Awaitable[dict]]:
        """The ASGI receive callable (api/body.py reads the body from it)."""
        return self._receive

    @property
    def headers(self) -> dict[str, str]:
        """Lower-case names; the first of a repeated header, as Starlette's Headers.get."""
        if self._headers is None:
            self._headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in reversed(self.scope["headers"])}
        return self._headers

    @property
    def query_params(self) -> dict[str, str]:
        """Query parameters as Starlette reads them (latin-1, blanks kept, the last of a repeated key)."""
        if self._query is None:
            self._query = form_fields.parse(self.query_string.decode("latin-1"))
        return self._query

    async def stream(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive (read it with api/body.py's read_limited)."""
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise Disconnected
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


Handler = Callable[[RawRequest], Awaitable[Reply]]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class FastRoute:
    """`methods` on `path` (and on path + '/'), answered by `handler`. cors adds the open-CORS headers
    of a simple response."""

    path: str
    handler: Handler
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
            return
        scope["footfall.route"] = route.path  # the template, for the access line and metrics
        request = RawRequest(scope, receive)
        try:
            reply = await route.handler(request)
        except Disconnected:
            log.debug("client disconnected before its body arrived: %s %s", scope["method"], scope["path"])
            return
        headers = [(b"content-length", str(len(reply.body)).encode()), *reply.headers]
        if reply.content_type is not None:
            headers.insert(0, (b"content-type", reply.content_type))
        if route.cors:
            headers += _cors_headers(request.headers.get("origin"))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})


def starlette_endpoint(handler: Handler) -> Endpoint:
    """The same handler as a Starlette endpoint, for what the fast path leaves to Starlette."""

    async def endpoint(request: Request) -> Response:
        try:
            reply = await handler(RawRequest(request.scope, request.receive))
        except Disconnected:
            return Response(status_code=499)
        return response_of(reply)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def response_of(reply: Reply) -> Response:
    """A Reply as the Starlette Response that sends the same status, headers and body (in the order
    Response(body, headers=..., media_type=...) puts them)."""
    response = Response(reply.body, status_code=reply.status)
    response.raw_headers[:0] = reply.headers
    if reply.content_type is not None:
        response.raw_headers.append((b"content-type", reply.content_type))
    return response


def raw_headers(headers: Mapping[str, str]) -> Headers:
    """Header fields as Starlette's Response writes them (names lower-cased, latin-1)."""
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def _cors_headers(origin: str | None) -> Headers:
    """What Starlette's CORSMiddleware(allow_origins=["*"]) adds to a simple (non-preflight) response."""
    if origin is not None:
        return [(b"access-control-allow-origin", b"*"), (b"vary", b"Origin")]
    return [(b"vary", b"Origin")]
