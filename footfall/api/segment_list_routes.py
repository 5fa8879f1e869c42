"""What the segment and list routes share: rendering, member listings, and a profile's segments and lists."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from footfall.api.json_documents import base_url, document
from footfall.api.request_keys import private_key
from footfall.api.app_state import services
from footfall.domain.segment_definitions import parse_date
from footfall.store import segment_list_rows
from footfall.timefmt import iso
from footfall.wire import member_filter, params, resources
from footfall.wire.jsonapi import decode_cursor, encode_cursor, invalid
from footfall.refusals import ApiError
from footfall.domain.limits import GROUP_NAME_CHARS, MEMBER_PAGE_DEFAULT, MEMBER_PAGE_MAX

IDENTIFIER_FIELDS = ("profile_id", "email", "phone_number", "external_id")
TIME_OPS = ("equals", "greater-than", "greater-or-equal", "less-than", "less-or-equal")


def paged(request: Request, rows: list[dict[str, Any]], render: Any, size: int) -> Response:
    """Rows were read with limit size+1 after the cursor; links.next is absolute when there is more."""
    base = base_url(request)
    more = len(rows) > size
    rows = rows[:size]
    links: dict[str, Any] = {"self": str(request.url), "next": None, "prev": None}
    if more:
        last = rows[-1]
        cursor = encode_cursor(last.get("joined_at", last["created"]), last["id"])
        query = {k: v for k, v in request.query_params.items() if k != "page[cursor]"}
        query["page[cursor]"] = cursor
        links["next"] = f"{base}{request.url.path}?{urlencode(query)}"
    return document([render(base, row) for row in rows], links=links)


def cursor_position(request: Request) -> tuple[float, str] | None:
    raw = request.query_params.get("page[cursor]")
    if not raw:
        return None
    position = decode_cursor(raw)
    if len(position) != 2 or not isinstance(position[0], (int, float)) or not isinstance(position[1], str):
        raise invalid(f"{raw!r} is not a cursor this server issued", parameter="page[cursor]")
    return float(position[0]), position[1]


async def members(request: Request, account_id: str, group_id: str) -> Response:
    """GET …/{id}/profiles: current members, with joined_group_at, filters, sort and cursor pages."""
    size = params.page_size(request.query_params, MEMBER_PAGE_DEFAULT, MEMBER_PAGE_MAX)
    extra = params.additional_fields(request.query_params, {"profile": resources.PROFILE_ADDITIONAL}).get(
        "profile", frozenset())
    conditions = member_conditions(request.query_params.get("filter"))
    sort = request.query_params.get("sort", "joined_group_at")
    if sort not in ("joined_group_at", "-joined_group_at"):
        raise invalid("sort must be joined_group_at or -joined_group_at", parameter="sort")
    after = cursor_position(request)
    rows = await services(request).read(lambda conn: segment_list_rows.members_page(
        conn, account_id, group_id, conditions=conditions, descending=sort.startswith("-"), after=after,
        limit=size + 1))
    return paged(request, rows, lambda base, row: member_resource(base, row, extra), size)


def member_resource(base: str, row: dict[str, Any], extra: frozenset[str] = frozenset()) -> dict[str, Any]:
    out = resources.profile(base, row, extra)
    out["attributes"]["joined_group_at"] = iso(row["joined_at"])
    return out


async def member_relationships(request: Request, account_id: str, group_id: str) -> Response:
    """GET …/{id}/relationships/profiles: the current members' {type, id}, in cursor pages."""
    size = params.page_size(request.query_params, MEMBER_PAGE_DEFAULT, MEMBER_PAGE_MAX)
    after = cursor_position(request)
    rows = await services(request).read(lambda conn: segment_list_rows.member_ids_page(
        conn, account_id, group_id, after=after, limit=size + 1))
    return paged(request, rows, lambda base, row: {"type": "profile", "id": row["id"]}, size)


def with_counts(request: Request, family: str) -> bool:
    """additional-fields[segment|list]=profile_count asked for? (any other value is a 400)"""
    kind = family[:-1]
    return "profile_count" in params.additional_fields(request.query_params, {kind: ("profile_count",)}).get(
        kind, frozenset())


async def counted(request: Request, account_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with profile_count, their current number of members."""
    counts = await services(request).read(lambda conn: segment_list_rows.member_counts(conn, account_id, [r["id"] for r in rows]))
    return [{**row, "profile_count": counts[row["id"]]} for row in rows]


def member_conditions(text: str | None) -> list[tuple[str, str, Any]]:
    if not text:
        return []
    out = []
    for op, fld, value in member_filter.parse(text):
        if fld in IDENTIFIER_FIELDS and op in ("equals", "any"):
            values = value if op == "any" else [value]
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                raise invalid(f"{op}({fld},…) needs {'a list of strings' if op == 'any' else 'a string'}",
                              parameter="filter")
            out.append((fld, op, value))
        elif fld == "joined_group_at" and op in TIME_OPS:
            moment = parse_date(value) if isinstance(value, str) else None
            if moment is None:
                raise invalid(f"{op}(joined_group_at,…) needs a datetime such as 2024-01-01T00:00:00Z",
                              parameter="filter")
            out.append((fld, op, moment))
        else:
            raise invalid(f"filter {op}({fld},…) is not supported here; use equals/any on "
                          f"{', '.join(IDENTIFIER_FIELDS)} or comparisons on joined_group_at", parameter="filter")
    return out


def attributes_of(body: Any, kind: str, *, require_id: str | None = None) -> dict[str, Any]:
    """body.data.attributes of a {"data": {"type": kind, ...}} document, checked."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise invalid("the body must be {\"data\": {\"type\": …, \"attributes\": {…}}}", pointer="/data")
    if data.get("type") != kind:
        raise invalid(f"data.type must be {kind!r}", pointer="/data/type")
    if require_id is not None and data.get("id") != require_id:
        raise invalid(f"data.id must be {require_id!r}, the id in the path", pointer="/data/id")
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        raise invalid("data.attributes must be an object", pointer="/data/attributes")
    return attributes


def name_of(attributes: dict[str, Any], required: bool) -> str | None:
    name = attributes.get("name")
    if name is None and not required:
        return None
    if not isinstance(name, str) or not name.strip() or len(name) > GROUP_NAME_CHARS:
        raise invalid(f"name must be a non-empty string of at most {GROUP_NAME_CHARS} characters",
                      pointer="/data/attributes/name")
    return name


async def profile_groups(request: Request, family: str, *, ids_only: bool = False) -> Response:
    """GET /api/profiles/{id}/segments|lists (resources) and …/relationships/… (type and id only)."""
    grant = await private_key(request, family, "read")
    pid = request.path_params["id"]
    rows = await services(request).read(lambda conn: segment_list_rows.groups_of_profile(conn, grant.account_id, pid, family))
    if rows is None:
        raise ApiError(404, "not_found", "No profile with that id in this account.")
    if ids_only:
        data = [{"type": family[:-1], "id": row["id"]} for row in rows]
    else:
        render = resources.segment if family == "segments" else resources.group_list
        data = [render(base_url(request), row) for row in rows]
    return document(data, links={"self": str(request.url)})
