"""JSON:API shapes as Klaviyo's modern API uses them: errors, documents, cursors, URL-valued cursors."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
from footfall.refusals import ApiError

MEDIA_TYPE = "application/vnd.api+json"
_encode = msgspec.json.Encoder().encode


def errors_body(errors: list[ApiError]) -> bytes:
    return _encode({"errors": [e.to_dict() for e in errors]})


def invalid(detail: str, *, pointer: str | None = None, parameter: str | None = None) -> ApiError:
    return ApiError(400, "invalid", detail, pointer=pointer, parameter=parameter)


def pointer_for(path: str, base: str = "/data/attributes") -> str:
    """'profile.email' or 'properties[3]' -> '/data/attributes/profile/email' style pointers."""
    if not path:
        return base
    parts = path.replace("[", ".").replace("]", "").split(".")
    return base + "/" + "/".join(p for p in parts if p)


# -- cursors ----------------------------------------------------------------------------------------

def encode_cursor(*position: Any) -> str:
    """An opaque keyset position."""
    return base64.urlsafe_b64encode(_encode(list(position))).decode().rstrip("=")


def decode_cursor(value: str, parameter: str = "page[cursor]") -> list[Any]:
    text = cursor_value(value)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        position = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise invalid(f"{value!r} is not a cursor this server issued", parameter=parameter) from None
    if not isinstance(position, list):
        raise invalid(f"{value!r} is not a cursor this server issued", parameter=parameter)
    return position


def cursor_value(value: str) -> str:
    """SDKs pass a whole `links.next` URL as the cursor when it is not https: take page[cursor] out of it."""
    if "://" in value or value.startswith("/"):
        query = parse_qs(urlsplit(value).query)
        found = query.get("page[cursor]")
        if found:
            return found[0]
    return value
