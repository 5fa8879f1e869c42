"""GET /openapi.json: an OpenAPI 3.1 description of Footfall's whole HTTP surface, written as data.

Paths use `{id}` for every path parameter (route modules may name theirs differently; the URL is the
same). Every path is also served with a trailing slash, which the document leaves out. Schemas are
in openapi_schemas.py. tests/test_openapi.py checks the document against the OpenAPI 3.1 schema and
against the routes the app really serves.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from footfall.api import events_read, metrics, openapi_privacy, profiles_read, segment_list_routes, webhooks
from footfall.api.openapi_filters import filter_parameter
from footfall.wire.filters import FieldRule
from footfall.api import openapi_sources
from footfall.api.openapi_schemas import SCHEMAS, collection, ref, single
from footfall.domain import rate_limit_tiers

JSONAPI = "application/vnd.api+json"
Op = dict[str, Any]

# -- parameters -------------------------------------------------------------------------------------

ANY_STRING = {"type": "string", "pattern": r"^[\s\S]*$"}  # even a NUL: read, never refused at the HTTP level

PARAMETERS: dict[str, Any] = {
    "revision": {"name": "revision", "in": "header", "required": True,
                 "description": "API revision, YYYY-MM-DD[.suffix]; any valid date is accepted.",
                 "schema": {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(\.[A-Za-z0-9_-]+)?$",
                            "example": "2026-07-15"}},
    "id": {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "The resource's id as the API gave it: profiles and events have 26-character ULIDs "
                          "(imported ones keep the id they were exported with), metrics, lists and segments 6 "
                          "letters and digits, webhooks ULIDs, jobs the id their creation answered, webhook topics "
                          "their name. An unknown id "
                          "is a 404; one holding a NUL a 400."},
    # Klaviyo's spec has company_id as a query parameter of every client route, not a security scheme:
    # a missing or unknown one is a 400 there (never a 401), and so it is here.
    "company_id": {"name": "company_id", "in": "query", "required": True,
                   "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{6}$"},
                   "description": "The account's public key (6 letters and digits); missing or unknown: a 400."},
    "filter": {"name": "filter", "in": "query", "schema": {"type": "string"},
               "description": "Filter expressions, e.g. equals(email,\"a@b.co\") or "
                              "greater-or-equal(datetime,2025-01-01T00:00:00Z); a top-level comma means AND."},
    "sort": {"name": "sort", "in": "query", "schema": {"type": "string"}},
    "include": {"name": "include", "in": "query", "schema": {"type": "string"},
                "description": "Comma-separated related resources to add to `included`."},
    "page_cursor": {"name": "page[cursor]", "in": "query", "schema": {"type": "string"},
                    "description": "An opaque cursor (or a whole links.next URL)."},
    "legacy_data": {"name": "data", "in": "query", "schema": ANY_STRING,
                    "description": "The payload: base64 of the JSON object (GET), or URL-encoded JSON."},
    # The legacy protocol never refuses at the HTTP level (Klaviyo's documented behaviour): any value
    # of these parameters is read, and a payload that cannot be stored is answered 200 `0`.
    "legacy_verbose": {"name": "verbose", "in": "query", "schema": ANY_STRING,
                       "description": "verbose=1 answers JSON explaining the outcome; any other value the bare 1/0."},
    "legacy_pixel": {"name": "i", "in": "query", "schema": ANY_STRING,
                     "description": "i=1 answers with a 1x1 GIF (tracking pixel); any other value is ignored."},
}


def param(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def additional(type_: str, *values: str) -> dict[str, Any]:
    """additional-fields[type]: comma-separated extra attributes; any other value is a 400."""
    return {"name": f"additional-fields[{type_}]", "in": "query", "style": "form", "explode": False,
            "schema": {"type": "array", "items": {"type": "string", "enum": list(values)}, "minItems": 1},
            "description": f"Extra attributes of {type_} resources: {', '.join(values)} (a repeated one counts once; "
                           "an empty or unknown one is a 400)."}


PROFILE_EXTRA = additional("profile", "subscriptions", "predictive_analytics")
# Member listings (api/segment_list_routes.members): identifiers and the join time.
MEMBER_FILTER = filter_parameter({**{name: FieldRule(("equals", "any")) for name in segment_list_routes.IDENTIFIER_FIELDS},
                                  "joined_group_at": FieldRule(segment_list_routes.TIME_OPS, "datetime")})
MEMBER_SORT = {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["joined_group_at", "-joined_group_at"]},
               "description": "The order of joining (default oldest first); any other value is a 400."}


def sort_parameter(allowed: tuple[str, ...], default: str) -> dict[str, Any]:
    """sort: one of the route's own orders (api/*_read.SORTS); empty is the default, any other a 400."""
    return {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["", *allowed]},
            "description": f"The order (a leading - is descending); default {default}."}


def page_size(default: int, maximum: int) -> dict[str, Any]:
    return {"name": "page[size]", "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": maximum, "default": default}}


# The attributes a route that honours fields[type] may be asked for (the routes' own lists).
FIELDSETS: dict[str, tuple[str, ...]] = {
    "event": events_read.EVENT_FIELDS, "metric": metrics.METRIC_FIELDS, "profile": profiles_read.PROFILE_FIELDS,
    "list": profiles_read.GROUP_FIELDS["lists"], "segment": profiles_read.GROUP_FIELDS["segments"],
}


def fields(*types: str) -> list[dict[str, Any]]:
    """fields[type]=a,b: only these attributes; an unknown one is a 400, an empty value none at all."""
    return [{"name": f"fields[{t}]", "in": "query", "style": "form", "explode": False,
             "schema": {"type": "array", "items": {"type": "string", "enum": list(FIELDSETS[t])}},
             "description": f"Comma-separated attributes of {t} resources to return."} for t in types]


def ignored_fields(*types: str) -> list[dict[str, Any]]:
    """fields[type] on a route that answers every attribute whatever it says (read, never refused)."""
    return [{"name": f"fields[{t}]", "in": "query", "schema": {"type": "string"},
             "description": "Accepted for Klaviyo's SDKs and ignored: every attribute is returned."} for t in types]


def include(*allowed: str) -> dict[str, Any]:
    return {"name": "include", "in": "query", "style": "form", "explode": False,
            "schema": {"type": "array", "items": {"type": "string", "enum": list(allowed)}},
            "description": "Related resources to add to `included`; any other is a 400."}


# -- responses --------------------------------------------------------------------------------------

_RATE_HEADERS = {
    "RateLimit-Limit": {"$ref": "#/components/headers/RateLimit-Limit"},
    "RateLimit-Remaining": {"$ref": "#/components/headers/RateLimit-Remaining"},
    "RateLimit-Reset": {"$ref": "#/components/headers/RateLimit-Reset"},
}
HEADERS = {
    "RateLimit-Limit": {"description": "Requests allowed in the steady (1 minute) window.",
                        "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Requests left in the steady window.", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until the steady window resets.", "schema": {"type": "integer"}},
    "Retry-After": {"description": "Whole seconds to wait before retrying.", "schema": {"type": "integer"}},
}

_ERRORS = {
    "400": "Invalid input: `source.pointer` or `source.parameter` names the offending part.",
    "401": "No private key, or an unknown one.",
    "403": "The key lacks the scope this route needs.",
    "404": "No such resource in this account.",
    "405": "Method not allowed on this path.",
    "408": "The body did not arrive within the body timeout (FOOTFALL_BODY_TIMEOUT_SECONDS).",
    "409": "Conflict: an identifier belongs to another profile (`meta.duplicate_profile_id`).",
    "413": "The request body is over the size limit.",
    "415": "Unsupported Content-Type.",
    "429": "Throttled: see Retry-After.",
    "500": "Unexpected error; nothing partial was stored.",
    "503": "The store cannot accept the request now; see Retry-After.",
}


def _error_response(code: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _ERRORS[code],
                                "content": {JSONAPI: {"schema": ref("ErrorDocument")}}}
    if code in ("429", "503"):
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
    return response


RESPONSES = {code: _error_response(code) for code in _ERRORS}


def ok(status: str, description: str, schema_name: str | None = None, *, many: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "headers": _RATE_HEADERS}
    if schema_name is not None:
        schema = collection(schema_name) if many else single(schema_name)
        response["content"] = {JSONAPI: {"schema": schema}}
    return {status: response}


def errors(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/{code}"} for code in codes}


# -- operations -------------------------------------------------------------------------------------

def server_op(op_id: str, summary: str, tag: str, scope: str, responses: dict[str, Any], *,
              params: list[Any] = (), body: str | None = None, method: str, path: str) -> Op:
    """A /api operation: private key with `scope`, revision header, Klaviyo's rate limit tier."""
    tier = rate_limit_tiers.tier_for(method, path)
    limit = rate_limit_tiers.TIERS[tier]
    operation: Op = {
        "operationId": op_id, "summary": summary, "tags": [tag],
        "description": f"Scope `{scope}`. Rate limit tier {tier}: {limit.burst}/s burst, {limit.steady}/min steady.",
        "security": [{"KlaviyoApiKey": []}],
        "parameters": [param("revision"), *params],
        "responses": {**responses, **errors("400", "401", "403", "429", "500")},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {
            JSONAPI: {"schema": ref(body)}, "application/json": {"schema": ref(body)}}}
        operation["responses"].update(errors("408", "413", "415"))
    return operation


def client_op(op_id: str, summary: str, body: str, path: str) -> Op:
    tier = rate_limit_tiers.tier_for("POST", path)
    return {
        "operationId": op_id, "summary": summary, "tags": ["Client"],
        "description": f"Public key in `company_id`. Answers 202 once committed. Rate limit tier {tier}.",
        "security": [],
        "parameters": [param("revision"), param("company_id")],
        "requestBody": {"required": True, "content": {JSONAPI: {"schema": ref(body)},
                                                      "application/json": {"schema": ref(body)}}},
        "responses": {**ok("202", "Accepted and committed; empty body."),
                      **errors("400", "408", "413", "415", "429", "500", "503"),
                      "404": {"description": "The profile's `id` names no profile of this account.",
                              "content": {JSONAPI: {"schema": ref("ErrorDocument")}}}},
    }


def _onsite_profiles(operation: Op) -> Op:
    """/client/profiles as Klaviyo's onsite script calls it: with X-Klaviyo-Onsite: 1, 200 and the
    profile's exchange id (which the script keeps in its cookie) instead of an empty 202."""
    operation["parameters"] = [*operation["parameters"], {
        "name": "X-Klaviyo-Onsite", "in": "header", "schema": {"type": "string", "enum": ["1"]},
        "description": "1: answer 200 with `meta.exchange_id`, as Klaviyo answers its onsite script."}]
    operation["responses"]["200"] = {"description": "Committed (onsite call): the profile's exchange id.",
                                     "content": {"application/json": {"schema": ref("OnsiteProfileAnswer")}}}
    return operation


def _onsite_script(op_id: str, summary: str, params: list[Any]) -> Op:
    """The onsite JavaScript (footfall/web/onsite/klaviyo.js): no key needed, cacheable."""
    return {"operationId": op_id, "summary": summary, "tags": ["Onsite"], "security": [], "parameters": params,
            "responses": {"200": {"description": "The script.", "content": {"text/javascript": {
                              "schema": {"type": "string"}}}},
                          "304": {"description": "Not modified (If-None-Match)."},
                          "404": {"description": "Not a public key.", "content": {"text/plain": {
                              "schema": {"type": "string"}}}}}}


def legacy_op(kind: str, method: str) -> Op:
    summary = {"track": "Record an event (Klaviyo's legacy Track API).",
               "identify": "Create or update a profile (Klaviyo's legacy Identify API)."}[kind]
    operation: Op = {
        "operationId": f"legacy_{kind}_{method.lower()}", "summary": summary, "tags": ["Legacy"],
        "description": "The public key is the payload's `token`. Answers `1` once committed, `0` otherwise "
                       "(with the reason as JSON when verbose=1). Not rate limited.",
        "security": [],
        "parameters": [param("legacy_data"), param("legacy_verbose")] + ([param("legacy_pixel")] if method == "GET" else []),
        "responses": {
            "200": {"description": "`1` (stored) or `0` (refused); JSON with verbose=1; a GIF with i=1.",
                    "content": {"text/html": {"schema": {"type": "string", "enum": ["0", "1"]}},
                                "application/json": {"schema": ref("LegacyVerbose")},
                                "image/gif": {"schema": {"type": "string", "contentMediaType": "image/gif"}}}},
            "413": {"description": "The payload is over the legacy size limit.",
                    "content": {"text/html": {"schema": {"type": "string"}}}},
            "503": {"description": "The store cannot accept the event now; retry after Retry-After.",
                    "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
                    "content": {"text/html": {"schema": {"type": "string"}}}},
        },
    }
    if method == "POST":
        anything = {"description": "A LegacyPayload (components/schemas) is stored; any other body is answered "
                                   "200 `0` with the reason (verbose=1), never an HTTP error."}
        operation["requestBody"] = {"content": {
            "application/json": {"schema": anything},
            "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
                "data": ANY_STRING, "verbose": ANY_STRING}}}}}
    return operation


def _paths() -> dict[str, dict[str, Op]]:
    s = server_op
    paths: dict[str, dict[str, Op]] = {
        "/healthz": {"get": {"operationId": "healthz", "summary": "Is the writer running and the store reachable?",
                             "tags": ["Operations"], "security": [],
                             "responses": {"200": {"description": "Healthy.",
                                                   "content": {"application/json": {"schema": ref("Health")}}},
                                           "503": {"description": "Unhealthy, with the reason.",
                                                   "content": {"application/json": {"schema": ref("Health")}}}}}},
        "/livez": {"get": {"operationId": "livez", "summary": "Does the process answer?", "tags": ["Operations"],
                           "security": [], "responses": {"200": {"description": "Alive.", "content": {
                               "application/json": {"schema": {"type": "object"}}}}}}},
        "/readyz": {"get": {"operationId": "readyz", "summary": "Can this worker take writes now (writer running, "
                            "store reachable, not stalled)?", "tags": ["Operations"], "security": [],
                            "responses": {code: {"description": text, "content": {
                                "application/json": {"schema": {"type": "object"}}}}
                                for code, text in (("200", "Ready."), ("503", "Not ready, with the reason."))}}},
        "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus text exposition: only with "
                             "`Authorization: Bearer $FOOTFALL_METRICS_TOKEN` (else 401), and a 404 unless "
                             "FOOTFALL_METRICS_TOKEN is set and FOOTFALL_METRICS_PORT is not.", "tags": ["Operations"],
                             "security": [],  # the token is checked only where /metrics is served
                             "responses": {code: {"description": text, "content": {
                                 "text/plain": {"schema": {"type": "string"}}}}
                                 for code, text in (("200", "The metrics."), ("401", "No or a wrong token."),
                                                    ("404", "Not served on this port."))}}},
        "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document.", "tags": ["Operations"],
                                  "security": [], "responses": {"200": {
                                      "description": "OpenAPI 3.1 document.",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/api/track": {"get": legacy_op("track", "GET"), "post": legacy_op("track", "POST")},
        "/api/identify": {"get": legacy_op("identify", "GET"), "post": legacy_op("identify", "POST")},
        # -- client (public key) ----------------------------------------------------------------------
        "/client/events": {"post": client_op("create_client_event", "Create an event.", "ClientEventCreate",
                                             "/client/events")},
        "/client/profiles": {"post": _onsite_profiles(client_op(
            "create_client_profile", "Create or update a profile (identifiers are never replaced).", "ProfileInput",
            "/client/profiles"))},
        "/client/subscriptions": {"post": client_op("create_client_subscription", "Subscribe a profile to "
                                                    "marketing.", "ClientSubscriptionCreate", "/client/subscriptions")},
        "/client/event-bulk-create": {"post": client_op("bulk_create_client_events", "Create up to 1000 events "
                                                        "for one profile.", "ClientEventBulkCreate",
                                                        "/client/event-bulk-create")},
        # -- onsite script ------------------------------------------------------------------------------
        "/onsite/js/klaviyo.js": {"get": _onsite_script(
            "get_onsite_script", "The onsite script for the account `company_id` (the page may name it instead "
            "with _learnq.push(['account', KEY])).",
            [{"name": "company_id", "in": "query", "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{0,16}$"},
              "description": "The public key; absent or empty: the page names it with _learnq.push(['account', KEY])."}])},
        "/onsite/js/{id}/klaviyo.js": {"get": _onsite_script(
            "get_onsite_script_for_key", "The onsite script for the account whose public key is in the path.",
            [{"name": "id", "in": "path", "required": True, "description": "The public key.",
              "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{1,16}$"}}])},
        # -- events -------------------------------------------------------------------------------------
        "/api/events": {
            "get": s("get_events", "List events, newest first by default.", "Events", "events:read",
                     ok("200", "A page of events.", "Event", many=True),
                     params=[filter_parameter(events_read.WHITELIST),
                             sort_parameter(events_read.SORTS, events_read.DEFAULT_SORT), include(*events_read.INCLUDES),
                             param("page_cursor"), page_size(200, 1000), *fields("event", "metric", "profile")],
                     method="GET", path="/api/events"),
            "post": s("create_event", "Create an event (and create or update its profile).", "Events",
                      "events:write", {**ok("202", "Accepted and committed; empty body."),
                                       **errors("404", "409", "503")},  # 404: the profile's id is unknown
                      body="EventCreate", method="POST", path="/api/events"),
        },
        "/api/events/{id}": {"get": s("get_event", "One event.", "Events", "events:read",
                                      {**ok("200", "The event.", "Event"), **errors("404")},
                                      params=[param("id"), include(*events_read.INCLUDES),
                                              *fields("event", "metric", "profile")],
                                      method="GET", path="/api/events/{id}")},
        "/api/events/{id}/metric": {"get": s("get_metric_for_event", "The event's metric.", "Events", "events:read",
                                             {**ok("200", "The metric.", "Metric"), **errors("404")},
                                             params=[param("id"), *fields("metric")],
                                             method="GET", path="/api/events/{id}/metric")},
        "/api/events/{id}/profile": {"get": s("get_profile_for_event", "The event's profile.", "Events",
                                              "events:read", {**ok("200", "The profile.", "Profile"), **errors("404")},
                                              params=[param("id"), *fields("profile")],
                                              method="GET", path="/api/events/{id}/profile")},
        "/api/events/{id}/relationships/metric": {"get": s(
            "get_metric_id_for_event", "The event's metric as {type, id}.", "Events", "events:read",
            {**ok("200", "The metric's identifier.", "ResourceIdentifier"), **errors("404")}, params=[param("id")],
            method="GET", path="/api/events/{id}/relationships/metric")},
        "/api/events/{id}/relationships/profile": {"get": s(
            "get_profile_id_for_event", "The event's profile as {type, id}.", "Events", "events:read",
            {**ok("200", "The profile's identifier.", "ResourceIdentifier"), **errors("404")}, params=[param("id")],
            method="GET", path="/api/events/{id}/relationships/profile")},
        "/api/event-bulk-create-jobs": {"post": s(
            "bulk_create_events", "Create up to 1000 profiles' events in one job.", "Events", "events:write",
            {**ok("202", "The job, accepted.", "EventBulkCreateJob"), **errors("404", "503")},
            body="EventBulkCreateJobCreate", method="POST", path="/api/event-bulk-create-jobs")},
        "/api/event-bulk-create-jobs/{id}": {"get": s(
            "get_bulk_create_events_job", "A bulk job's progress.", "Events", "events:read",
            {**ok("200", "The job.", "EventBulkCreateJob"), **errors("404")}, params=[param("id")],
            method="GET", path="/api/event-bulk-create-jobs/{id}")},
        # -- profiles -----------------------------------------------------------------------------------
        "/api/profiles": {
            "get": s("get_profiles", "List profiles.", "Profiles", "profiles:read",
                     ok("200", "A page of profiles.", "Profile", many=True),
                     params=[filter_parameter(profiles_read.WHITELIST),
                             sort_parameter(profiles_read.SORTS, profiles_read.DEFAULT_SORT), param("page_cursor"),
                             page_size(20, 100), *fields("profile"), PROFILE_EXTRA], method="GET", path="/api/profiles"),
            "post": s("create_profile", "Create a profile; 409 if an identifier is taken.", "Profiles",
                      "profiles:write", {**ok("201", "The new profile.", "Profile"), **errors("409", "503")},
                      body="ProfileCreate", method="POST", path="/api/profiles"),
        },
        "/api/profiles/{id}": {
            "get": s("get_profile", "One profile.", "Profiles", "profiles:read",
                     {**ok("200", "The profile.", "Profile"), **errors("404")},
                     params=[param("id"), {"name": "include", "in": "query", "style": "form", "explode": False,
                                           "schema": {"type": "array", "items": {"type": "string",
                                                                                 "enum": ["lists", "segments"]}}},
                             *fields("profile", "list", "segment"), PROFILE_EXTRA],
                     method="GET", path="/api/profiles/{id}"),
            "patch": s("update_profile", "Update a profile; `null` clears a field.", "Profiles", "profiles:write",
                       {**ok("200", "The updated profile.", "Profile"), **errors("404", "409", "503")},
                       params=[param("id")], body="ProfilePatch", method="PATCH", path="/api/profiles/{id}"),
        },
        "/api/profile-import": {"post": s(
            "create_or_update_profile", "Create (201) or update (200) a profile.", "Profiles", "profiles:write",
            {**ok("200", "Updated.", "Profile"), **ok("201", "Created.", "Profile"),
             **errors("404", "409", "503")},  # 404: `data.id` names no profile of this account
            body="ProfileInput", method="POST", path="/api/profile-import")},
        "/api/profile-merge": {"post": s(
            "merge_profiles", "Merge source profiles into a destination profile.", "Profiles", "profiles:write",
            {**ok("202", "Merged."), **errors("404", "503")}, body="ProfileMerge",
            method="POST", path="/api/profile-merge")},
        "/api/profile-subscription-bulk-create-jobs": {"post": s(
            "bulk_subscribe_profiles", "Subscribe up to 1000 profiles to email and/or SMS marketing (creating unknown "
            "ones), optionally adding them to a list; lifts UNSUBSCRIBE, SPAM_REPORT and USER_SUPPRESSED "
            "suppressions. consented_at only with historical_import.", "Profiles",
            "subscriptions:write, profiles:write, lists:write",
            {**ok("202", "Committed; empty body."), **errors("404", "409", "503")},
            body="SubscriptionJobCreate", method="POST", path="/api/profile-subscription-bulk-create-jobs")},
        "/api/profile-subscription-bulk-delete-jobs": {"post": s(
            "bulk_unsubscribe_profiles", "Unsubscribe up to 100 profiles from email and/or SMS marketing (email: "
            "suppressed with reason UNSUBSCRIBE); with a list, only that list (a list suppression).", "Profiles",
            "subscriptions:write, profiles:write, lists:write",
            {**ok("202", "Committed; empty body."), **errors("404", "503")},
            body="SubscriptionJobDelete", method="POST", path="/api/profile-subscription-bulk-delete-jobs")},
        "/api/profiles/{id}/lists": {"get": s(
            "get_lists_for_profile", "The lists a profile is in.", "Profiles", "lists:read",
            {**ok("200", "Lists.", "List", many=True), **errors("404")}, params=[param("id"), *ignored_fields("list")],
            method="GET", path="/api/profiles/{id}/lists")},
        "/api/profiles/{id}/segments": {"get": s(
            "get_segments_for_profile", "The segments a profile is in.", "Profiles", "segments:read",
            {**ok("200", "Segments.", "Segment", many=True), **errors("404")}, params=[param("id"), *ignored_fields("segment")],
            method="GET", path="/api/profiles/{id}/segments")},
        "/api/profiles/{id}/relationships/lists": {"get": s(
            "get_list_ids_for_profile", "The ids of the lists a profile is in.", "Profiles", "lists:read",
            {**ok("200", "List references."), **errors("404")}, params=[param("id")],
            method="GET", path="/api/profiles/{id}/relationships/lists")},
        "/api/profiles/{id}/relationships/segments": {"get": s(
            "get_segment_ids_for_profile", "The ids of the segments a profile is in.", "Profiles", "segments:read",
            {**ok("200", "Segment references."), **errors("404")}, params=[param("id")],
            method="GET", path="/api/profiles/{id}/relationships/segments")},
        "/api/profiles/{id}/exchange-id": {"post": s(
            "get_profile_exchange_id", "The profile's exchange id for links in emails (`?_kx=<exchange id>`): "
            "minted on the first call, the same one afterwards.", "Profiles", "profiles:write",
            {"200": {"description": "The exchange id.", "headers": _RATE_HEADERS,
                     "content": {JSONAPI: {"schema": ref("ProfileExchangeId")}}}, **errors("404", "503")},
            params=[param("id")], method="POST", path="/api/profiles/{id}/exchange-id")},
        # -- metrics ------------------------------------------------------------------------------------
        "/api/metrics": {"get": s("get_metrics", "List metrics.", "Metrics", "metrics:read",
                                  ok("200", "A page of metrics.", "Metric", many=True),
                                  params=[filter_parameter(metrics.WHITELIST), param("page_cursor"),
                                          *fields("metric")],
                                  method="GET", path="/api/metrics")},
        "/api/metrics/{id}": {"get": s("get_metric", "One metric.", "Metrics", "metrics:read",
                                       {**ok("200", "The metric.", "Metric"), **errors("404")},
                                       params=[param("id"), *fields("metric")], method="GET", path="/api/metrics/{id}")},
        "/api/metric-aggregates": {"post": s(
            "query_metric_aggregates", "Count, sum of value and unique profiles of a metric per hour, day, week or "
            "month in a time zone, optionally by event property.", "Metrics", "metrics:read",
            {**ok("200", "One array per measurement, aligned with `dates`.", "MetricAggregate"), **errors("404")},
            body="MetricAggregateQuery", method="POST", path="/api/metric-aggregates")},
        # -- segments (issue 4) -------------------------------------------------------------------------
        "/api/segments": {
            "get": s("get_segments", "List segments.", "Segments", "segments:read",
                     ok("200", "A page of segments.", "Segment", many=True),
                     params=[param("filter"), param("sort"), param("page_cursor"), *ignored_fields("segment"),
                             additional("segment", "profile_count")],
                     method="GET", path="/api/segments"),
            "post": s("create_segment", "Create a segment from a definition.", "Segments", "segments:write",
                      ok("201", "The new segment.", "Segment"), body="SegmentCreate",
                      method="POST", path="/api/segments"),
        },
        "/api/segments/{id}": {
            "get": s("get_segment", "One segment.", "Segments", "segments:read",
                     {**ok("200", "The segment.", "Segment"), **errors("404")},
                     params=[param("id"), *ignored_fields("segment"), additional("segment", "profile_count")],
                     method="GET", path="/api/segments/{id}"),
            "patch": s("update_segment", "Rename a segment or change its definition (re-evaluated in the background).",
                       "Segments", "segments:write", {**ok("200", "The segment.", "Segment"), **errors("404")},
                       params=[param("id")], body="SegmentUpdate", method="PATCH", path="/api/segments/{id}"),
            "delete": s("delete_segment", "Delete a segment (a 409 while a segment's definition names it).",
                        "Segments", "segments:write", {**ok("204", "Deleted."), **errors("404", "409")},
                        params=[param("id")],
                        method="DELETE", path="/api/segments/{id}"),
        },
        "/api/segments/{id}/profiles": {"get": s(
            "get_profiles_for_segment", "The segment's members.", "Segments", "segments:read",
            {**ok("200", "A page of profiles.", "Profile", many=True), **errors("404")},
            params=[param("id"), MEMBER_FILTER, MEMBER_SORT, param("page_cursor"), page_size(20, 100),
                    *ignored_fields("profile"), PROFILE_EXTRA], method="GET", path="/api/segments/{id}/profiles")},
        "/api/segments/{id}/relationships/profiles": {"get": s(
            "get_profile_ids_for_segment", "The ids of the segment's members.", "Segments", "segments:read",
            {**ok("200", "Profile references."), **errors("404")},
            params=[param("id"), param("page_cursor"), page_size(20, 100)],
            method="GET", path="/api/segments/{id}/relationships/profiles")},
        # -- lists (issue 4) ----------------------------------------------------------------------------
        "/api/lists": {
            "get": s("get_lists", "List lists.", "Lists", "lists:read", ok("200", "A page of lists.", "List", many=True),
                     params=[param("filter"), param("sort"), param("page_cursor"), *ignored_fields("list"),
                             additional("list", "profile_count")],
                     method="GET", path="/api/lists"),
            "post": s("create_list", "Create a list.", "Lists", "lists:write", ok("201", "The new list.", "List"),
                      body="ListCreate", method="POST", path="/api/lists"),
        },
        "/api/lists/{id}": {
            "get": s("get_list", "One list.", "Lists", "lists:read", {**ok("200", "The list.", "List"), **errors("404")},
                     params=[param("id"), *ignored_fields("list"), additional("list", "profile_count")],
                     method="GET", path="/api/lists/{id}"),
            "patch": s("update_list", "Rename a list.", "Lists", "lists:write",
                       {**ok("200", "The list.", "List"), **errors("404")}, params=[param("id")], body="ListUpdate",
                       method="PATCH", path="/api/lists/{id}"),
            "delete": s("delete_list", "Delete a list (a 409 while a segment's definition names it).",
                        "Lists", "lists:write", {**ok("204", "Deleted."), **errors("404", "409")},
                        params=[param("id")],
                        method="DELETE", path="/api/lists/{id}"),
        },
        "/api/lists/{id}/profiles": {"get": s(
            "get_profiles_for_list", "The list's members.", "Lists", "lists:read",
            {**ok("200", "A page of profiles.", "Profile", many=True), **errors("404")},
            params=[param("id"), MEMBER_FILTER, MEMBER_SORT, param("page_cursor"), page_size(20, 100),
                    *ignored_fields("profile"), PROFILE_EXTRA], method="GET", path="/api/lists/{id}/profiles")},
        "/api/lists/{id}/relationships/profiles": {
            "get": s("get_profile_ids_for_list", "The ids of the list's members.", "Lists", "lists:read",
                     {**ok("200", "Profile references."), **errors("404")},
                     params=[param("id"), param("page_cursor"), page_size(20, 100)],
                     method="GET", path="/api/lists/{id}/relationships/profiles"),
            "post": s("add_profiles_to_list", "Add up to 1000 profiles to a list.", "Lists", "lists:write",
                      {**ok("204", "Added."), **errors("404")}, params=[param("id")], body="ProfileReferences",
                      method="POST", path="/api/lists/{id}/relationships/profiles"),
            "delete": s("remove_profiles_from_list", "Remove up to 1000 profiles from a list.", "Lists",
                        "lists:write", {**ok("204", "Removed."), **errors("404")}, params=[param("id")],
                        body="ProfileReferences", method="DELETE", path="/api/lists/{id}/relationships/profiles"),
        },
    }
    paths.update(_webhook_paths(s))
    paths.update(openapi_privacy.paths(s, ok, errors, param, page_size))  # privacy and profile jobs
    paths.update(openapi_sources.paths())  # Segment /v1/* and PostHog capture
    for path, operations in paths.items():
        if not path.startswith(("/api/", "/client/")):
            for operation in operations.values():
                _edge_refusal(operation)
    return paths


EDGE_NUL = {"description": "A NUL (%00) in the path or a query parameter, refused before the route "
                           "(api/edge.py): the reason as plain text.",
            "content": {"text/plain": {"schema": {"type": "string"}}}}


def _edge_refusal(operation: Op) -> None:
    """Outside /api and /client the edge answers a NUL in plain text; the legacy routes read it."""
    if operation["operationId"].startswith("legacy_"):
        return
    refused = operation["responses"].setdefault("400", {"description": EDGE_NUL["description"], "content": {}})
    refused.setdefault("content", {}).update(EDGE_NUL["content"])


def _webhook_paths(s: Any) -> dict[str, dict[str, Op]]:
    """Issue 11: webhook management (Klaviyo's shapes), the delivery log, retry and replay."""
    r, w = "webhooks:read", "webhooks:write"
    deliveries_filter = filter_parameter(webhooks.DELIVERY_FILTERS, {"status": webhooks.STATUSES})
    return {
        "/api/webhooks": {
            "get": s("get_webhooks", "List webhooks.", "Webhooks", r, ok("200", "The webhooks.", "Webhook", many=True),
                     method="GET", path="/api/webhooks"),
            "post": s("create_webhook", "Create a webhook (the secret_key is never echoed).", "Webhooks", w,
                      ok("201", "The new webhook.", "Webhook"), body="WebhookCreate", method="POST", path="/api/webhooks"),
        },
        "/api/webhooks/{id}": {
            "get": s("get_webhook", "One webhook.", "Webhooks", r, {**ok("200", "The webhook.", "Webhook"),
                                                                   **errors("404")},
                     params=[param("id")], method="GET", path="/api/webhooks/{id}"),
            "patch": s("update_webhook", "Change a webhook; enabling it again resumes where it stopped.", "Webhooks", w,
                       {**ok("200", "The webhook.", "Webhook"), **errors("404")}, params=[param("id")],
                       body="WebhookUpdate", method="PATCH", path="/api/webhooks/{id}"),
            "delete": s("delete_webhook", "Delete a webhook and its delivery log.", "Webhooks", w,
                        {**ok("204", "Deleted."), **errors("404")}, params=[param("id")],
                        method="DELETE", path="/api/webhooks/{id}"),
        },
        "/api/webhooks/{id}/replay": {"post": s(
            "replay_webhook", "Send again what the outbox still holds from start to end.", "Webhooks", w,
            {**ok("202", "The deliveries queued.", "WebhookReplay"), **errors("404")}, params=[param("id")],
            body="WebhookReplayCreate", method="POST", path="/api/webhooks/{id}/replay")},
        "/api/webhook-topics": {"get": s(
            "get_webhook_topics", "Topics: event:<metric slug> per metric, profile, segment and list changes.",
            "Webhooks", r, ok("200", "The topics.", "WebhookTopic", many=True), method="GET",
            path="/api/webhook-topics")},
        "/api/webhook-topics/{id}": {"get": s(
            "get_webhook_topic", "One topic.", "Webhooks", r, {**ok("200", "The topic.", "WebhookTopic"),
                                                               **errors("404")},
            params=[param("id")], method="GET", path="/api/webhook-topics/{id}")},
        "/api/webhook-deliveries": {"get": s(
            "get_webhook_deliveries", "The delivery log, newest first.", "Webhooks", r,
            ok("200", "A page of deliveries.", "WebhookDelivery", many=True),
            params=[deliveries_filter, param("page_cursor"), page_size(20, 100)], method="GET",
            path="/api/webhook-deliveries")},
        "/api/webhook-deliveries/{id}": {"get": s(
            "get_webhook_delivery", "One delivery.", "Webhooks", r,
            {**ok("200", "The delivery.", "WebhookDelivery"), **errors("404")}, params=[param("id")],
            method="GET", path="/api/webhook-deliveries/{id}")},
        "/api/webhook-deliveries/{id}/attempts": {"get": s(
            "get_webhook_delivery_attempts", "A delivery's attempts: status code, latency, the first bytes of the "
            "answer.", "Webhooks", r, {**ok("200", "The attempts.", "WebhookDeliveryAttempt", many=True),
                                       **errors("404")},
            params=[param("id")], method="GET", path="/api/webhook-deliveries/{id}/attempts")},
        "/api/stream": {"get": {**s(
            "stream", "Server-Sent Events: the account's committed events, profile changes and joins, live. "
            "Each event: id = outbox position, event = topic, data = {id, topic, position, created, payload}. "
            "Last-Event-ID resumes within the retained window.", "Webhooks", r,
            {"200": {"description": "An endless text/event-stream.",
                     "content": {"text/event-stream": {"schema": {"type": "string"}}}}},
            params=[{"name": "topic", "in": "query", "schema": {"type": "string"},
                     "description": "Comma-separated topics to keep (default: all)."},
                    {"name": "group_id", "in": "query", "schema": {"type": "string"},
                     "description": "Only these segments / lists for membership topics."},
                    {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string", "pattern": "^[0-9]+$"}}],
            method="GET", path="/api/stream")}},
        "/api/webhook-deliveries/{id}/retry": {"post": s(
            "retry_webhook_delivery", "Send one delivery again, as soon as its webhook's lane is free.", "Webhooks", w,
            {**ok("202", "The delivery, pending.", "WebhookDelivery"), **errors("404")}, params=[param("id")],
            method="POST", path="/api/webhook-deliveries/{id}/retry")},
    }


# No string Footfall reads may hold U+0000 (PostgreSQL cannot store it): every route refuses it with a 400.
NUL_FREE = r"^[^\x00]*$"


def _nul_free(node: Any) -> Any:
    """The document with NUL_FREE on every free-form string and on the keys of every free-form object."""
    if isinstance(node, list):
        return [_nul_free(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nul_free(value) for key, value in node.items()}
    kinds = out.get("type")
    is_string = kinds == "string" or (isinstance(kinds, list) and "string" in kinds)
    if is_string and not {"pattern", "enum", "const", "format", "contentMediaType"} & out.keys():
        out["pattern"] = NUL_FREE
    is_object = out.get("type") == "object" or (isinstance(kinds, list) and "object" in kinds)
    if is_object and "additionalProperties" not in out:  # open objects: their other members are read too
        out["additionalProperties"] = True
    if out.get("additionalProperties") not in (None, False) and "propertyNames" not in out:
        out["propertyNames"] = {"pattern": NUL_FREE}
    if out.get("additionalProperties") is True:  # any JSON inside, but NUL-free at every depth
        out["additionalProperties"] = {"$ref": "#/components/schemas/JsonValue"}
    return out


JSON_VALUE = {"description": "Any JSON value without U+0000 in any string or key.", "anyOf": [
    {"type": "string", "pattern": NUL_FREE}, {"type": ["number", "boolean", "null"]},
    {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
    {"type": "object", "propertyNames": {"pattern": NUL_FREE},
     "additionalProperties": {"$ref": "#/components/schemas/JsonValue"}}]}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    doc = _document()
    raw = _paths()  # the legacy routes read anything, NUL included: their schemas stay as written
    doc["paths"].update({path: raw[path] for path in ("/api/track", "/api/identify")})
    return doc


def _document() -> dict[str, Any]:
    return _nul_free({
        "openapi": "3.1.0",
        "info": {"title": "Footfall", "version": "1",
                 "description": "Self-hosted event tracking, profiles and segments speaking Klaviyo's wire "
                                "protocols: the legacy Track/Identify API, the client API (/client, public key) "
                                "and the server JSON:API (/api, private key). Every path is also served with a "
                                "trailing slash."},
        "servers": [{"url": "/"}],
        "tags": [{"name": n} for n in ("Legacy", "Client", "Events", "Profiles", "Metrics", "Segments", "Lists",
                                        "Data Privacy", "Operations", "Sources")],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "KlaviyoApiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                                  "description": "`Klaviyo-API-Key pk_…` (a private key; `Bearer pk_…` also works)."},
                **openapi_sources.SECURITY_SCHEMES,
            },
            "parameters": PARAMETERS,
            "headers": HEADERS,
            "responses": RESPONSES,
            "schemas": {**SCHEMAS, **openapi_privacy.SCHEMAS, **openapi_sources.SCHEMAS, "JsonValue": JSON_VALUE},
        },
    })


_encoded: bytes | None = None


async def openapi_json(request: Request) -> Response:
    global _encoded
    if _encoded is None:
        _encoded = msgspec.json.encode(document())
    return Response(_encoded, media_type="application/json")


routes = [Route("/openapi.json", openapi_json, methods=["GET"])]
