"""Subscription jobs: POST /api/profile-subscription-bulk-create-jobs and -delete-jobs (SDK
subscribe_profiles / unsubscribe_profiles). 202 with an empty body, as Klaviyo answers, once committed.

Scopes as Klaviyo's: subscribe needs lists, profiles and subscriptions write; unsubscribe the same.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from footfall import clock
from footfall.api import ingest
from footfall.api.json_documents import accepted
from footfall.api.modern_routes import api_route
from footfall.api.request_keys import private_key
from footfall.api.fastpath import response_of
from footfall.api.app_state import services
from footfall.domain.operations import SubscriptionJobOp
from footfall.wire import subscription_jobs


async def subscribe_profiles(request: Request) -> Response:
    return await _job(request, subscribe=True)


async def unsubscribe_profiles(request: Request) -> Response:
    return await _job(request, subscribe=False)


async def _job(request: Request, *, subscribe: bool) -> Response:
    grant = await private_key(request, "subscriptions", "write")
    for family in ("profiles", "lists"):
        await private_key(request, family, "write")
    svc = services(request)
    body, size = await ingest.body(request)
    with ingest.decoding():
        entries, list_id = subscription_jobs.decode(body, clock.now(), subscribe=subscribe,
                                                    phone_region=svc.settings.default_phone_region)
    op = SubscriptionJobOp(account_id=grant.account_id, entries=entries, subscribe=subscribe, list_id=list_id,
                           size=size)
    await ingest.submit(request, op, size)
    return response_of(accepted())


routes = [
    *api_route("/api/profile-subscription-bulk-create-jobs", subscribe_profiles, ["POST"]),
    *api_route("/api/profile-subscription-bulk-delete-jobs", unsubscribe_profiles, ["POST"]),
]
