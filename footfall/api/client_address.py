"""Where a request came from: the peer's address, or the client's as a trusted proxy forwarded it.

uvicorn's own proxy handling trusts X-Forwarded-For from 127.0.0.1 by default; Footfall turns that
off (cli.py) and applies the same middleware itself, trusting only FOOTFALL_TRUSTED_PROXIES, so a
client cannot name its own address by sending the header.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from footfall.api.fastpath import Incoming


def proxy_middleware(trusted_proxies: tuple[str, ...]) -> list[Middleware]:
    """The middleware that takes the client's address from X-Forwarded-For sent by one of
    `trusted_proxies` (addresses or CIDR networks); none when no proxy is trusted."""
    if not trusted_proxies:
        return []
    return [Middleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted_proxies))]


def client_ip(request: Incoming) -> str | None:
    client = request.scope.get("client")
    return client[0] if client else None
