"""JSON:API bodies of the modern routes: the request document read (415 / 413 / 408 / 400), the answer written."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from footfall.api.body import read_limited
from footfall.refusals import ApiError, InvalidInput, TooLarge, TooSlow, as_api_error
from footfall.api.fastpath import Incoming, Reply
from footfall.domain.limits import reject_nul
from footfall.wire.jsonapi import MEDIA_TYPE, invalid

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


async def json_body(request: Incoming, limit: int) -> tuple[Any, int]:
    """The request's JSON document and its size; 413 over the limit, 415 for another media type."""
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype and ctype not in ("application/json", MEDIA_TYPE, "text/plain", ""):
        raise ApiError(415, "unsupported_media_type", f"Send application/json or {MEDIA_TYPE}, not {ctype}.")
    try:
        raw = await read_limited(request, limit)
    except TooLarge as exc:
        raise as_api_error(exc, 0, detail=f"The request body is larger than {limit} bytes.") from None
    except TooSlow as exc:
        slow = as_api_error(exc, 0, detail=f"{str(exc).capitalize()}.")
        slow.headers["Connection"] = "close"
        raise slow from None
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
