"""How Footfall is served by uvicorn: read timeouts and a connection cap against slow clients.

uvicorn bounds the idle time between requests (timeout_keep_alive) and the number of connections
(limit_concurrency, answered 503 beyond it) but not the time a client may take to send its request
head: a slowloris client trickling header bytes keeps its connection forever. HeaderTimeoutProtocol
arms a timer when a connection opens (and when a kept-alive connection starts its next request) and
closes the connection if the head is not complete in time. The body's time is bounded in
api/body.py (408). Settings: FOOTFALL_HEADER_TIMEOUT_SECONDS, FOOTFALL_BODY_TIMEOUT_SECONDS,
FOOTFALL_KEEPALIVE_TIMEOUT_SECONDS, FOOTFALL_MAX_CONNECTIONS.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from footfall import config
from footfall.config import Settings

log = logging.getLogger("footfall.serving")


async def over_connection_cap(scope: Any, receive: Any, send: Any) -> None:
    """uvicorn's answer beyond limit_concurrency, with the Retry-After every Footfall 503 carries
    (uvicorn's own has none, so clients under overload could not tell when to come back)."""
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"19"), (b"retry-after", b"1"),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": b"Service Unavailable", "more_body": False})


# The httptools protocol looks the over-cap app up by this module-level name on every refused request.
httptools_impl.service_unavailable = over_connection_cap


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request head."""

    header_timeout: float | None = None  # None: from the FOOTFALL_* environment, read once

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()

    def _arm(self) -> None:
        seconds = type(self).timeout()
        if seconds > 0:
            self._head_timer = self.loop.call_later(seconds, self._head_too_slow)

    def _disarm(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            log.debug("closing %s: request head not complete in time", self.client)
            self.transport.close()

    @classmethod
    def timeout(cls) -> float:
        if cls.header_timeout is None:
            cls.header_timeout = config.from_env().header_timeout_seconds
        return cls.header_timeout


def protocol_for(settings: Settings) -> type[HeaderTimeoutProtocol]:
    """The protocol class with this header timeout (for in-process servers; `footfall serve` workers
    read theirs from the environment)."""
    return type("FootfallHttp", (HeaderTimeoutProtocol,), {"header_timeout": settings.header_timeout_seconds})


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn settings every Footfall server uses."""
    return {"timeout_keep_alive": settings.keepalive_timeout_seconds,
            "limit_concurrency": settings.max_connections or None}
