"""Lists: every list with its size, a list's members, and adding or removing a member by email
(through the same ListMembers operation as POST/DELETE /api/lists/{id}/relationships/profiles)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from footfall.api import ingest
from footfall.api.app_state import services
from footfall.console import web
from footfall.domain.segment_list_ops import ListMembers, SaveList
from footfall.store import segment_list_rows
from footfall.store.conn import Conn
from footfall.store.queries import profiles as profile_queries
from footfall.store.queries.paging import Window
from footfall.wire.filters import Checked
from footfall.refusals import ApiError
from footfall.domain.limits import GROUP_NAME_CHARS

MEMBER_PAGE = 50


async def list_index(request: Request) -> Response:
    viewer = await web.require_viewer(request, "lists")

    def read(conn: Conn) -> list[dict[str, Any]]:
        return [{**r, "members": segment_list_rows.member_count(conn, viewer.account_id, r["id"])}
                for r in segment_list_rows.lists(conn, viewer.account_id)]

    error = request.query_params.get("error")
    return web.page(request, "lists.html", viewer, lists=await services(request).read(read),
                    error=error[:200] if error else None)


async def create(request: Request) -> Response:
    viewer, form = await web.writer(request, "lists")
    name = web.field(form, "name").strip()
    if not name or len(name) > GROUP_NAME_CHARS:
        return web.redirect("/console/lists?error=" + quote(f"A list needs a name of 1 to {GROUP_NAME_CHARS} characters."))
    try:
        result = await ingest.submit(request, SaveList(viewer.account_id, None, name), attributes_at="/data/attributes")
    except ApiError as exc:
        raise web.Refused(exc.status, exc.detail) from None
    return web.redirect(f"/console/lists/{result.group_id}")


async def list_page(request: Request) -> Response:
    viewer = await web.require_viewer(request, "lists")
    lid = request.path_params["id"]

    def read(conn: Conn) -> dict[str, Any] | None:
        row = segment_list_rows.list_row(conn, viewer.account_id, lid)
        if row is None:
            return None
        members = segment_list_rows.members_page(conn, viewer.account_id, lid, descending=True, limit=MEMBER_PAGE)
        return {"list": row, "members": members, "count": segment_list_rows.member_count(conn, viewer.account_id, lid)}

    data = await services(request).read(read)
    if data is None:
        raise web.Refused(404, "There is no such list in this account.")
    message = request.query_params.get("message")
    error = request.query_params.get("error")
    return web.page(request, "list.html", viewer, message=message[:300] if message else None,
                    error=error[:300] if error else None, **data)


async def change_members(request: Request) -> Response:
    """Form fields: email, action=add|remove. Answered by a redirect to the list with what happened."""
    viewer, form = await web.writer(request, "lists")
    lid = request.path_params["id"]
    email = web.field(form, "email").strip().lower()
    action = web.field(form, "action")
    back = f"/console/lists/{lid}"
    if action not in ("add", "remove"):
        raise web.Refused(400, "action must be add or remove.")
    if not email or len(email) > 320:
        return web.redirect(back + "?error=" + quote("Give the email of a profile."))

    def owner(conn: Conn) -> str | None:
        rows = profile_queries.page(conn, viewer.account_id, [Checked("email", "equals", email)], "email", Window(1)).rows
        return rows[0]["id"] if rows else None

    pid = await services(request).read(owner)
    if pid is None:
        return web.redirect(back + "?error=" + quote(f"No profile has the email {email}."))
    try:
        await ingest.submit(request, ListMembers(viewer.account_id, lid, [pid], action == "add"), attributes_at="")
    except ApiError as exc:
        if exc.status == 404:
            raise web.Refused(404, "There is no such list in this account.") from None
        return web.redirect(back + "?error=" + quote(exc.detail))
    done = "added to" if action == "add" else "removed from"
    return web.redirect(back + "?message=" + quote(f"{email} {done} the list."))
