"""Request bodies as the Segment and PostHog SDKs send them: gzip (or deflate), base64, form
`data=`, then JSON. Every step is bounded, so a small compressed body cannot grow past the limit.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any
from urllib.parse import parse_qs

import msgspec

from footfall.refusals import InvalidInput, LimitExceeded
from footfall.domain.limits import reject_nul

_decode = msgspec.json.Decoder().decode
# zlib's window bits: 16 + 15 reads gzip only, 32 + 15 reads gzip or zlib, -15 raw deflate.
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 47}


def decompress(data: bytes, encoding: str, limit: int, what: str = "the body") -> bytes:
    """Undo Content-Encoding (gzip / deflate / identity), refusing output over `limit` bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding not in _WBITS:
        raise InvalidInput(f"Content-Encoding {encoding!r} is not supported (send gzip, deflate or none)",
                           "Content-Encoding")
    return _inflate(data, _WBITS[encoding], limit, what)


def gunzip(data: bytes, limit: int, what: str = "the body") -> bytes:
    return _inflate(data, 47, limit, what)


def _inflate(data: bytes, wbits: int, limit: int, what: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"{what} is not valid compressed data ({exc})", "Content-Encoding") from None
    if len(out) > limit:
        raise LimitExceeded(f"{what} is larger than {limit} bytes, the limit, once decompressed", "")
    if not inflater.eof:
        raise InvalidInput(f"{what} is truncated compressed data", "Content-Encoding")
    return out


def from_base64(data: bytes, what: str = "the body") -> bytes:
    """Standard or URL-safe alphabet, padding optional (what the JavaScript SDKs send)."""
    text = data.strip().replace(b" ", b"+")
    text = text.replace(b"-", b"+").replace(b"_", b"/")
    try:
        return base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} is neither JSON nor valid base64", "") from None


def form_data(body: bytes) -> bytes | None:
    """The `data` field of a form-encoded body (`data=<base64 or JSON>`), or None if there is none."""
    try:
        fields = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    values = fields.get("data")
    return values[0].encode("utf-8") if values else None


def json_value(data: bytes) -> Any:
    """Parse JSON; refuse what cannot be stored (NUL) with where it is."""
    try:
        value = _decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the body is not valid UTF-8 JSON ({exc})", "") from None
    except RecursionError:
        raise InvalidInput("the body is JSON nested too deeply to read", "") from None
    if b"\\u0000" in data or b"\x00" in data:
        reject_nul(value)
    return value
