"""GET /api/profiles and /api/profiles/{id}: the read half of Klaviyo's Profiles API (scope `profiles:read`).

A profile id that was merged into another profile (anonymous profiles are merged when a later
payload ties them to a known one) answers with the surviving profile, whose own id is in the
body, so an id a client kept keeps working. An id that never existed in the account is a 404.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from footfall.api import paged_reads
from footfall.api.json_documents import base_url
from footfall.api.modern_routes import api_route
from footfall.domain import normalize
from footfall.refusals import InvalidInput
from footfall.domain.models import LOCATION_FIELDS, PROFILE_ATTRIBUTES
from footfall.store import segment_list_rows
from footfall.store.conn import Conn
from footfall.store.queries import profiles as profile_queries
from footfall.wire import params, resources
from footfall.wire.filters import Checked, FieldRule
from footfall.domain.limits import PROFILES_PAGE_DEFAULT as PAGE_DEFAULT, PROFILES_PAGE_MAX as PAGE_MAX

_COMPARISONS = ("greater-than", "greater-or-equal", "less-than", "less-or-equal")
WHITELIST = {
    "id": FieldRule(("equals", "any")),
    "email": FieldRule(("equals", "any")),
    "phone_number": FieldRule(("equals", "any")),
    "external_id": FieldRule(("equals", "any")),
    "anonymous_id": FieldRule(("equals", "any")),
    "_kx": FieldRule(("equals",)),
    "created": FieldRule(_COMPARISONS, "datetime"),
    "updated": FieldRule(_COMPARISONS, "datetime"),
}
SORTS = tuple(s for name in ("id", "created", "updated", "email") for s in (name, "-" + name))
DEFAULT_SORT = "id"
PROFILE_FIELDS = (
    "email", "phone_number", "external_id", "anonymous_id", *PROFILE_ATTRIBUTES,
    "created", "updated", "last_event_date", "location", *[f"location.{f}" for f in LOCATION_FIELDS],
    "properties",
)
PROFILE_FIELDS = (*PROFILE_FIELDS, *resources.PROFILE_ADDITIONAL)
GROUP_FIELDS = {"lists": ("name", "created", "updated", "opt_in_process"),
                "segments": ("name", "definition", "created", "updated", "is_active", "is_processing", "is_starred")}


ADDITIONAL = {"profile": resources.PROFILE_ADDITIONAL}
INCLUDES = ("lists", "segments")


def additional(request: Request) -> frozenset[str]:
    """additional-fields[profile] of the request (subscriptions, predictive_analytics); others are a 400."""
    return params.additional_fields(request.query_params, ADDITIONAL).get("profile", frozenset())


def _render(request: Request, rows: list[dict[str, Any]], fields: frozenset[str] | None,
            extra: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    base = base_url(request)
    return [params.sparse(resources.profile(base, row, extra), fields) for row in rows]


def _canonical(conditions: list[Checked]) -> list[Checked]:
    """Emails and phone numbers are stored canonical (lower-case, E.164); match them that way."""
    return [Checked(c.field, c.operator, _canonical_value(c.field, c.value)) for c in conditions]


def _canonical_value(field: str, value: Any) -> Any:
    if isinstance(value, list):
        return [_canonical_value(field, v) for v in value]
    if field == "email":
        return value.strip().lower()
    if field == "phone_number":
        try:
            return normalize.phone(value, "phone_number")
        except InvalidInput:
            return value  # not a phone number: it matches nothing, which is the right answer
    return value


async def list_profiles(request: Request) -> Response:
    account_id = await paged_reads.account_for(request, "profiles")
    conditions = _canonical(paged_reads.checked_filters(request, WHITELIST))
    sort = params.sort(request.query_params, SORTS, DEFAULT_SORT)
    window = paged_reads.window(request, PAGE_DEFAULT, PAGE_MAX)
    params.include(request.query_params, ())
    fields = params.fieldset(request.query_params, "profile", PROFILE_FIELDS)
    extra = additional(request)

    def load(conn: Conn):
        return profile_queries.page(conn, account_id, conditions, sort, window)

    page = await paged_reads.read(request, load)
    return paged_reads.collection(request, _render(request, page.rows, fields, extra), page)


async def get_profile(request: Request) -> Response:
    account_id = await paged_reads.account_for(request, "profiles")
    profile_id = paged_reads.path_id(request, "profile")
    include = params.include(request.query_params, INCLUDES)
    fields = params.fieldset(request.query_params, "profile", PROFILE_FIELDS)
    group_fields = {family: params.fieldset(request.query_params, family[:-1], GROUP_FIELDS[family])
                    for family in INCLUDES}
    extra = additional(request)

    def load(conn: Conn):
        row = profile_queries.one(conn, account_id, profile_id)
        groups = {family: segment_list_rows.groups_of_profile(conn, account_id, row["id"], family) or []
                  for family in sorted(include)} if row else {}
        return row, groups

    row, groups = await paged_reads.read(request, load)
    if row is None:
        raise paged_reads.not_found("profile", profile_id)
    data = _render(request, [row], fields, extra)[0]
    if not include:
        return paged_reads.single(request, data)
    base = base_url(request)
    included = []
    for family, rows in groups.items():
        data["relationships"][family]["data"] = [{"type": family[:-1], "id": g["id"]} for g in rows]
        render = resources.segment if family == "segments" else resources.group_list
        included += [params.sparse(render(base, g), group_fields[family]) for g in rows]
    return paged_reads.single(request, data, included)


routes = [
    *api_route("/api/profiles", list_profiles, ["GET"], name="get_profiles"),
    *api_route("/api/profiles/{id}", get_profile, ["GET"], name="get_profile"),
]
