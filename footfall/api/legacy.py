"""/api/track and /api/identify: Klaviyo's legacy Track and Identify API.

Answers `1` only once the event or profile change is committed, `0` otherwise (with the reason
when `verbose=1`), 413 for an oversized body, and 503 + Retry-After when it cannot store: every
refusal's status, reason and Retry-After come from footfall/refusals.py's table.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

from footfall import clock
from footfall.api import keyguard
from footfall.api.app_state import Services, services
from footfall.api.body import read_limited
from footfall.api.client_address import client_ip
from footfall.api.fastpath import FastRoute, RawRequest, Reply, starlette_endpoint
from footfall.domain import onsite
from footfall.domain.models import WriteResult
from footfall.observability.requests import note_refusal
from footfall.refusals import InvalidInput, Refusal, TooLarge, legacy_answer
from footfall.wire import legacy, legacy_transport

# URL- or base64-encoding inflates a payload; the decoded JSON is held to the limit itself.
ENCODING_ALLOWANCE = 3
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_encode = msgspec.json.Encoder().encode
_HTML, _JSON, _GIF = b"text/html; charset=utf-8", b"application/json", b"image/gif"
_NO_STORE = [(b"cache-control", b"no-store")]


class _Reply:
    """How to answer this request: plain 1/0, verbose JSON, or a pixel."""

    def __init__(self, scope: dict, verbose: bool, pixel: bool) -> None:
        self.scope = scope
        self.verbose = verbose
        self.pixel = pixel

    def ok(self, result: WriteResult, warnings: list[str]) -> Reply:
        if self.pixel:
            return Reply(200, PIXEL, _GIF, _NO_STORE)
        if not self.verbose:
            return Reply(200, b"1", _HTML, [])
        body = {
            "status": 1,
            "profile_id": result.profile_id or None,
            "event_id": result.event_id,
            "duplicate": result.duplicate,
            "warnings": warnings + result.warnings,
        }
        return Reply(200, _encode(body), _JSON, [])

    def fail(self, reason: str, error: str, status: int = 200, retry_after: str | None = None) -> Reply:
        """A refusal: `reason` is its code (access log, metrics), `error` what verbose answers say."""
        note_refusal(self.scope, reason)
        headers = [] if retry_after is None else [(b"retry-after", str(retry_after).encode())]
        if self.pixel and status == 200:
            return Reply(200, PIXEL, _GIF, _NO_STORE)
        if not self.verbose:
            return Reply(status, b"0", _HTML, headers)
        return Reply(status, _encode({"status": 0, "error": error}), _JSON, headers)


async def track(request: RawRequest) -> Reply:
    return await _handle(request, "track")


async def identify(request: RawRequest) -> Reply:
    return await _handle(request, "identify")


async def _handle(request: RawRequest, kind: str) -> Reply:
    svc = services(request)
    limits = svc.settings.limits
    query = request.query_params
    reply = _Reply(request.scope, _truthy(query.get("verbose")), request.method in ("GET", "HEAD") and query.get("i") == "1")
    if request.method == "HEAD":  # link checkers and prefetchers send HEAD: it never writes
        return Reply(200, b"", _GIF if reply.pixel else (_JSON if reply.verbose else _HTML), _NO_STORE)
    try:
        payload, params, raw_size = await _payload(request, query, limits.legacy_payload_bytes)
        if _truthy(params.get("verbose")):
            reply.verbose = True
        if raw_size > limits.legacy_payload_bytes and len(_encode(payload)) > limits.legacy_payload_bytes:
            raise TooLarge(limits.legacy_payload_bytes)
        svc.pipeline.check_admission()  # under overload, refuse before the costlier parsing and lookups
        token = legacy.token_of(payload)
        account = await keyguard.checked_lookup(request, token, svc.account_for_public_key)
        if account is None:
            return reply.fail("unknown_key", f"token: {token!r} is not the public key of any account")
        op, warnings = _parse(kind, payload, account.id, svc)
        if op.event is not None:
            onsite.locate_by_ip(op.profile, op.event.properties, client_ip(request))
        op.size = raw_size
        result = await svc.pipeline.submit(op, raw_size)
    except Refusal as exc:  # its answer here: footfall/refusals.py's table
        status, reason, error, retry_after = legacy_answer(exc, svc.settings.retry_after_seconds)
        return reply.fail(reason, error, status=status, retry_after=retry_after)
    return reply.ok(result, warnings)


async def _payload(request: RawRequest, query: dict[str, str], limit: int) -> tuple[Any, dict[str, str], int]:
    cap = limit * ENCODING_ALLOWANCE
    if request.method in ("GET", "HEAD"):
        size = len(request.query_string)
        if size > cap:
            raise TooLarge(limit)
        return legacy_transport.from_query(query), {}, size
    body = await read_limited(request, cap)
    if not body.strip() and "data" in query:  # some clients POST with the data in the URL
        return legacy_transport.from_query(query), {}, len(request.query_string)
    if not body.strip():
        raise InvalidInput("the request has no body and no `data` parameter", "data")
    payload, params = legacy_transport.from_body(body, request.headers.get("content-type") or "")
    return payload, params, len(body)


def _parse(kind: str, payload: dict[str, Any], account_id: str, svc: Services):
    region = svc.settings.default_phone_region
    if kind == "track":
        return legacy.parse_track(payload, account_id, svc.settings.limits, clock.now(), phone_region=region)
    return legacy.parse_identify(payload, account_id, svc.settings.limits, phone_region=region)


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


_CORS = [Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["*"])]

# GET and POST are answered by the fast path (footfall/api/fastpath.py) before Starlette's router;
# these routes serve the rest (OPTIONS preflights, HEAD) through Starlette's CORS middleware.
fast_routes = [FastRoute("/api/track", track), FastRoute("/api/identify", identify)]
routes = [
    Route(path, starlette_endpoint(handler), methods=["GET", "POST", "OPTIONS"], middleware=_CORS)
    for base, handler in (("/api/track", track), ("/api/identify", identify))
    for path in (base, base + "/")
]
