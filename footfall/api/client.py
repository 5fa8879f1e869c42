"""The client API (public key in ?company_id=, for browsers and apps): events, profiles, bulk, subscriptions.

Every success is 202 with an empty body, once committed. CORS is open (preflight included), and errors
are answered inside the CORS layer so a browser can read them. Public-key writes may add identifiers
to a profile but never change one it has (the decoders set may_replace_identifiers=False).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from footfall import clock
from footfall.api import conventions, ingest
from footfall.api.conventions import accepted, api_route, public_key
from footfall.api.fastpath import FastRoute
from footfall.api.services import services
from footfall.domain.models import TrackOp
from footfall.domain.operations import BulkEventsOp
from footfall.wire import modern_events, modern_profile, modern_subscriptions
from footfall.wire.jsonapi import ApiError

METRIC_NAME = "data.attributes.metric.data.attributes.name"


async def create_event(request: Request) -> Response:
    account, body, size = await _document(request)
    settings = services(request).settings
    with ingest.decoding():
        profile, event = modern_events.decode_event(body, settings.limits, clock.now(), private=False,
                                                    phone_region=settings.default_phone_region)
    op = TrackOp(account_id=account.id, profile=profile, event=event, size=size)
    await ingest.submit(request, op, size, paths={"event": METRIC_NAME},
                        not_found_pointer="/data/attributes/profile/data/id")
    return accepted()


async def create_profile(request: Request) -> Response:
    account, body, size = await _document(request)
    settings = services(request).settings
    with ingest.decoding():
        data = modern_events.resource(body, "data", "profile")
        patch = modern_profile.decode(data, "data", settings.limits, private=False,
                                      phone_region=settings.default_phone_region)
    await ingest.submit(request, TrackOp(account_id=account.id, profile=patch, size=size), size,
                        not_found_pointer="/data/id")
    return accepted()


async def bulk_create(request: Request) -> Response:
    account, body, size = await _document(request)
    settings = services(request).settings
    with ingest.decoding():
        entry = modern_events.decode_client_bulk(body, settings.limits, clock.now(),
                                                 phone_region=settings.default_phone_region)
    result = await ingest.submit(request, BulkEventsOp(account_id=account.id, entries=[entry], size=size), size)
    if result.failed:  # one entry: its refusal is the request's (an unknown profile id, the metric limit)
        raise ApiError(400, "invalid", result.errors[0]["detail"], pointer="/data/attributes/profile/data")
    return accepted()


async def subscribe(request: Request) -> Response:
    account, body, size = await _document(request)
    settings = services(request).settings
    with ingest.decoding():
        patch = modern_subscriptions.decode(body, settings.limits, clock.now(),
                                            phone_region=settings.default_phone_region)
    await ingest.submit(request, TrackOp(account_id=account.id, profile=patch, size=size), size,
                        not_found_pointer="/data/attributes/profile/data/id")
    return accepted()


async def _document(request: Request) -> tuple[Any, Any, int]:
    account = await public_key(request)
    body, size = await ingest.body(request)
    return account, body, size


Endpoint = Callable[[Request], Awaitable[Response]]
_CORS = [Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["POST", "OPTIONS"], allow_headers=["*"],
                    max_age=86400)]


def _answer_errors_here(endpoint: Endpoint) -> Endpoint:
    """Render ApiError inside the CORS middleware, so the error carries Access-Control-Allow-Origin."""

    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ApiError as exc:
            return await conventions.api_error_handler(request, exc)

    wrapped.__name__ = endpoint.__name__
    return wrapped


def _client_routes(path: str, endpoint: Endpoint) -> list[Route]:
    return [Route(route.path, _answer_errors_here(route.endpoint), methods=["POST", "OPTIONS"], middleware=_CORS)
            for route in api_route(path, endpoint, ["POST"])]


routes = [
    *_client_routes("/client/events", create_event),
    *_client_routes("/client/profiles", create_profile),
    *_client_routes("/client/event-bulk-create", bulk_create),
    *_client_routes("/client/subscriptions", subscribe),
]
# POSTs are answered by the fast path ahead of Starlette's router, with the same endpoints (revision
# check and error rendering included) and CORS headers; preflights still go through Starlette.
fast_routes = [FastRoute(route.path, endpoint=route.endpoint, methods=("POST",))
               for route in routes if not route.path.endswith("/")]
