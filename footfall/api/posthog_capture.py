"""PostHog capture: POST (or GET with `?data=`) /capture/, /batch/, /e/, /i/v0/e/; /decide/ and
/flags/ answer "no feature flags".

Bodies as the SDKs send them: JSON, gzip (`Content-Encoding: gzip` or `?compression=gzip-js`),
base64, or a form field `data=`. The project key is `api_key` / `token` in the body (or in the first
event's properties), `?token=` / `?api_key=`, or `Authorization: Bearer`; it must be a write key.
Answers 200 `{"status": "Ok"}` once the whole request is committed; errors are
`{"type", "code", "detail", "attr"?}` as PostHog's (posthog-python logs `detail`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from footfall import clock, ids
from footfall.api import source_ingest
from footfall.api.fastpath import Incoming, RawRequest, Reply, raw_headers
from footfall.observability.requests import note_account, note_refusal
from footfall.api.source_ingest import services
from footfall.refusals import InvalidInput, LimitExceeded, SourceRefusal
from footfall.wire import posthog_capture, source_body
from footfall.domain.limits import POSTHOG_BODY_BYTES as MAX_BODY_BYTES

_encode = msgspec.json.Encoder().encode
_GZIP = (b"\x1f\x8b",)
_JSON = b"application/json"
_NO_FLAGS = {"featureFlags": {}, "featureFlagPayloads": {}, "flags": {}, "errorsWhileComputingFlags": False,
             "quotaLimited": [], "sessionRecording": False}


async def capture(request: RawRequest) -> Reply:
    svc = services(request)
    try:
        raw = await _raw(request)
        source_ingest.admit(svc)
        body, json_size = _document(request, raw)
        source = await source_ingest.source_for_key(svc, _key(request, body))
        note_account(request.scope, source.account_id)
        try:
            ops, paths = posthog_capture.decode(body, source, svc.settings.limits, clock.now(),
                                                phone_region=svc.settings.default_phone_region, body_bytes=json_size)
        except InvalidInput as exc:
            raise source_ingest.invalid(exc) from None
        await source_ingest.commit(svc, source, ops, paths, len(raw))
    except SourceRefusal as refusal:
        note_refusal(request.scope, refusal.code)
        return _error(refusal)
    return Reply(200, b'{"status":"Ok"}', _JSON, [])


async def flags(request: RawRequest) -> Reply:
    """No feature flags, for a caller with a live write key (so SDKs that ask stay quiet)."""
    svc = services(request)
    try:
        raw = await _raw(request)
        body = _document(request, raw)[0] if raw.strip() or "data" in request.query_params else {}
        await source_ingest.source_for_key(svc, _key(request, body))
    except SourceRefusal as refusal:
        note_refusal(request.scope, refusal.code)
        return _error(refusal)
    return Reply(200, _encode({**_NO_FLAGS, "requestId": ids.new_ulid()}), _JSON, [])


async def _raw(request: Incoming) -> bytes:
    if request.method == "GET":
        return request.query_params.get("data", "").encode("utf-8")
    return await source_ingest.raw_body(request, MAX_BODY_BYTES, 413, "20 MB per request")


def _document(request: Incoming, raw: bytes) -> tuple[Any, int]:
    """Content-Encoding or ?compression undone, a form's `data=` taken out, base64 undone: JSON, and
    the size of its text."""
    try:
        data = raw
        encoding = request.headers.get("content-encoding", "")
        compression = request.query_params.get("compression", "").lower()
        if compression in ("gzip", "gzip-js") and not encoding:
            encoding = "gzip"
        elif compression == "lz64":
            raise InvalidInput("lz64 compression is not supported; send gzip or plain JSON", "compression")
        data = source_body.decompress(data, encoding, MAX_BODY_BYTES)
        stripped = data.lstrip()
        if stripped.startswith(b"data="):
            data = source_body.form_data(stripped) or b""
            stripped = data.lstrip()
        if not stripped:
            raise InvalidInput("the request has no body; send a JSON event or batch", "")
        if not stripped.startswith((b"{", b"[")):
            data = source_body.from_base64(stripped)
            if data.startswith(_GZIP):
                data = source_body.gunzip(data, MAX_BODY_BYTES)
        return source_body.json_value(data), len(data)
    except LimitExceeded as exc:  # decompressed past the limit: PostHog's SDKs halve the batch on 413
        raise source_ingest.invalid(exc, 413) from None
    except InvalidInput as exc:
        raise source_ingest.invalid(exc) from None


def _key(request: Incoming, body) -> str | None:
    query = request.query_params
    return (posthog_capture.api_key_of(body) or query.get("token") or query.get("api_key")
            or source_ingest.bearer(request))


def _error(refusal: SourceRefusal) -> Reply:
    kind = {401: "authentication_error", 503: "server_error", 500: "server_error"}.get(refusal.status,
                                                                                      "validation_error")
    body: dict = {"type": kind, "code": refusal.code, "detail": refusal.detail}
    if refusal.path:
        body["attr"] = refusal.path
    return Reply(refusal.status, _encode(body), _JSON, raw_headers(refusal.headers))


CAPTURE_PATHS = ("/capture", "/batch", "/e", "/i/v0/e", "/i/v0/ai/batch")  # the last: posthog-python's AI lane
FLAG_PATHS = ("/decide", "/flags")
_served = [source_ingest.source_routes(CAPTURE_PATHS, capture, ("GET", "POST")),
           source_ingest.source_routes(FLAG_PATHS, flags, ("GET", "POST"))]
routes = [route for starlette_routes, _ in _served for route in starlette_routes]
fast_routes = [fast for _, fast_of_endpoint in _served for fast in fast_of_endpoint]
