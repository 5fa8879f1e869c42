"""What the Segment-spec and PostHog routes share: their routes on the fast path, the write key ->
source lookup, the bounded body, and the commit, with every refusal as a `SourceRefusal`
(footfall/refusals.py's table: status, code, Retry-After) that each wire renders in its own error shape.

A request is acknowledged (200) only after its whole batch is committed; nothing of a refused one
is stored.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.routing import Route

from footfall.api.app_state import Services, services
from footfall.api.body import read_limited
from footfall.api.error_answers import answerable, refusal_reply
from footfall.api.fastpath import FastRoute, Handler, Incoming, RawRequest, Reply, starlette_endpoint
from footfall.api.modern_routes import twin_routes
from footfall.domain.models import TrackOp
from footfall.domain.operations import SourceBatchOp
from footfall.refusals import (InvalidInput, NotAccepted, Refusal, SourceRefusal, StoreUnavailable, TooLarge,
                               answer, as_source_refusal)
from footfall.wire import source_body
from footfall.wire.sources import Source


def source_routes(paths: tuple[str, ...], endpoint: Handler,
                  methods: tuple[str, ...]) -> tuple[list[Route], list[FastRoute]]:
    """A wire's endpoint on its paths, answered by the fast path (api/fastpath.py: no router scan, no
    Request and Response objects); Starlette's twins (with and without the trailing slash) serve the
    same handler for what the fast path leaves to them (HEAD; another method is their 405). A refusal
    the wire does not answer in its own shape (a body too slow to arrive, ...) is answered as the
    app's exception handler answers it on Starlette's path."""

    async def handler(request: RawRequest) -> Reply:
        try:
            return await endpoint(request)
        except Refusal as exc:
            if not answerable(exc):
                raise
            return refusal_reply(request, exc)

    handler.__name__ = endpoint.__name__
    served = starlette_endpoint(handler)
    return ([route for path in paths for route in twin_routes(path, served, list(methods))],
            [FastRoute(path, handler, methods, cors=False) for path in paths])


async def source_for_key(svc: Services, key: str | None) -> Source:
    """The source (account and write key) of a write key; 401 when there is none or it is unknown."""
    if not key:
        raise SourceRefusal(401, "unauthorized", "a write key is required (the Basic-auth user, `writeKey` or `api_key`)")
    try:
        grant = await svc.grant_for_write_key(key)
    except StoreUnavailable as exc:
        raise as_source_refusal(exc, svc.settings.retry_after_seconds) from None
    if grant is None:
        raise SourceRefusal(401, "unauthorized", "this write key is not a live write key of any account")
    return Source(account_id=grant.account_id, key_id=grant.key_id or "", name=grant.name or "")


def basic_user(request: Incoming) -> str | None:
    """The user of `Authorization: Basic base64(user:password)` (Segment's write key), if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return decoded.partition(":")[0] or None


def bearer(request: Incoming) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


async def raw_body(request: Incoming, limit: int, too_large_status: int, limit_name: str) -> bytes:
    """The body as sent, at most `limit` bytes (a compressed body is smaller than the JSON it holds,
    which is held to the same limit once decompressed)."""
    try:
        return await read_limited(request, limit)
    except TooLarge as exc:
        raise SourceRefusal(too_large_status, answer(exc).source_code,
                            f"the request body is larger than {limit} bytes, the limit ({limit_name})") from None


def admit(svc: Services) -> None:
    """Under overload, refuse before decoding (it costs more than the refusal)."""
    try:
        svc.pipeline.check_admission()
    except NotAccepted as exc:
        raise as_source_refusal(exc, svc.settings.retry_after_seconds) from None


async def commit(svc: Services, source: Source, ops: list[TrackOp], paths: list[str], size: int) -> Any:
    """Every op in one SourceBatchOp (all or nothing), acknowledged after its commit."""
    op = SourceBatchOp(account_id=source.account_id, ops=ops, paths=paths, size=size)
    try:
        return await svc.pipeline.submit(op, size)
    except Refusal as exc:
        raise as_source_refusal(exc, svc.settings.retry_after_seconds) from None


def invalid(exc: InvalidInput, status: int | None = None) -> SourceRefusal:
    """A refused payload as the wires answer it (`status`: PostHog's 413 for a body too large decompressed)."""
    return as_source_refusal(exc, 0, status=status)


def decoded_json(data: bytes, encoding: str, limit: int) -> tuple[Any, int]:
    """Content-Encoding undone (bounded), then JSON; with the JSON's size."""
    text = source_body.decompress(data, encoding, limit)
    return source_body.json_value(text), len(text)


__all__ = ["SourceRefusal", "admit", "basic_user", "bearer", "commit", "decoded_json", "invalid", "raw_body",
           "services", "source_for_key", "source_routes"]
