"""JSON:API shapes as Klaviyo's modern API uses them: errors, documents, cursors, URL-valued cursors."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

MEDIA_TYPE = "application/vnd.api+json"
_encode = msgspec.json.Encoder().encode


class ApiError(Exception):
    """One JSON:API error; raise it anywhere under /api or /client and the app answers with it."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        pointer: str | None = None,
        parameter: str | None = None,
        meta: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or TITLES.get(status, "Error.")
        self.pointer = pointer
        self.parameter = parameter
        self.meta = meta
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "source": {},
        }
        if self.pointer is not None:
            error["source"]["pointer"] = self.pointer
        if self.parameter is not None:
            error["source"]["parameter"] = self.parameter
        if self.meta:
            error["meta"] = self.meta
        return error


TITLES = {
    400: "Invalid input.",
    401: "Authentication credentials were not provided.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "Conflict.",
    413: "Payload too large.",
    415: "Unsupported media type.",
    429: "Request was throttled.",
    500: "Internal server error.",
    503: "Service unavailable.",
}


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
