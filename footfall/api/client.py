"""The client API (public key in ?company_id=, for browsers and apps): events, profiles, bulk, subscriptions.

Every success is 202 with an empty body, once committed, except an onsite profile call (header
`X-Klaviyo-Onsite: 1`, as Klaviyo's onsite script and Footfall's send it): 200 with the profile's
exchange id in `meta`, as Klaviyo answers it. CORS is open (preflight included), and errors
are answered inside the CORS layer so a browser can read them. Public-key writes may add identifiers
to a profile but never change one it has (the decoders set may_replace_identifiers=False).
"""

from __future__ import annotations

from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

import msgspec

from footfall import clock, ids
from footfall.api import ingest
from footfall.api.client_address import client_ip
from footfall.api.json_documents import accepted
from footfall.api.modern_routes import api_handler, twin_routes
from footfall.api.request_keys import public_key
from footfall.api.fastpath import FastRoute, Handler, RawRequest, Reply, starlette_endpoint
from footfall.api.app_state import services
from footfall.domain import onsite
from footfall.domain.models import TrackOp
from footfall.domain.operations import BulkEventsOp
from footfall.wire import modern_events, modern_profile, modern_subscriptions
from footfall.refusals import InvalidInput, NotFound, as_api_error

METRIC_NAME = "data.attributes.metric.data.attributes.name"
_encode = msgspec.json.Encoder().encode


async def create_event(request: RawRequest) -> Reply:
    account, body, size = await _document(request)
    settings = services(request).settings
    with ingest.decoding():
        profile, event = modern_events.decode_event(body, settings.limits, clock.now(), private=False,
                                                    phone_region=settings.default_phone_region)
    onsite.locate_by_ip(profile, event.properties, client_ip(request))
    op = TrackOp(account_id=account.id, profile=profile, event=event, size=size)
    await ingest.submit(request, op, size, paths={"event": METRIC_NAME},
                        not_found_pointer="/data/attributes/profile/data/id")
    return accepted()


async def create_profile(request: RawRequest) -> Reply:
    account, body, size = await _document(request)
    settings = services(request).settings
    with ingest.decoding():
        data = modern_events.resource(body, "data", "profile")
        patch = modern_profile.decode(data, "data", settings.limits, private=False,
                                      phone_region=settings.default_phone_region)
    onsite_call = request.headers.get("x-klaviyo-onsite", "").strip() == "1"
    if onsite_call:
        patch.mint_exchange_id = ids.new_exchange_id(account.public_key)
    result = await ingest.submit(request, TrackOp(account_id=account.id, profile=patch, size=size), size,
                                 not_found_pointer="/data/id")
    if onsite_call:  # Klaviyo's onsite script keeps the exchange id of this answer in its cookie
        return Reply(200, _encode({"meta": {"exchange_id": result.exchange_id, "should_clear_cookie": False}}),
                     b"application/json", [])
    return accepted()


async def bulk_create(request: RawRequest) -> Reply:
    account, body, size = await _document(request)
    settings = services(request).settings
    with ingest.decoding():
        entry = modern_events.decode_client_bulk(body, settings.limits, clock.now(),
                                                 phone_region=settings.default_phone_region)
    for event in entry.events:
        onsite.locate_by_ip(entry.profile, event.properties, client_ip(request))
    result = await ingest.submit(request, BulkEventsOp(account_id=account.id, entries=[entry], size=size), size)
    if result.failed:  # one entry: its refusal is the request's, answered as /client/events answers it
        refusal = result.errors[0]
        if refusal.get("status") == 404:  # the profile's id names no profile of this account
            raise as_api_error(NotFound(refusal["detail"]), 0, pointer="/data/attributes/profile/data/id")
        raise as_api_error(InvalidInput(refusal["detail"]), 0, pointer="/data/attributes/profile/data")
    return accepted()


async def subscribe(request: RawRequest) -> Reply:
    account, body, size = await _document(request)
    settings = services(request).settings
    with ingest.decoding():
        patch = modern_subscriptions.decode(body, settings.limits, clock.now(),
                                            phone_region=settings.default_phone_region)
    await ingest.submit(request, TrackOp(account_id=account.id, profile=patch, size=size), size,
                        not_found_pointer="/data/attributes/profile/data/id")
    return accepted()


async def _document(request: RawRequest) -> tuple[Any, Any, int]:
    account = await public_key(request)
    body, size = await ingest.body(request)
    return account, body, size


_CORS = [Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["POST", "OPTIONS"], allow_headers=["*"],
                    max_age=86400)]


def _client_routes(path: str, endpoint: Handler) -> tuple[list[Route], FastRoute]:
    """POST is answered by the fast path ahead of Starlette's router (errors rendered by the handler,
    open-CORS headers added by the fast path); Starlette's routes answer preflights through its CORS
    middleware, and serve the same handler should a POST reach them."""
    handler = api_handler(path, endpoint, ["POST"])
    routes = twin_routes(path, starlette_endpoint(handler), ["POST", "OPTIONS"], middleware=_CORS)
    return routes, FastRoute(path, handler, methods=("POST",))


_served = [
    _client_routes("/client/events", create_event),
    _client_routes("/client/profiles", create_profile),
    _client_routes("/client/event-bulk-create", bulk_create),
    _client_routes("/client/subscriptions", subscribe),
]
routes = [route for starlette_routes, _ in _served for route in starlette_routes]
fast_routes = [fast for _, fast in _served]
