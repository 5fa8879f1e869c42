"""How a modern route (/api server, /client public) is served: trailing slash optional, then the key,
revision and rate-limit checks, on Starlette's path (api_route) or the fast path (api_handler) alike.
"""

from __future__ import annotations

from typing import Awaitable, Callable, TypeVar

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from footfall.api import rate_limit_enforcement
from footfall.api.app_state import services
from footfall.api.error_answers import answerable, refusal_reply
from footfall.api.fastpath import Endpoint, Handler, Incoming, RawRequest, Reply, raw_headers
from footfall.api.request_keys import NO_KEY, caller_account_id
from footfall.api.revision import check_revision
from footfall.domain import rate_limit_tiers
from footfall.refusals import ApiError, Refusal, as_api_error

Tiers = dict[str, str]
R = TypeVar("R", bound=Incoming)
T = TypeVar("T")


def api_route(path: str, endpoint: Endpoint, methods: list[str], *, name: str | None = None,
              tier: str | None = None) -> list[Route]:
    """The route with and without a trailing slash (older SDKs add one); revision checked first,
    then the caller's rate limit (`tier` defaults to the route's tier in domain/rate_limit_tiers.py)."""
    tiers = route_tiers(path, methods, tier)

    async def checked(request: Request) -> Response:
        response, limit_headers = await guarded(request, endpoint, path, tiers)
        if limit_headers:
            response.headers.update(limit_headers)
        return response

    checked.__name__ = endpoint.__name__
    checked.__doc__ = endpoint.__doc__
    return twin_routes(path, checked, methods, name=name)


def api_handler(path: str, endpoint: Handler, methods: list[str], *, tier: str | None = None) -> Handler:
    """A raw endpoint (fast path) behind the same checks as api_route; its refusals answered as the
    app's exception handler answers them on Starlette's path (api/error_answers.py)."""
    tiers = route_tiers(path, methods, tier)

    async def handler(request: RawRequest) -> Reply:
        try:
            reply, limit_headers = await guarded(request, endpoint, path, tiers)
        except Refusal as exc:
            if not answerable(exc):
                raise
            return refusal_reply(request, exc)
        if limit_headers:
            reply.headers = reply.headers + raw_headers(limit_headers)  # never extend a shared list
        return reply

    handler.__name__ = endpoint.__name__
    handler.__doc__ = endpoint.__doc__
    return handler


def route_tiers(path: str, methods: list[str], tier: str | None) -> Tiers:
    return {m.upper(): tier or rate_limit_tiers.tier_for(m, path) for m in methods}


async def guarded(request: R, endpoint: Callable[[R], Awaitable[T]], path: str,
                  tiers: Tiers) -> tuple[T, dict[str, str]]:
    """Revision, then the caller's rate limit, then the endpoint: its answer and the rate-limit headers
    to add to it (a refusal it raises carries them already, as its table answer: errors count against
    the limit too).
    A server route without any Authorization header is a 401 before its revision is read: an
    unauthenticated caller is told only that."""
    if not request.headers.get("authorization") and not request.scope["path"].startswith("/client"):
        raise ApiError(401, "not_authenticated", NO_KEY)
    check_revision(request)
    method = "GET" if request.method == "HEAD" else request.method
    limit_headers = await rate_limit_enforcement.admit(services(request), await caller_account_id(request), method, path,
                                          tiers.get(method) or rate_limit_tiers.tier_for(method, path))
    if not limit_headers:
        return await endpoint(request), limit_headers
    try:
        return await endpoint(request), limit_headers
    except Refusal as exc:
        if not answerable(exc):
            raise
        err = as_api_error(exc, services(request).settings.retry_after_seconds)  # its table answer
        err.headers = {**limit_headers, **err.headers}
        if err is exc:
            raise
        raise err from exc


def twin_routes(path: str, endpoint: Endpoint, methods: list[str], *, name: str | None = None,
                middleware: list[Middleware] | None = None) -> list[Route]:
    """The route with and without a trailing slash (older SDKs add one)."""
    return [Route(p, endpoint, methods=methods, name=(name if p == path else None), middleware=middleware)
            for p in (path, path.rstrip("/") + "/")]
