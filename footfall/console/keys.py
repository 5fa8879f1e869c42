"""Keys: the account's live keys (never a secret), creating one (its secret shown once, in the answer
to the POST, never in a URL) and revoking one, all through store/keys.py as `footfall keys` does.

Managing keys needs the accounts:write scope; a revoked key stops at once on every worker (the API's
key cache lives for under a second) and ends the console sessions opened with it (they join the key).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from footfall.api.app_state import services
from footfall.console import web
from footfall.domain import scopes as scope_rules
from footfall.store import keys as key_store
from footfall.domain.limits import KEY_NAME_CHARS

FAMILY = "accounts"


def _scope_summary(scopes: tuple[str, ...]) -> str:
    if set(scopes) == set(scope_rules.ALL_SCOPES):
        return "all"
    if set(scopes) == set(scope_rules.READ_ONLY):
        return "read-only"
    return ", ".join(scopes)


def _listed(info: key_store.KeyInfo) -> dict[str, Any]:
    return {"id": info.id, "name": info.name, "kind": info.kind, "scopes": _scope_summary(info.scopes),
            "prefix": info.prefix, "created": info.created, "last_used": info.last_used}


async def _render(request: Request, viewer: web.Viewer, status: int = 200, **extra: Any) -> Response:
    rows = await services(request).read(lambda conn: key_store.list_keys(conn, viewer.account_id))
    context: dict[str, Any] = {"created": None, "error": None, **extra}
    return web.page(request, "keys.html", viewer, status=status, keys=[_listed(k) for k in rows],
                    families=scope_rules.FAMILIES, **context)


async def key_list(request: Request) -> Response:
    viewer = await web.require_viewer(request, "accounts")
    return await _render(request, viewer)


async def create(request: Request) -> Response:
    viewer, form = await web.writer(request, FAMILY)
    name = web.field(form, "name").strip()
    kind = web.field(form, "kind", "private")
    if not name or len(name) > KEY_NAME_CHARS or kind not in key_store.KINDS:
        return await _render(request, viewer, status=400,
                             error=f"A key needs a name of 1 to {KEY_NAME_CHARS} characters and a kind (private or write).")
    chosen = tuple(s for s in scope_rules.ALL_SCOPES if s in set(form.get("scope", [])))
    if kind == "private" and not chosen:
        return await _render(request, viewer, status=400, error="Choose at least one scope for a private key.")
    scopes = chosen if kind == "private" else None
    made = await services(request).read(
        lambda conn: key_store.create_key(conn, viewer.account_id, name, scopes, kind))
    return await _render(request, viewer, status=201, created={"name": made.info.name, "secret": made.secret,
                                                               "kind": made.info.kind})


async def revoke(request: Request) -> Response:
    viewer, _ = await web.writer(request, FAMILY)
    key_id = request.path_params["id"]

    def run(conn) -> bool:
        try:
            key_store.revoke_key(conn, viewer.account_id, key_id)
        except key_store.KeyNotFound:
            return False
        return True

    if not await services(request).read(run):
        raise web.Refused(404, "There is no live key with that id in this account.")
    return web.redirect("/console/keys")
