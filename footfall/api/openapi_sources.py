"""The Segment-spec (/v1/*) and PostHog capture routes in /openapi.json (docs/sources.md is the prose)."""

from __future__ import annotations

from typing import Any

from footfall.api.posthog_capture import CAPTURE_PATHS, FLAG_PATHS
from footfall.api.segment_spec import CALLS

Op = dict[str, Any]
_JSON = "application/json"
_ERROR = {"type": "object", "additionalProperties": True}
_RETRY = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}


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
                        "content": {_JSON: {"schema": {"type": "object", "additionalProperties": True}}}},
        "responses": _answers({"type": "object", "properties": {"success": {"type": "boolean"}}}),
    }


def _capture(path: str, method: str) -> Op:
    op: Op = {
        "operationId": f"posthog_{path.strip('/').replace('/', '_')}_{method}", "tags": ["Sources"],
        "security": [], "summary": "PostHog capture: an event, an array of events, or {batch: [...]}.",
        "description": "The write key is `api_key` / `token` in the body, `?token=` or a Bearer token. JSON, "
                       "gzip, base64 or form `data=`. See docs/sources.md.",
        "parameters": [{"name": "data", "in": "query", "schema": {"type": "string"}},
                       {"name": "compression", "in": "query", "schema": {"type": "string"}}],
        "responses": _answers({"type": "object", "properties": {"status": {"type": "string"}}}, too_large="413"),
    }
    if method == "post":
        op["requestBody"] = {"content": {_JSON: {"schema": {}}, "text/plain": {"schema": {"type": "string"}}}}
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
