"""The Segment-spec (/v1/*) and PostHog capture routes in /openapi.json (docs/sources.md is the prose)."""

from __future__ import annotations

from typing import Any

from footfall.api.openapi_schemas import EMAIL, IDENTIFIER, PHONE
from footfall.api.posthog_capture import CAPTURE_PATHS, FLAG_PATHS
from footfall.api.segment_spec import CALLS
from footfall.domain.events import MAX_METRIC_NAME

Op = dict[str, Any]
_JSON = "application/json"
_ERROR = {"type": "object", "additionalProperties": True}
_RETRY = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}


def _ref(name: str) -> Op:
    return {"$ref": f"#/components/schemas/{name}"}


_ABSENT = {"type": "null"}
_ANY = _ref("JsonValue")
_OBJECT = {"type": ["object", "null"], "additionalProperties": True}
_ID = {**IDENTIFIER, "type": ["string", "number"]}  # present: text (not only whitespace, <= 512) or a number
_MAYBE_ID = {"anyOf": [_ID, {"type": ["string", "null"], "maxLength": 0}]}  # "" or null: absent
_NAME = {"type": "string", "maxLength": MAX_METRIC_NAME, "pattern": r"^\s*[^\s\x00][^\x00]*$",
         "description": f"The metric: not only whitespace, at most {MAX_METRIC_NAME} characters (trimmed)."}
_UNIQUE = {"type": ["string", "number", "null"], "maxLength": 512}


def _moment(years: str, low_ms: int, high_ms: int) -> Op:
    """ISO 8601 (offset optional, UTC assumed) or epoch milliseconds, in the years shown."""
    iso = (rf"^{years}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
           r"(\.[0-9]{1,3})?(Z|[+-]0[0-9]:00)?$")
    return {"anyOf": [{"type": "string", "pattern": iso}, {"type": "number", "minimum": low_ms, "maximum": high_ms},
                      _ABSENT]}


# When it happened and when it was sent, on the client's clock: the event is placed at now - (sent - happened),
# which must fall between 2000-01-01 and a year ahead (else a 400). The patterns keep "happened" in 2000-2019
# and "sent" in 2020-2025, so any pair is in that window; other times are accepted as the rule says.
_HAPPENED = _moment("20(0[0-9]|1[0-9])", 946684800000, 1577836799000)
_SENT = _moment("202[0-5]", 1577836800000, 1764547199000)
_NUMERIC = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^-?[0-9]{1,9}(\.[0-9]{1,4})?$"},
                      _ABSENT]}
_CURRENCY = {"anyOf": [{"type": "string", "pattern": "^[A-Za-z]{3}$"}, _ABSENT]}
# revenue (else value) is the event's value, a number or numeric text; with one, currency is ISO 4217.
_PROPERTIES = {"anyOf": [_ABSENT, {"type": "object", "additionalProperties": True, "properties": {
    "revenue": _NUMERIC, "value": _NUMERIC, "currency": _CURRENCY}},
    {"type": "object", "additionalProperties": True, "properties": {"revenue": _ABSENT, "value": _ABSENT}}]}
# Traits (and PostHog $set / $set_once): email and phone are identifiers ("" or null: none); the rest
# attributes, address, or custom properties.
_TRAITS = {"anyOf": [_ABSENT, {"type": "object", "additionalProperties": True, "properties": {
    "email": {"anyOf": [{**EMAIL, "type": "string"}, {"type": ["string", "null"], "maxLength": 0}]},
    **{k: {"anyOf": [{**PHONE, "type": "string"}, {"type": ["string", "null"], "maxLength": 0}]}
       for k in ("phone", "phone_number")}}}]}
_CONTEXT = {"anyOf": [_ABSENT, {"type": "object", "additionalProperties": True, "properties": {"traits": _TRAITS}}]}


def _message(call: str, typed: bool) -> Op:
    """One Segment message: who (userId and/or anonymousId; alias: previousId and userId), and per call
    what it needs (track: event; group: groupId)."""
    props: dict[str, Op] = {"userId": _MAYBE_ID, "anonymousId": _MAYBE_ID, "context": _CONTEXT}
    required: list[str] = []
    if typed:
        props["type"] = {"type": "string", "const": call}
        required.append("type")
    if call == "identify":
        props["traits"] = _TRAITS
    if call == "group":
        props.update(groupId=_ID, traits=_OBJECT)
        required.append("groupId")
    if call in ("track", "page", "screen"):
        props.update(properties=_PROPERTIES, timestamp=_HAPPENED, originalTimestamp=_HAPPENED, sentAt=_SENT,
                     messageId=_UNIQUE)
    if call == "track":
        props["event"] = _NAME
        required.append("event")
    if call == "alias":
        props.update(previousId=_ID, userId=_ID, context=_OBJECT)  # an alias reads its two ids (context: an object)
        return {"type": "object", "properties": props, "required": [*required, "previousId", "userId"]}
    return {"anyOf": [{"type": "object", "properties": {**props, who: _ID}, "required": [*required, who]}
                      for who in ("userId", "anonymousId")]}


_UNSET = {"anyOf": [_ABSENT, {"type": "array", "items": {"type": "string"}}]}
_PERSON = {"$set": _TRAITS, "$set_once": _TRAITS, "$unset": _UNSET}
_POSTHOG_PROPERTIES = {"anyOf": [_ABSENT, *({**form, "properties": {**form["properties"], **_PERSON,
                                                                   "$anon_distinct_id": _MAYBE_ID}}
                                            for form in _PROPERTIES["anyOf"][1:])]}
_POSTHOG_EVENT = {
    "type": "object", "required": ["event", "distinct_id"],
    "properties": {"event": _NAME, "distinct_id": _ID, "properties": _POSTHOG_PROPERTIES, **_PERSON,
                   "timestamp": _HAPPENED, "sent_at": _SENT, "uuid": _UNIQUE, "batch": False,
                   "offset": {"type": ["number", "null"], "minimum": 0, "maximum": 1e11,
                              "description": "Milliseconds before sending (used without a timestamp)."}},
    # $create_alias names the id it ties the distinct id to
    "if": {"properties": {"event": {"const": "$create_alias"}}},
    "then": {"required": ["properties"], "properties": {"properties": {"type": "object", "required": ["alias"],
                                                                       "properties": {"alias": _ID}}}},
}

SCHEMAS: dict[str, Op] = {
    "PostHogEvent": _POSTHOG_EVENT,
    "PostHogCapture": {"anyOf": [
        _ref("PostHogEvent"), {"type": "array", "minItems": 1, "items": _ref("PostHogEvent")},
        {"type": "object", "required": ["batch"], "properties": {
            "batch": {"type": "array", "minItems": 1, "items": _ref("PostHogEvent")}, "sent_at": _SENT,
            "api_key": _ANY}}],
        "description": "An event, an array of events or {batch: [...]}; also sent gzip-compressed, base64 or "
                       "as a form's data= (docs/sources.md)."},
    **{f"Segment{call.capitalize()}": _message(call, typed=False) for call in CALLS},
    "SegmentBatch": {"type": "object", "required": ["batch"], "properties": {
        "batch": {"type": "array", "minItems": 1, "items": {"anyOf": [_message(call, typed=True) for call in CALLS]}},
        "context": _CONTEXT, "sentAt": _SENT, "writeKey": {**_ANY, "description": "The write key (a string), "
                                                                             "unless Basic auth gives it."}}},
}


def _answers(ok: Op, *, too_large: str = "400") -> dict[str, Op]:
    out = {
        "200": {"description": "Committed (the whole request).", "content": {_JSON: {"schema": ok}}},
        "400": {"description": "A message is refused (its index and reason); nothing of the request was stored.",
                "content": {_JSON: {"schema": _ERROR}}},
        "401": {"description": "No live write key.", "content": {_JSON: {"schema": _ERROR}}},
        "503": {"description": "Cannot store now; retry after Retry-After.", "headers": _RETRY,
                "content": {_JSON: {"schema": _ERROR}}},
    }
    if too_large != "400":
        out[too_large] = {"description": "The body is over the limit.", "content": {_JSON: {"schema": _ERROR}}}
    return out


def _segment(call: str) -> Op:
    return {
        "operationId": f"segment_{call}", "tags": ["Sources"], "security": [{"SegmentWriteKey": []}],
        "summary": (f"Segment tracking API: {call}." if call not in ("batch", "import")
                    else f"Segment tracking API: {call} (messages of any type, committed together)."),
        "description": "32 KB per message, 500 KB per batch (after gzip), else 400. The write key is the Basic "
                       "user (empty password) or `writeKey` in the body. See docs/sources.md.",
        "requestBody": {"required": True,  # no body is a 400
                        "content": {_JSON: {"schema": _ref("SegmentBatch" if call in ("batch", "import")
                                                           else f"Segment{call.capitalize()}")}}},
        "responses": _answers({"type": "object", "properties": {"success": {"type": "boolean"}}}),
    }


def _capture(path: str, method: str) -> Op:
    op: Op = {
        "operationId": f"posthog_{path.strip('/').replace('/', '_')}_{method}", "tags": ["Sources"],
        "security": [], "summary": "PostHog capture: an event, an array of events, or {batch: [...]}.",
        "description": "The write key is `api_key` / `token` in the body, `?token=` or a Bearer token. JSON, "
                       "gzip, base64 or form `data=`. See docs/sources.md.",
        "parameters": [{"name": "token", "in": "query", "schema": {"type": "string"},
                        "description": "The write key, unless the body or a Bearer token names it."}],
        "responses": _answers({"type": "object", "properties": {"status": {"type": "string"}}}, too_large="413"),
    }
    if method == "post":
        op["requestBody"] = {"required": True, "content": {_JSON: {"schema": _ref("PostHogCapture")}}}
    else:  # the body in ?data=: JSON (the pattern shows the plainest event) or base64 of it
        op["parameters"].append({"name": "data", "in": "query", "required": True, "schema": {
            "type": "string", "pattern": r'^\{"event":"[A-Za-z][A-Za-z ]{0,19}","distinct_id":"[a-z0-9]{1,20}"\}$'},
            "description": "The body: JSON as POST takes it, or base64 of it."})
    return op


def _flags(path: str, method: str) -> Op:
    return {
        "operationId": f"posthog_{path.strip('/')}_{method}", "tags": ["Sources"], "security": [],
        "summary": "PostHog feature flags: always none.",
        "responses": {"200": {"description": "No flags.", "content": {_JSON: {"schema": _ERROR}}},
                      "401": {"description": "No live write key.", "content": {_JSON: {"schema": _ERROR}}}},
    }


def paths() -> dict[str, dict[str, Op]]:
    out: dict[str, dict[str, Op]] = {f"/v1/{call}": {"post": _segment(call)} for call in (*CALLS, "batch", "import")}
    out.update({path: {m: _capture(path, m) for m in ("get", "post")} for path in CAPTURE_PATHS})
    out.update({path: {m: _flags(path, m) for m in ("get", "post")} for path in FLAG_PATHS})
    return out


SECURITY_SCHEMES = {"SegmentWriteKey": {"type": "http", "scheme": "basic",
                                        "description": "The write key as the user, an empty password."}}
