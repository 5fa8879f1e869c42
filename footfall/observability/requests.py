"""ASGI middleware ahead of everything (the fast path included): request id, access line, metrics.

Each request gets an id: the client's `X-Request-Id` when it is a sane token (1..64 of
[A-Za-z0-9._:-]), a new random one otherwise; it is sent back in `X-Request-Id` and in the access
line. The line and the metrics name the route *template* (`/api/profiles/{id}`), never the path or
query (which may hold a public key) and never a body. Handlers say why they refused a request with
note_refusal(scope, reason) and whose request it was with note_account(scope, id).
"""

from __future__ import annotations

import re
import time
from random import getrandbits as _random_bits
from typing import Any, Callable

from footfall.observability.logs import AccessLog

REFUSAL, ACCOUNT, ROUTE = "footfall.refusal", "footfall.account", "footfall.route"
_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
# Routes that take events: their refusals count as footfall_events_refused_total{reason}.
INGEST_PREFIXES = ("/api/track", "/api/identify", "/client/", "/api/events", "/api/event-bulk", "/v1/",
                   "/capture", "/batch", "/e/", "/i/v0/e")


def note_refusal(scope: dict[str, Any], reason: str) -> None:
    scope[REFUSAL] = reason


def note_account(scope: dict[str, Any], account_id: str | None) -> None:
    if account_id:
        scope[ACCOUNT] = account_id


def request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    for name, value in headers:
        if name == b"x-request-id":
            if _SANE_ID.fullmatch(value):
                return value
            break
    # A log correlation id, not a secret: `random`, not os.urandom, whose getrandom() call lets go of
    # the interpreter lock on every request (the writer thread then takes it, and the event loop waits
    # to get it back); random is reseeded in a forked worker.
    return b"%016x" % _random_bits(64)


def route_of(scope: dict[str, Any]) -> str:
    """The route template that answered (fast path or Starlette), or "other" (bounded labels)."""
    fast = scope.get(ROUTE)
    if fast is not None:
        return fast
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "other"


class Observe:
    def __init__(self, app: Callable, *, access: AccessLog | None, metrics: Any) -> None:
        self.app = app
        self.access = access
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        rid = request_id(scope["headers"])
        sent = [0, 0]  # status, body bytes

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid)]
            elif message["type"] == "http.response.body":
                sent[1] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._done(scope, rid, sent[0] or 500, sent[1], time.perf_counter() - began)

    def _done(self, scope: dict[str, Any], rid: bytes, status: int, size: int, seconds: float) -> None:
        route = route_of(scope)
        reason = scope.get(REFUSAL)
        if reason is None and status >= 400:
            reason = f"http_{status}"
        m = self.metrics
        if m is not None:
            m.request(route, scope["method"], status, seconds, size)
            if reason is not None:
                if status == 429:
                    m.rate_limited.labels(route).inc()
                if route.startswith(INGEST_PREFIXES):
                    m.refused.labels(reason).inc()
        if self.access is not None:
            self.access.write(rid.decode(), scope["method"], route, status, round(seconds * 1000, 2), size,
                              scope.get(ACCOUNT), reason)
