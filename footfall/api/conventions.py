"""What every modern route shares: revision header, keys and scopes, JSON bodies, errors, routes.

Routes under /api (server, private key) and /client (public key in ?company_id=) use these so that
every answer follows the same conventions; an ApiError raised anywhere becomes a JSON:API error.
The request helpers take a Starlette Request or a RawRequest (fastpath.Incoming): api_route serves
a Starlette endpoint, api_handler a raw one (fast path) with the same checks and error documents.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any, Awaitable, Callable, TypeVar

import msgspec
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from footfall.api import keyguard, ratelimit
from footfall.api.body import TooLarge, TooSlow, read_limited
from footfall.api.fastpath import Endpoint, Handler, Incoming, RawRequest, Reply, raw_headers, response_of
from footfall.api.services import Services, services
from footfall.observability.requests import note_refusal
from footfall.domain import ratelimits, scopes
from footfall.domain.errors import InvalidInput
from footfall.domain.limits import reject_nul
from footfall.store.accounts import Account, KeyGrant
from footfall.store.db import StoreUnavailable
from footfall.wire.jsonapi import MEDIA_TYPE, ApiError, errors_body, invalid

log = logging.getLogger("footfall.api")
_REVISION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[A-Za-z0-9_-]+)?$")
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_MEDIA_TYPE = MEDIA_TYPE.encode()


NO_KEY = "Provide a private key: Authorization: Klaviyo-API-Key pk_…"


def check_revision(request: Incoming) -> str:
    """Every modern request names an API revision (YYYY-MM-DD[.suffix]); any well-formed date is accepted."""
    value = request.headers.get("revision")
    if value is None:
        raise ApiError(400, "invalid", "The `revision` header is required (e.g. revision: 2026-07-15).",
                       parameter="revision")
    match = _REVISION.match(value.strip())
    if not match or not _valid_date(value.strip()[:10]):
        raise ApiError(400, "invalid", f"The `revision` header {value!r} is not a date of the form YYYY-MM-DD[.suffix].",
                       parameter="revision")
    return value.strip()


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


async def private_key(request: Incoming, family: str, mode: str) -> KeyGrant:
    """The caller's private key grant, with `family:mode` required (401 / 403 otherwise)."""
    header = request.headers.get("authorization")
    if not header:
        raise ApiError(401, "not_authenticated", NO_KEY)
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme.lower() not in ("klaviyo-api-key", "bearer") or not key:
        raise ApiError(401, "not_authenticated", "The Authorization header must be `Klaviyo-API-Key <private key>`.")
    grant = await _grant(request, key)
    if grant is None:
        raise ApiError(401, "authentication_failed", "Incorrect authentication credentials.",
                       title="Incorrect authentication credentials.")
    if not scopes.allows(grant.scopes, family, mode):
        raise ApiError(403, "permission_denied", f"This key lacks the `{family}:{mode}` scope.")
    return grant


async def public_key(request: Incoming) -> Account:
    """The account of ?company_id=<public key> on /client routes."""
    company = request.query_params.get("company_id")
    if not company:
        raise ApiError(400, "invalid", "The `company_id` query parameter (your public key) is required.",
                       parameter="company_id")
    account = await _account(request, company)
    if account is None:
        raise ApiError(400, "invalid", f"{company!r} is not the public key of any account.", parameter="company_id")
    return account


async def _grant(request: Incoming, key: str) -> KeyGrant | None:
    """The grant of a private key, looked up once per request (the rate limiter asks first)."""
    memo = request.scope.setdefault("footfall.grants", {})
    if key not in memo:
        memo[key] = await _guarded(request, key, services(request).grant_for_private_key)
    return memo[key]


async def _account(request: Incoming, company: str) -> Account | None:
    memo = request.scope.setdefault("footfall.accounts", {})
    if company not in memo:
        memo[company] = await _guarded(request, company, services(request).account_for_public_key)
    return memo[company]


async def _guarded(request: Incoming, key: str, lookup: Callable[[str], Awaitable[Any]]) -> Any:
    """A key lookup counted against the caller's address (api/keyguard.py); 429 over its budget."""
    try:
        return await keyguard.checked_lookup(request, key, lookup)
    except keyguard.KeysThrottled as exc:
        raise ApiError(429, "throttled", f"Request was throttled: {exc}.", title="Request was throttled.",
                       headers={"Retry-After": str(exc.retry_after)}) from None


async def caller_account_id(request: Incoming) -> str | None:
    """Whose request this is (public key on /client, private key on /api); None if not (yet) known."""
    if request.scope["path"].startswith("/client"):
        company = request.query_params.get("company_id")
        account = await _account(request, company) if company else None
        return account.id if account else None
    scheme, _, key = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() not in ("klaviyo-api-key", "bearer") or not key.strip():
        return None
    grant = await _grant(request, key.strip())
    return grant.account_id if grant else None


async def json_body(request: Incoming, limit: int) -> tuple[Any, int]:
    """The request's JSON document and its size; 413 over the limit, 415 for another media type."""
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype and ctype not in ("application/json", MEDIA_TYPE, "text/plain", ""):
        raise ApiError(415, "unsupported_media_type", f"Send application/json or {MEDIA_TYPE}, not {ctype}.")
    try:
        raw = await read_limited(request, limit)
    except TooLarge:
        raise ApiError(413, "payload_too_large", f"The request body is larger than {limit} bytes.") from None
    except TooSlow as exc:
        raise ApiError(408, "request_timeout", f"{str(exc).capitalize()}.",
                       headers={"Connection": "close"}) from None
    if not raw.strip():
        raise invalid("The request body is empty; a JSON:API document is required.", pointer="/data")
    try:
        doc = _decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # msgspec reports bad UTF-8 as the latter
        raise invalid(f"The request body is not valid UTF-8 JSON ({exc}).", pointer="/") from None
    except RecursionError:
        raise invalid("The request body is JSON nested too deeply to read.", pointer="/") from None
    if b"\\u0000" in raw or b"\x00" in raw:
        try:
            reject_nul(doc)
        except InvalidInput as exc:
            raise invalid(f"{exc.detail} (at {exc.path}).", pointer="/" + str(exc.path).replace(".", "/")) from None
    return doc, len(raw)


def document(data: Any, *, status: int = 200, links: dict[str, Any] | None = None,
             included: list[Any] | None = None, meta: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"data": data}
    if links is not None:
        body["links"] = links
    if included is not None:
        body["included"] = included
    if meta is not None:
        body["meta"] = meta
    return Response(_encode(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def accepted() -> Reply:
    """202 with an empty body, as Klaviyo answers writes that are processed (here: committed)."""
    return Reply(202, b"", None, [])


def no_content() -> Response:
    return Response(b"", status_code=204)


def base_url(request: Request) -> str:
    """Absolute base for links.self / links.next (honours the Host the client used)."""
    return f"{request.url.scheme}://{request.headers.get('host') or request.url.netloc}"


Tiers = dict[str, str]
R = TypeVar("R", bound=Incoming)
T = TypeVar("T")


def api_route(path: str, endpoint: Endpoint, methods: list[str], *, name: str | None = None,
              tier: str | None = None) -> list[Route]:
    """The route with and without a trailing slash (older SDKs add one); revision checked first,
    then the caller's rate limit (`tier` defaults to the route's tier in domain/ratelimits.py)."""
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
    """A raw endpoint (fast path) behind the same checks as api_route; its ApiErrors, and a database
    that cannot be reached, answered as the app's exception handlers answer them on Starlette's path."""
    tiers = route_tiers(path, methods, tier)

    async def handler(request: RawRequest) -> Reply:
        try:
            reply, limit_headers = await guarded(request, endpoint, path, tiers)
        except ApiError as exc:
            note_refusal(request.scope, exc.code)
            return error_reply(exc)
        except StoreUnavailable:
            note_refusal(request.scope, "service_unavailable")
            return error_reply(store_unavailable(services(request)))
        if limit_headers:
            reply.headers = reply.headers + raw_headers(limit_headers)  # never extend a shared list
        return reply

    handler.__name__ = endpoint.__name__
    handler.__doc__ = endpoint.__doc__
    return handler


def route_tiers(path: str, methods: list[str], tier: str | None) -> Tiers:
    return {m.upper(): tier or ratelimits.tier_for(m, path) for m in methods}


async def guarded(request: R, endpoint: Callable[[R], Awaitable[T]], path: str,
                  tiers: Tiers) -> tuple[T, dict[str, str]]:
    """Revision, then the caller's rate limit, then the endpoint: its answer and the rate-limit headers
    to add to it (an ApiError it raises carries them already: errors count against the limit too).
    A server route without any Authorization header is a 401 before its revision is read: an
    unauthenticated caller is told only that."""
    if not request.headers.get("authorization") and not request.scope["path"].startswith("/client"):
        raise ApiError(401, "not_authenticated", NO_KEY)
    check_revision(request)
    method = "GET" if request.method == "HEAD" else request.method
    limit_headers = await ratelimit.admit(services(request), await caller_account_id(request), method, path,
                                          tiers.get(method) or ratelimits.tier_for(method, path))
    if not limit_headers:
        return await endpoint(request), limit_headers
    try:
        return await endpoint(request), limit_headers
    except ApiError as exc:
        exc.headers = {**limit_headers, **exc.headers}
        raise


def twin_routes(path: str, endpoint: Endpoint, methods: list[str], *, name: str | None = None,
                middleware: list[Middleware] | None = None) -> list[Route]:
    """The route with and without a trailing slash (older SDKs add one)."""
    return [Route(p, endpoint, methods=methods, name=(name if p == path else None), middleware=middleware)
            for p in (path, path.rstrip("/") + "/")]


def error_reply(exc: ApiError) -> Reply:
    """The JSON:API error document of `exc`, on either path."""
    return Reply(exc.status, errors_body([exc]), _MEDIA_TYPE, raw_headers(exc.headers))


def store_unavailable(svc: Services) -> ApiError:
    """A read could not reach the database: 503 + Retry-After, so clients retry instead of giving up."""
    return ApiError(503, "service_unavailable", "The database is unreachable; retry shortly.",
                    headers={"Retry-After": str(svc.settings.retry_after_seconds)})


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    note_refusal(request.scope, exc.code)
    return response_of(error_reply(exc))


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """404 / 405 under /api and /client as JSON:API errors; plain text elsewhere."""
    status = getattr(exc, "status_code", 500)
    headers = dict(getattr(exc, "headers", None) or {})
    note_refusal(request.scope, {404: "not_found", 405: "method_not_allowed"}.get(status, f"http_{status}"))
    if status == 405:  # Starlette names only the first matching route's methods
        headers["Allow"] = ", ".join(allowed_methods(request))
    if request.url.path.startswith(("/api/", "/client/")):
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "error")
        detail = {404: f"No route {request.url.path}.", 405: f"{request.method} is not allowed on {request.url.path}."}
        err = ApiError(status, code, detail.get(status, str(getattr(exc, "detail", ""))))
        return Response(errors_body([err]), status_code=status, media_type=MEDIA_TYPE, headers=headers)
    return Response(str(getattr(exc, "detail", "")), status_code=status, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this request's path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


async def disconnected_handler(request: Request, exc: Exception) -> Response:
    """The client went away mid-body: an ordinary event, one debug line; nobody reads the answer."""
    log.debug("client %s disconnected before its body arrived: %s %s",
              request.client.host if request.client else "?", request.method, request.url.path)
    return Response(b"", status_code=499)


async def store_unavailable_handler(request: Request, exc: Exception) -> Response:
    note_refusal(request.scope, "service_unavailable")
    return response_of(error_reply(store_unavailable(services(request))))


async def server_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    note_refusal(request.scope, "error")
    err = ApiError(500, "error", "An unexpected error occurred; nothing partial was stored.")
    return Response(errors_body([err]), status_code=500, media_type=MEDIA_TYPE)
