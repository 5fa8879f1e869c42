"""The one submit of every JSON:API write (/api, /client, segments, lists, webhooks, the console's forms).

A decoded operation goes to the pipeline and the route waits for its commit; any refusal on the way
(decoding, admission, the store) becomes its JSON:API error through footfall/refusals.py's table:
InvalidInput -> 400 with source.pointer, DuplicateProfile -> 409 duplicate_profile, GroupInUse -> 409
conflict, NotFound -> 404, a full queue or an unreachable store -> 503 with an integer Retry-After.
An acknowledgement (202/201/200) therefore always means committed.
"""

from __future__ import annotations

from typing import Any

from footfall.api.app_state import services
from footfall.api.error_answers import answerable
from footfall.api.fastpath import Incoming
from footfall.api.json_documents import json_body
from footfall.refusals import ApiError, InvalidInput, NotAccepted, NotFound, Refusal, as_api_error


def pointer(path: str) -> str:
    """'data.attributes.events.data[3].attributes.time' -> '/data/attributes/events/data/3/attributes/time'."""
    parts = [p for p in path.replace("[", ".").replace("]", "").split(".") if p]
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def invalid_input(exc: InvalidInput, paths: dict[str, str] | None = None) -> ApiError:
    """A domain refusal as a 400; `paths` renames store-side paths (e.g. 'event') to document paths."""
    path = (paths or {}).get(exc.path, exc.path)
    where = f" ({path})" if path else ""
    return as_api_error(exc, 0, detail=f"{exc.detail}{where}", pointer=pointer(path))


def refusal_error(exc: Refusal, settings_seconds: int, *, paths: dict[str, str] | None = None,
                  attributes_at: str | None = None, not_found_pointer: str | None = None) -> ApiError:
    """The JSON:API error of a refusal met on a write. Its path is from the document root (`paths`
    renames store-side names), or, with `attributes_at`, relative to that pointer (the segment, list
    and webhook writes, whose refusals name the attribute)."""
    if isinstance(exc, InvalidInput):
        if attributes_at is not None:
            where = f"{attributes_at}/{exc.path}".rstrip("/") if exc.path else attributes_at
            return as_api_error(exc, settings_seconds, detail=exc.detail, pointer=where)
        return invalid_input(exc, paths)
    if isinstance(exc, NotFound):
        where = "/" + exc.path.replace(".", "/") if exc.path else not_found_pointer
        return as_api_error(exc, settings_seconds, pointer=where)
    return as_api_error(exc, settings_seconds)


class _Decoding:
    """Around wire decoding: a refused payload becomes a 400 naming the offending part. A class, not
    a @contextmanager generator, which cost ~1.5 µs a request on the hot routes."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if isinstance(exc, InvalidInput):
            raise invalid_input(exc) from None
        return False


_DECODING = _Decoding()


def decoding() -> _Decoding:
    """Around wire decoding (`with decoding(): ...`): a refused payload becomes a 400 naming the offending part."""
    return _DECODING


async def body(request: Incoming) -> tuple[Any, int]:
    """The request's JSON document (≤ the modern payload limit) and its size; json_body refuses NULs.

    Under overload the request is refused (503) here, before the costlier decoding into operations."""
    svc = services(request)
    document = await json_body(request, svc.settings.limits.modern_payload_bytes)
    try:
        svc.pipeline.check_admission()
    except NotAccepted as exc:
        raise as_api_error(exc, svc.settings.retry_after_seconds) from None
    return document


async def submit(request: Incoming, op: Any, size: int = 0, *, paths: dict[str, str] | None = None,
                 attributes_at: str | None = None, not_found_pointer: str | None = None) -> Any:
    """Hand op to the pipeline and wait for its commit; every refusal becomes its JSON:API error."""
    svc = services(request)
    try:
        return await svc.pipeline.submit(op, size)
    except Refusal as exc:
        if not answerable(exc):
            raise
        raise refusal_error(exc, svc.settings.retry_after_seconds, paths=paths, attributes_at=attributes_at,
                            not_found_pointer=not_found_pointer) from None
