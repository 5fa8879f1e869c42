"""What the modern write routes share: decoding errors and pipeline outcomes as JSON:API errors.

InvalidInput (with a dotted path from the document root) -> 400 with source.pointer; Conflict -> 409
duplicate_profile; NotFound -> 404; a full queue or an unreachable store -> 503 with an integer
Retry-After. An acknowledgement (202/201/200) therefore always means committed.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from footfall.api.json_documents import json_body
from footfall.api.fastpath import Incoming
from footfall.api.app_state import services
from footfall.domain.errors import Conflict, InvalidInput, NotFound
from footfall.ingest.errors import NotAccepted
from footfall.store.batch import InternalError
from footfall.wire.jsonapi import ApiError, invalid

DUPLICATE_DETAIL = "A profile already exists with one of these identifiers."


def pointer(path: str) -> str:
    """'data.attributes.events.data[3].attributes.time' -> '/data/attributes/events/data/3/attributes/time'."""
    parts = [p for p in path.replace("[", ".").replace("]", "").split(".") if p]
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def invalid_input(exc: InvalidInput, paths: dict[str, str] | None = None) -> ApiError:
    """A domain refusal as a 400; `paths` renames store-side paths (e.g. 'event') to document paths."""
    path = (paths or {}).get(exc.path, exc.path)
    where = f" ({path})" if path else ""
    return invalid(f"{exc.detail}{where}", pointer=pointer(path))


@contextlib.contextmanager
def decoding() -> Iterator[None]:
    """Around wire decoding: a refused payload becomes a 400 naming the offending part."""
    try:
        yield
    except InvalidInput as exc:
        raise invalid_input(exc) from None


async def body(request: Incoming) -> tuple[Any, int]:
    """The request's JSON document (≤ the modern payload limit) and its size; json_body refuses NULs.

    Under overload the request is refused (503) here, before the costlier decoding into operations."""
    svc = services(request)
    document = await json_body(request, svc.settings.limits.modern_payload_bytes)
    try:
        svc.pipeline.check_admission()
    except NotAccepted as exc:
        raise not_accepted(exc) from None
    return document


def not_accepted(exc: NotAccepted) -> ApiError:
    return ApiError(503, "service_unavailable", exc.reason, headers={"Retry-After": str(int(exc.retry_after))})


def conflict(profile_id: str) -> ApiError:
    return ApiError(409, "duplicate_profile", DUPLICATE_DETAIL, title="Conflict.", pointer="/data/attributes",
                    meta={"duplicate_profile_id": profile_id})


async def submit(request: Incoming, op: Any, size: int, *, paths: dict[str, str] | None = None,
                 not_found_pointer: str | None = None) -> Any:
    """Hand op to the pipeline and wait for its commit; every refusal becomes its JSON:API error."""
    try:
        return await services(request).pipeline.submit(op, size)
    except NotAccepted as exc:
        raise not_accepted(exc) from None
    except Conflict as exc:
        raise conflict(exc.profile_id) from None
    except NotFound as exc:
        pointer = "/" + exc.path.replace(".", "/") if exc.path else not_found_pointer
        raise ApiError(404, "not_found", str(exc), pointer=pointer) from None
    except InvalidInput as exc:
        raise invalid_input(exc, paths) from None
    except InternalError:
        raise ApiError(500, "error", "An unexpected error occurred; nothing of this request was stored.") from None
