"""What the modern read routes (events, profiles, metrics) share: scoped reads, filters, pages, documents."""

from __future__ import annotations

from typing import Any, Callable, Mapping, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from footfall.api.json_documents import base_url, document
from footfall.api.request_keys import private_key
from footfall.api.app_state import services
from footfall.refusals import ApiError, InvalidInput, as_api_error
from footfall.store.conn import Conn
from footfall.store.queries import paging
from footfall.store.queries.paging import Slice, Window
from footfall.wire import filters, params
from footfall.domain.limits import RESOURCE_ID_CHARS

T = TypeVar("T")


async def account_for(request: Request, family: str) -> str:
    """The account whose `family:read` key made this request (401 / 403 otherwise)."""
    grant = await private_key(request, family, "read")
    return grant.account_id


async def read(request: Request, fn: Callable[[Conn], T]) -> T:
    """fn(conn) on a read connection; a store complaint about a parameter becomes a 400 naming it."""
    try:
        return await services(request).read(fn)
    except InvalidInput as exc:
        raise as_api_error(exc, 0, detail=f"{exc.path} {exc.detail}" if exc.path else exc.detail,
                           parameter=exc.path or None) from None


def checked_filters(request: Request, whitelist: Mapping[str, filters.FieldRule]) -> list[filters.Checked]:
    text = request.query_params.get("filter")
    if text is None or text == "":
        return []
    return filters.validate(text, whitelist)


def window(request: Request, default: int, maximum: int) -> Window:
    query = request.query_params
    return paging.Window(params.page_size(query, default, maximum), params.position(query))


def collection(request: Request, data: list[dict[str, Any]], page: Slice,
               included: list[dict[str, Any]] | None = None) -> Response:
    links = params.links(base_url(request), request.url.path, request.query_params.multi_items(),
                         page.next, page.prev)
    return document(data, links=links, included=included)


def single(request: Request, data: dict[str, Any] | None, included: list[dict[str, Any]] | None = None) -> Response:
    return document(data, links={"self": str(base_url(request) + request.url.path)}, included=included)


def path_id(request: Request, kind: str) -> str:
    """The {id} of the path; one no row could have (NUL, overlong) is a 404 without asking the store."""
    ident = request.path_params["id"]
    if "\0" in ident or len(ident) > RESOURCE_ID_CHARS:
        raise not_found(kind, ident)
    return ident


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", f"No {kind} with that id in this account.")
