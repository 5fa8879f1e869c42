"""The Segment tracking API (also RudderStack's): POST /v1/identify|track|page|screen|group|alias,
/v1/batch and /v1/import (the same as batch, what analytics-ruby posts to).

Answers 200 `{"success": true}` once the whole request is committed; 400 with the reason (and, in
a batch, the index of the bad message) and nothing stored; 401 without a live write key; 503 +
Retry-After when it cannot store. Errors are `{"success": false, "code", "message", "index"?}`,
the `code` and `message` Segment's SDKs log.
"""

from __future__ import annotations

import re

import msgspec

from footfall import clock
from footfall.api import source_ingest
from footfall.api.fastpath import Incoming, RawRequest, Reply, raw_headers
from footfall.observability.requests import note_account, note_refusal
from footfall.api.source_ingest import services
from footfall.refusals import InvalidInput, SourceRefusal
from footfall.wire import segment_spec
from footfall.domain.limits import SEGMENT_BATCH_BYTES

_encode = msgspec.json.Encoder().encode
_INDEX = re.compile(r"^batch\[(\d+)\]")
_JSON = b"application/json"


async def batch(request: RawRequest) -> Reply:
    return await _handle(request, None)


def single(kind: str):
    async def endpoint(request: RawRequest) -> Reply:
        return await _handle(request, kind)

    endpoint.__name__ = kind
    return endpoint


async def _handle(request: Incoming, kind: str | None) -> Reply:
    svc = services(request)
    try:
        raw = await source_ingest.raw_body(request, SEGMENT_BATCH_BYTES, 400, "500 KB per batch")
        source_ingest.admit(svc)
        body, json_size = _document(raw, request.headers.get("content-encoding", ""))
        source = await source_ingest.source_for_key(
            svc, source_ingest.basic_user(request) or segment_spec.write_key_of(body))
        note_account(request.scope, source.account_id)
        limits, region, now = svc.settings.limits, svc.settings.default_phone_region, clock.now()
        try:
            if kind is None:
                ops, paths = segment_spec.decode_batch(body, source, limits, now, phone_region=region,
                                                       body_bytes=json_size)
            else:
                ops = [segment_spec.decode_message(kind, body, source, limits, now, phone_region=region)]
                paths = [""]  # a single call: refusals name the field
        except InvalidInput as exc:
            raise source_ingest.invalid(exc) from None
        await source_ingest.commit(svc, source, ops, paths, json_size)  # the queue bounds what it holds
    except SourceRefusal as refusal:
        note_refusal(request.scope, refusal.code)
        return _error(refusal)
    return Reply(200, b'{"success":true}', _JSON, [])


def _document(raw: bytes, encoding: str):
    try:
        if not raw.strip():
            raise InvalidInput("the request has no body; send a JSON message", "")
        return source_ingest.decoded_json(raw, encoding, SEGMENT_BATCH_BYTES)
    except InvalidInput as exc:
        raise source_ingest.invalid(exc) from None


def _error(refusal: SourceRefusal) -> Reply:
    body: dict = {"success": False, "code": refusal.code, "message": refusal.detail}
    match = _INDEX.match(refusal.path)
    if match:
        body["index"] = int(match.group(1))
    if refusal.path:
        body["path"] = refusal.path
    return Reply(refusal.status, _encode(body), _JSON, raw_headers(refusal.headers))


CALLS = ("identify", "track", "page", "screen", "group", "alias")
_served = [source_ingest.source_routes(paths, endpoint, ("POST",))
           for paths, endpoint in [(("/v1/batch", "/v1/import"), batch),
                                   *(((f"/v1/{kind}",), single(kind)) for kind in CALLS)]]
routes = [route for starlette_routes, _ in _served for route in starlette_routes]
fast_routes = [fast for _, fast_of_endpoint in _served for fast in fast_of_endpoint]
