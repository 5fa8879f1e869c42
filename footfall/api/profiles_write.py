"""Server profile writes: create (201 / 409), import (201 / 200), PATCH by id (200), merge (202)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from footfall.api import ingest
from footfall.api.json_documents import base_url, document
from footfall.api.modern_routes import api_route
from footfall.api.request_keys import private_key
from footfall.api.app_state import services
from footfall.refusals import ApiError, InvalidInput
from footfall.domain.models import ProfilePatch
from footfall.domain.operations import CreateProfileOp, ImportProfileOp, MergeProfilesOp, UpdateProfileOp
from footfall.store.queries import profiles as profile_queries
from footfall.wire import modern_events, modern_profile, resources
from footfall.domain.limits import MERGE_SOURCES_PER_REQUEST as MAX_MERGE_SOURCES

async def create_profile(request: Request) -> Response:
    grant, data, size = await _profile_document(request)
    if data.get("id") is not None:
        raise ingest.invalid_input(InvalidInput("a new profile cannot be given an id; "
                                                "use PATCH /api/profiles/{id} or /api/profile-import", "data.id"))
    patch = _decode(request, data)
    result = await ingest.submit(request, CreateProfileOp(grant.account_id, patch, size), size)
    return await _profile_answer(request, grant.account_id, result.profile_id, 201)


async def import_profile(request: Request) -> Response:
    grant, data, size = await _profile_document(request)
    patch = _decode(request, data)
    op = ImportProfileOp(grant.account_id, patch, modern_profile.cleared_identifiers(data), size)
    result = await ingest.submit(request, op, size, not_found_pointer="/data/id")
    return await _profile_answer(request, grant.account_id, result.profile_id, 201 if result.profile_created else 200)


async def update_profile(request: Request) -> Response:
    grant, data, size = await _profile_document(request)
    profile_id = request.path_params["profile_id"]
    if data.get("id") != profile_id:
        detail = ("`data.id` is required and must equal the id in the path"
                  f" ({profile_id!r}), got {data.get('id')!r}")
        raise ingest.invalid_input(InvalidInput(detail, "data.id"))
    patch = _decode(request, data, require_identifier=False)
    op = UpdateProfileOp(grant.account_id, patch, modern_profile.cleared_identifiers(data), size)
    result = await ingest.submit(request, op, size)
    return await _profile_answer(request, grant.account_id, result.profile_id, 200)


async def merge_profiles(request: Request) -> Response:
    """`{"data": {"type": "profile-merge", "id": <destination>, "relationships": {"profiles": {"data": [sources]}}}}`."""
    grant = await private_key(request, "profiles", "write")
    body, size = await ingest.body(request)
    with ingest.decoding():
        destination, sources = _merge_request(body)
    op = MergeProfilesOp(grant.account_id, destination, sources, size)
    result = await ingest.submit(request, op, size)
    base = base_url(request)
    data = {"type": "profile", "id": result.profile_id, "links": {"self": f"{base}/api/profiles/{result.profile_id}/"}}
    return document(data, status=202)


def _merge_request(body: Any) -> tuple[str, list[str]]:
    data = modern_events.resource(body, "data", "profile-merge")
    destination = data.get("id")
    if not isinstance(destination, str) or not destination:
        raise InvalidInput("the destination profile id is required", "data.id")
    rels = data.get("relationships")
    if not isinstance(rels, dict) or not isinstance(rels.get("profiles"), dict):
        raise InvalidInput('must be {"profiles": {"data": [{"type": "profile", "id": …}]}}', "data.relationships")
    items = rels["profiles"].get("data")
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        raise InvalidInput("at least one source profile is required", "data.relationships.profiles.data")
    if len(items) > MAX_MERGE_SOURCES:
        raise InvalidInput(f"at most {MAX_MERGE_SOURCES} source profiles per request",
                           "data.relationships.profiles.data")
    sources = []
    for i, item in enumerate(items):
        where = f"data.relationships.profiles.data[{i}]"
        if not isinstance(item, dict) or item.get("type") != "profile":
            raise InvalidInput('must be {"type": "profile", "id": …}', where)
        if not isinstance(item.get("id"), str) or not item["id"]:
            raise InvalidInput("a profile id (string) is required", f"{where}.id")
        if item["id"] == destination:
            raise InvalidInput("a profile cannot be merged into itself", f"{where}.id")
        sources.append(item["id"])
    return destination, sources


# -- shared -----------------------------------------------------------------------------------------

async def _profile_document(request: Request) -> tuple[Any, dict[str, Any], int]:
    grant = await private_key(request, "profiles", "write")
    body, size = await ingest.body(request)
    with ingest.decoding():
        data = modern_events.resource(body, "data", "profile")
    return grant, data, size


def _decode(request: Request, data: dict[str, Any], *, require_identifier: bool = True) -> ProfilePatch:
    settings = services(request).settings
    with ingest.decoding():
        return modern_profile.decode(data, "data", settings.limits, private=True,
                                     phone_region=settings.default_phone_region,
                                     require_identifier=require_identifier)


async def _profile_answer(request: Request, account_id: str, profile_id: str, status: int) -> Response:
    row = await services(request).read(lambda conn: profile_queries.one(conn, account_id, profile_id))
    if row is None:  # merged or deleted between the commit and this read
        raise ApiError(404, "not_found", "The profile no longer exists (merged or deleted meanwhile).")
    return document(resources.profile(base_url(request), row), status=status)


routes = [
    *api_route("/api/profiles", create_profile, ["POST"]),
    *api_route("/api/profile-import", import_profile, ["POST"]),
    *api_route("/api/profiles/{profile_id}", update_profile, ["PATCH"]),
    *api_route("/api/profile-merge", merge_profiles, ["POST"]),
]
