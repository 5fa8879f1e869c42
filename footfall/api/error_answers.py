"""Refusals as JSON:API answers on either path, and the app's exception handlers: a refusal answered
through the table of footfall/refusals.py, 404 / 405 under /api and /client as JSON:API, anything else 500.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from footfall.api.app_state import services
from footfall.api.fastpath import Incoming, Reply, raw_headers, response_of
from footfall.observability.requests import note_refusal
from footfall.refusals import ANSWERS, ApiError, InternalError, Refusal, as_api_error
from footfall.wire.jsonapi import MEDIA_TYPE, errors_body

log = logging.getLogger("footfall.api")
_MEDIA_TYPE = MEDIA_TYPE.encode()


def error_reply(exc: ApiError) -> Reply:
    """The JSON:API error document of `exc`, on either path."""
    return Reply(exc.status, errors_body([exc]), _MEDIA_TYPE, raw_headers(exc.headers))


def answerable(exc: BaseException) -> bool:
    """Whether `exc` has a JSON:API answer: an ApiError, or a refusal with a row in the table."""
    return isinstance(exc, ApiError) or (isinstance(exc, Refusal) and any(c in ANSWERS for c in type(exc).__mro__))


def refusal_reply(request: Incoming, exc: Refusal) -> Reply:
    """The JSON:API answer of a refusal (footfall/refusals.py's table), noted for the access line."""
    err = as_api_error(exc, services(request).settings.retry_after_seconds)
    note_refusal(request.scope, err.code)
    return error_reply(err)


async def refusal_handler(request: Request, exc: Exception) -> Response:
    """Starlette's path: a refusal no route answered itself (ApiError, an unreachable store, ...)."""
    if not answerable(exc):
        return await server_error_handler(request, exc)
    assert isinstance(exc, Refusal)
    return response_of(refusal_reply(request, exc))


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """404 / 405 under /api and /client as JSON:API errors; plain text elsewhere."""
    status = getattr(exc, "status_code", 500)
    headers = dict(getattr(exc, "headers", None) or {})
    note_refusal(request.scope, {404: "not_found", 405: "method_not_allowed"}.get(status, f"http_{status}"))
    if status == 405:  # Starlette names only the first matching route's methods
        headers["Allow"] = ", ".join(allowed_methods(request))
    if request.url.path.startswith(("/api/", "/client/")):
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "error")
        detail = {404: f"No route {request.url.path}.", 405: f"{request.method} is not allowed on {request.url.path}."}
        err = ApiError(status, code, detail.get(status, str(getattr(exc, "detail", ""))))
        return Response(errors_body([err]), status_code=status, media_type=MEDIA_TYPE, headers=headers)
    return Response(str(getattr(exc, "detail", "")), status_code=status, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this request's path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


async def disconnected_handler(request: Request, exc: Exception) -> Response:
    """The client went away mid-body: an ordinary event, one debug line; nobody reads the answer."""
    log.debug("client %s disconnected before its body arrived: %s %s",
              request.client.host if request.client else "?", request.method, request.url.path)
    return Response(b"", status_code=499)


async def server_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    err = as_api_error(InternalError(str(exc)), 0)  # the table's 500, as every surface answers a bug
    note_refusal(request.scope, err.code)
    return Response(errors_body([err]), status_code=err.status, media_type=MEDIA_TYPE)
