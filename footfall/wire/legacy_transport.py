"""Getting the JSON object out of a legacy Track/Identify request, however the client encoded it.

Clients send: GET ?data=<base64> (standard or URL-safe alphabet, padding optional, `+` possibly
turned into a space); POST form data=<URL-encoded JSON>; POST data=<raw JSON> as the docs' curl
--data did (JSON may then contain &, + and %); base64 in a form field; or a JSON body.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import msgspec

from footfall.refusals import InvalidInput
from footfall.domain.limits import may_hold_nul, reject_nul
from footfall.wire import form_fields

_decode_json = msgspec.json.Decoder().decode
_raw_decoder = json.JSONDecoder()
_RAW_JSON_FIELD = re.compile(r"(?:^|&)data=(?=\s*\{)")
_BASE64_CHARS = re.compile(r"^[A-Za-z0-9+/=_\-\s]*$")
# JSON nested deeper than the parsers can recurse (far beyond any depth limit) is refused, not a 500.
TOO_DEEP = "JSON nested too deeply to read"


def from_query(query: dict[str, str]) -> Any:
    """The payload of a GET: the `data` parameter."""
    if "data" not in query:
        raise InvalidInput("the `data` query parameter is missing", "data")
    return decode_data(query["data"])


def from_body(body: bytes, content_type: str) -> tuple[Any, dict[str, str]]:
    """The payload of a POST, and the other form parameters (such as verbose)."""
    text = _utf8(body, "body")
    stripped = text.lstrip()
    if "json" in content_type.lower() or stripped.startswith("{"):
        return parse_json(stripped, "body"), {}
    raw = _raw_json_field(text)
    if raw is not None:
        return raw
    params = form_fields.parse(text)
    if "data" not in params:
        raise InvalidInput("the form field `data` is missing", "data")
    return decode_data(params["data"]), params


def decode_data(value: str) -> Any:
    """A `data` value: JSON as it is, or base64 of JSON (lenient about alphabet and padding)."""
    text = value.strip()
    if not text:
        raise InvalidInput("`data` is empty", "data")
    if text.startswith("{") or text.startswith("["):
        return parse_json(text, "data")
    return parse_json(_utf8(_b64decode(text), "data"), "data")


def parse_json(text: str, where: str) -> Any:
    try:
        value = _decode_json(text)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"not valid JSON ({exc})", where) from None
    except RecursionError:
        raise InvalidInput(TOO_DEEP, where) from None
    if may_hold_nul(text):
        reject_nul(value)
    return value


def _b64decode(text: str) -> bytes:
    if not _BASE64_CHARS.match(text):
        raise InvalidInput("is neither JSON nor base64-encoded JSON", "data")
    # A `+` sent unencoded in a URL arrives as a space; put it back.
    compact = text.replace(" ", "+").replace("\n", "").replace("\r", "").replace("\t", "").rstrip("=")
    if "-" in compact or "_" in compact:
        compact = compact.replace("-", "+").replace("_", "/")
    if len(compact) % 4 == 1:
        raise InvalidInput("base64 is truncated (its length is impossible)", "data")
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"not valid base64 ({exc})", "data") from None


def _utf8(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"not valid UTF-8 (byte {exc.start})", where) from None


def _raw_json_field(text: str) -> tuple[Any, dict[str, str]] | None:
    """data={...} sent without URL-encoding: read the JSON where it stands, if that is unambiguous.

    URL-encoded JSON never starts with a literal `{` (it would be %7B), so a literal brace means the
    client did not encode it; the value then runs to the end of the JSON value, whatever it contains.
    """
    if "{" not in text:  # the common case, URL-encoded: no need to search
        return None
    match = _RAW_JSON_FIELD.search(text)
    if not match:
        return None
    start = match.end()
    begin = start + len(text[start:]) - len(text[start:].lstrip())
    try:
        _, end = _raw_decoder.raw_decode(text, begin)
    except json.JSONDecodeError:
        return None  # not raw JSON after all; fall back to form decoding
    except RecursionError:
        raise InvalidInput(TOO_DEEP, "data") from None
    rest = text[end:]
    if rest and not rest.startswith("&"):
        return None
    value = parse_json(text[begin:end], "data")  # strict parse: no NaN, same rules as everywhere
    params = form_fields.parse(text[: match.start()] + rest)
    return value, params
