"""The console's static files (its CSS and JS, and the vendored uPlot), served from the package.

URLs carry ?v=<hash of the files>, so they can be cached for a year: a new release has new URLs.
"""

from __future__ import annotations

import hashlib

from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from footfall.console.web import SECURITY_HEADERS, WEB

STATIC = WEB / "static"


def _version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


VERSION = _version()


class ConsoleStatic:
    """StaticFiles plus long-cache and the console's security headers."""

    def __init__(self) -> None:
        self.files = StaticFiles(directory=str(STATIC))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                extra = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"}
                names = {k.lower() for k, _ in headers}
                headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()
                            if k.lower().encode() not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.files(scope, receive, send_with_headers)
from footfall.console.web import templates  # noqa: E402
templates.globals["static_version"] = VERSION
