"""/api/segments: segment definitions (Klaviyo's format), their members, and a profile's segments."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from footfall.api import ingest
from footfall.api import segment_list_routes
from footfall.api.json_documents import base_url, document, json_body, no_content
from footfall.api.modern_routes import api_route
from footfall.api.request_keys import private_key
from footfall.api.app_state import services
from footfall.wire import resources
from footfall.refusals import ApiError, InvalidInput
from footfall.domain.segment_list_ops import DeleteGroup, SaveSegment
from footfall.domain import segment_definitions
from footfall.store import segment_list_rows
from footfall.wire.jsonapi import invalid
from footfall.domain.limits import SEGMENTS_BODY_BYTES as BODY_LIMIT
from footfall.domain.limits import GROUP_PAGE_SIZE

DEFINITION_POINTER = "/data/attributes/definition"


async def list_segments(request: Request) -> Response:
    grant = await private_key(request, "segments", "read")
    counts = segment_list_routes.with_counts(request, "segments")
    after = segment_list_routes.cursor_position(request)
    rows = await services(request).read(lambda conn: segment_list_rows.segments(conn, grant.account_id))
    rows = [r for r in rows if after is None or (r["created"], r["id"]) > after][:GROUP_PAGE_SIZE + 1]
    if counts:
        rows = await segment_list_routes.counted(request, grant.account_id, rows)
    return segment_list_routes.paged(request, rows, resources.segment, GROUP_PAGE_SIZE)


async def create_segment(request: Request) -> Response:
    grant = await private_key(request, "segments", "write")
    body, _ = await json_body(request, BODY_LIMIT)
    attributes = segment_list_routes.attributes_of(body, "segment")
    name = segment_list_routes.name_of(attributes, required=True)
    definition = _definition(attributes.get("definition"), required=True)
    result = await ingest.submit(request, SaveSegment(grant.account_id, None, name, definition), attributes_at=DEFINITION_POINTER)
    row = await _read(request, grant.account_id, result.group_id)
    return document(resources.segment(base_url(request), row), status=201)


async def get_segment(request: Request) -> Response:
    grant = await private_key(request, "segments", "read")
    counts = segment_list_routes.with_counts(request, "segments")
    row = await _read(request, grant.account_id, request.path_params["id"])
    if counts:
        [row] = await segment_list_routes.counted(request, grant.account_id, [row])
    return document(resources.segment(base_url(request), row), links={"self": str(request.url)})


async def update_segment(request: Request) -> Response:
    grant = await private_key(request, "segments", "write")
    sid = request.path_params["id"]
    body, _ = await json_body(request, BODY_LIMIT)
    attributes = segment_list_routes.attributes_of(body, "segment", require_id=sid)
    name = segment_list_routes.name_of(attributes, required=False)
    definition = _definition(attributes.get("definition"), required=False)
    await ingest.submit(request, SaveSegment(grant.account_id, sid, name, definition), attributes_at=DEFINITION_POINTER)
    row = await _read(request, grant.account_id, sid)
    return document(resources.segment(base_url(request), row))


async def delete_segment(request: Request) -> Response:
    grant = await private_key(request, "segments", "write")
    await ingest.submit(request, DeleteGroup(grant.account_id, "segment", request.path_params["id"]), attributes_at="/data/attributes")
    return no_content()


async def segment_member_relationships(request: Request) -> Response:
    grant = await private_key(request, "segments", "read")
    gid = request.path_params["id"]
    await _read(request, grant.account_id, gid)
    return await segment_list_routes.member_relationships(request, grant.account_id, gid)


async def segment_profiles(request: Request) -> Response:
    grant = await private_key(request, "segments", "read")
    sid = request.path_params["id"]
    await _read(request, grant.account_id, sid)
    return await segment_list_routes.members(request, grant.account_id, sid)


async def profile_segments(request: Request) -> Response:
    return await segment_list_routes.profile_groups(request, "segments")


async def profile_segments_relationships(request: Request) -> Response:
    return await segment_list_routes.profile_groups(request, "segments", ids_only=True)


def _definition(raw: Any, required: bool) -> dict[str, Any] | None:
    if raw is None and not required:
        return None
    try:
        segment_definitions.parse(raw)
    except InvalidInput as exc:
        raise invalid(exc.detail, pointer=f"{DEFINITION_POINTER}/{exc.path}".rstrip("/")) from None
    return raw


async def _read(request: Request, account_id: str, segment_id: str) -> dict[str, Any]:
    row = await services(request).read(lambda conn: segment_list_rows.segment(conn, account_id, segment_id))
    if row is None:
        raise ApiError(404, "not_found", "No segment with that id in this account.")
    return row


routes = [
    *api_route("/api/segments", list_segments, ["GET"]),
    *api_route("/api/segments", create_segment, ["POST"]),
    *api_route("/api/segments/{id}", get_segment, ["GET"]),
    *api_route("/api/segments/{id}", update_segment, ["PATCH"]),
    *api_route("/api/segments/{id}", delete_segment, ["DELETE"]),
    *api_route("/api/segments/{id}/profiles", segment_profiles, ["GET"]),
    *api_route("/api/segments/{id}/relationships/profiles", segment_member_relationships, ["GET"]),
    *api_route("/api/profiles/{id}/segments", profile_segments, ["GET"]),
    *api_route("/api/profiles/{id}/relationships/segments", profile_segments_relationships, ["GET"]),
]
