"""Sign-in with a private key (POST form, never a URL), and sign-out, which deletes the session row."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from footfall.api.app_state import services
from footfall.console import web
from footfall.store import console_sessions


async def signin_form(request: Request) -> Response:
    if await web.viewer_of(request) is not None:
        return web.redirect("/")
    return web.page(request, "signin.html", None, error=None)


async def signin(request: Request) -> Response:
    form = await web.form_of(request)
    key = web.field(form, "key").strip()
    opened = None
    if key.startswith("pk_") and 3 < len(key) <= 128 and key.isascii() and key.replace("_", "").isalnum():
        opened = await services(request).read(lambda conn: console_sessions.open_session(conn, key))
    if opened is None:
        return web.page(request, "signin.html", None, status=401,
                        error="That is not a private key of any account on this server (keys start with pk_).")
    account_id, secret = opened
    response = web.redirect("/")
    response.set_cookie(web.COOKIE, f"{account_id}.{secret}", max_age=console_sessions.LIFETIME_SECONDS,
                        path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


async def signout(request: Request) -> Response:
    viewer = await web.require_viewer(request)
    form = await web.form_of(request)
    web.check_csrf(viewer, web.field(form, "csrf"))
    await services(request).read(
        lambda conn: console_sessions.end_session(conn, viewer.account_id, viewer.session.session_hash))
    response = web.to_signin()
    response.delete_cookie(web.COOKIE, path="/", httponly=True, samesite="strict")
    return response
