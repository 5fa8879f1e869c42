"""What every console page shares: templates, security headers, the signed-in session, CSRF, forms.

Pages are server-rendered Jinja2 (autoescaped). Every answer carries a strict Content-Security-Policy
(scripts and styles only from this origin, no inline code), X-Frame-Options DENY and no-store. The
session cookie names a row of console_sessions (HttpOnly, SameSite=Strict); every writing form carries
the session's CSRF token, and a write the session's key has no scope for is a 403.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from footfall.api.body import read_limited
from footfall.refusals import ConsoleRefused as Refused, NotSignedIn, TooLarge
from footfall.api.app_state import services
from footfall.domain import scopes as scope_rules
from footfall.store import console_sessions
from footfall.store.console_sessions import Session
from footfall.timefmt import iso
from footfall.domain.limits import CONSOLE_FORM_BYTES as FORM_LIMIT

WEB = Path(__file__).resolve().parent.parent / "web"
COOKIE = "footfall_console"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(WEB / "templates")),
    autoescape=jinja2.select_autoescape(default=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["iso"] = lambda s: iso(s) if s is not None else ""
templates.filters["when"] = lambda s: (iso(s) or "")[:19].replace("T", " ") if s is not None else ""


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: their account, the key's scopes, and the session's CSRF token."""

    session: Session

    @property
    def account_id(self) -> str:
        return self.session.account_id

    def can(self, family: str, mode: str = "read") -> bool:
        return scope_rules.allows(self.session.scopes, family, mode)

    @property
    def read_only(self) -> bool:
        return not any(s.endswith(":write") for s in self.session.scopes)


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def page(request: Request, template: str, viewer: Viewer | None, status: int = 200, **context: Any) -> Response:
    html = templates.get_template(template).render(request=request, viewer=viewer, nav=template.split(".")[0],
                                                   **context)
    return secure(HTMLResponse(html, status_code=status))


def json_reply(data: Any, status: int = 200) -> Response:
    return secure(JSONResponse(data, status_code=status))


def to_signin() -> Response:
    return secure(RedirectResponse("/console/signin", status_code=303))


def redirect(url: str) -> Response:
    return secure(RedirectResponse(url, status_code=303))


def cookie_parts(request: Request) -> tuple[str, str] | None:
    raw = request.cookies.get(COOKIE, "")
    account_id, _, secret = raw.partition(".")
    if not (0 < len(account_id) <= 26 and account_id.isalnum() and 0 < len(secret) <= 128 and secret.isascii()):
        return None
    if not all(c.isalnum() or c in "-_" for c in secret):
        return None
    return account_id, secret


async def viewer_of(request: Request) -> Viewer | None:
    """The session named by the cookie, if it is live (looked up in the database on every request)."""
    parts = cookie_parts(request)
    if parts is None:
        return None
    session = await services(request).read(lambda conn: console_sessions.find_session(conn, *parts))
    return Viewer(session) if session else None


async def require_viewer(request: Request, family: str | None = None) -> Viewer:
    """The signed-in viewer, whose key must be able to read `family` (as the API's routes require)."""
    viewer = await viewer_of(request)
    if viewer is None:
        raise NotSignedIn()
    if family is not None and not viewer.can(family, "read"):
        raise Refused(403, f"This console was opened with a key that lacks the {family}:read scope.")
    return viewer


async def form_of(request: Request) -> dict[str, list[str]]:
    """An application/x-www-form-urlencoded body, size-capped (keys and values as lists)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise Refused(415, "Send the form as application/x-www-form-urlencoded.")
    try:
        raw = await read_limited(request, FORM_LIMIT)
    except TooLarge:
        raise Refused(413, f"The form is larger than {FORM_LIMIT} bytes.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "The form is not UTF-8.") from None
    if "\x00" in text or "%00" in text:
        raise Refused(400, "The form contains a NUL character.")
    return parse_qs(text, keep_blank_values=True, max_num_fields=2000)


def field(form: dict[str, list[str]], name: str, default: str = "") -> str:
    values = form.get(name)
    return values[0] if values else default


def check_csrf(viewer: Viewer, token: str | None) -> None:
    if not token or not hmac.compare_digest(token.encode(), viewer.session.csrf.encode()):
        raise Refused(403, "The form's CSRF token is missing or stale; reload the page and try again.")


async def writer(request: Request, family: str) -> tuple[Viewer, dict[str, list[str]]]:
    """A signed-in viewer allowed to write `family`, and the form they posted (CSRF checked)."""
    viewer = await require_viewer(request)
    form = await form_of(request)
    check_csrf(viewer, field(form, "csrf"))
    if not viewer.can(family, "write"):
        raise Refused(403, f"This console was opened with a key that lacks the {family}:write scope.")
    return viewer, form


async def read_json(request: Request, limit: int) -> Any:
    """A script's JSON body (size-capped); refusals as InvalidInput so callers answer them inline."""
    from footfall.refusals import InvalidInput
    import json

    try:
        raw = await read_limited(request, limit)
    except TooLarge:
        raise InvalidInput(f"the request is larger than {limit} bytes", "") from None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the request is not JSON ({exc})", "") from None
    if "\\u0000" in raw.decode("utf-8", "replace") or b"\x00" in raw:
        raise InvalidInput("the request contains a NUL character", "")
    return value
