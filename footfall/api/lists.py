"""/api/lists: static lists, their members (added and removed explicitly), and a profile's lists."""

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
from footfall.domain.segment_list_ops import DeleteGroup, ListMembers, SaveList
from footfall.store import segment_list_rows
from footfall.wire.jsonapi import invalid
from footfall.refusals import ApiError
from footfall.domain.limits import LISTS_BODY_BYTES as BODY_LIMIT, LIST_MEMBERS_PER_REQUEST as MAX_PROFILES
from footfall.domain.limits import GROUP_PAGE_SIZE

async def list_lists(request: Request) -> Response:
    grant = await private_key(request, "lists", "read")
    counts = segment_list_routes.with_counts(request, "lists")
    after = segment_list_routes.cursor_position(request)
    rows = await services(request).read(lambda conn: segment_list_rows.lists(conn, grant.account_id))
    rows = [r for r in rows if after is None or (r["created"], r["id"]) > after][:GROUP_PAGE_SIZE + 1]
    if counts:
        rows = await segment_list_routes.counted(request, grant.account_id, rows)
    return segment_list_routes.paged(request, rows, resources.group_list, GROUP_PAGE_SIZE)


async def create_list(request: Request) -> Response:
    grant = await private_key(request, "lists", "write")
    body, _ = await json_body(request, BODY_LIMIT)
    name = segment_list_routes.name_of(segment_list_routes.attributes_of(body, "list"), required=True)
    result = await ingest.submit(request, SaveList(grant.account_id, None, name), attributes_at="/data/attributes")
    row = await _read(request, grant.account_id, result.group_id)
    return document(resources.group_list(base_url(request), row), status=201)


async def get_list(request: Request) -> Response:
    grant = await private_key(request, "lists", "read")
    counts = segment_list_routes.with_counts(request, "lists")
    row = await _read(request, grant.account_id, request.path_params["id"])
    if counts:
        [row] = await segment_list_routes.counted(request, grant.account_id, [row])
    return document(resources.group_list(base_url(request), row), links={"self": str(request.url)})


async def update_list(request: Request) -> Response:
    grant = await private_key(request, "lists", "write")
    lid = request.path_params["id"]
    body, _ = await json_body(request, BODY_LIMIT)
    name = segment_list_routes.name_of(segment_list_routes.attributes_of(body, "list", require_id=lid), required=True)
    await ingest.submit(request, SaveList(grant.account_id, lid, name), attributes_at="/data/attributes")
    row = await _read(request, grant.account_id, lid)
    return document(resources.group_list(base_url(request), row))


async def delete_list(request: Request) -> Response:
    grant = await private_key(request, "lists", "write")
    await ingest.submit(request, DeleteGroup(grant.account_id, "list", request.path_params["id"]), attributes_at="/data/attributes")
    return no_content()


async def add_profiles(request: Request) -> Response:
    return await _change_members(request, add=True)


async def remove_profiles(request: Request) -> Response:
    return await _change_members(request, add=False)


async def _change_members(request: Request, *, add: bool) -> Response:
    """Committed (and segments that name the list queued for re-checking) before the 204."""
    grant = await private_key(request, "lists", "write")
    body, _ = await json_body(request, BODY_LIMIT)
    profile_ids = _profile_refs(body)
    await ingest.submit(request, ListMembers(grant.account_id, request.path_params["id"], profile_ids, add), attributes_at="")
    return no_content()


def _profile_refs(body: Any) -> list[str]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not data:
        raise invalid('the body must be {"data": [{"type": "profile", "id": …}, …]}', pointer="/data")
    if len(data) > MAX_PROFILES:
        raise invalid(f"at most {MAX_PROFILES} profiles per request", pointer="/data")
    ids = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or item.get("type") != "profile":
            raise invalid('each entry must be {"type": "profile", "id": …}', pointer=f"/data/{i}/type")
        pid = item.get("id")
        if not isinstance(pid, str) or not pid:
            raise invalid("must be a profile id", pointer=f"/data/{i}/id")
        ids.append(pid)
    return ids


async def list_member_relationships(request: Request) -> Response:
    grant = await private_key(request, "lists", "read")
    gid = request.path_params["id"]
    await _read(request, grant.account_id, gid)
    return await segment_list_routes.member_relationships(request, grant.account_id, gid)


async def list_profiles(request: Request) -> Response:
    grant = await private_key(request, "lists", "read")
    lid = request.path_params["id"]
    await _read(request, grant.account_id, lid)
    return await segment_list_routes.members(request, grant.account_id, lid)


async def profile_lists(request: Request) -> Response:
    return await segment_list_routes.profile_groups(request, "lists")


async def profile_lists_relationships(request: Request) -> Response:
    return await segment_list_routes.profile_groups(request, "lists", ids_only=True)


async def _read(request: Request, account_id: str, list_id: str) -> dict[str, Any]:
    row = await services(request).read(lambda conn: segment_list_rows.list_row(conn, account_id, list_id))
    if row is None:
        raise ApiError(404, "not_found", "No list with that id in this account.")
    return row


routes = [
    *api_route("/api/lists", list_lists, ["GET"]),
    *api_route("/api/lists", create_list, ["POST"]),
    *api_route("/api/lists/{id}", get_list, ["GET"]),
    *api_route("/api/lists/{id}", update_list, ["PATCH"]),
    *api_route("/api/lists/{id}", delete_list, ["DELETE"]),
    *api_route("/api/lists/{id}/relationships/profiles", add_profiles, ["POST"]),
    *api_route("/api/lists/{id}/relationships/profiles", remove_profiles, ["DELETE"]),
    *api_route("/api/lists/{id}/profiles", list_profiles, ["GET"]),
    *api_route("/api/lists/{id}/relationships/profiles", list_member_relationships, ["GET"]),
    *api_route("/api/profiles/{id}/lists", profile_lists, ["GET"]),
    *api_route("/api/profiles/{id}/relationships/lists", profile_lists_relationships, ["GET"]),
]
