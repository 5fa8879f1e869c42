"""Server event writes: POST /api/events and bulk jobs (POST/GET /api/event-bulk-create-jobs).

202 means committed: the handler waits for the group commit that contains the event(s).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from footfall import clock, ids
from footfall.api import ingest
from footfall.api.json_documents import accepted, base_url, document
from footfall.api.modern_routes import api_handler, api_route, twin_routes
from footfall.api.request_keys import private_key
from footfall.api.fastpath import FastRoute, RawRequest, Reply, starlette_endpoint
from footfall.api.app_state import services
from footfall.domain.models import TrackOp
from footfall.domain.operations import BulkEventsOp
from footfall.store import bulk_events
from footfall.wire import modern_events
from footfall.refusals import ApiError
from footfall.wire.resources import bulk_job

METRIC_NAME = "data.attributes.metric.data.attributes.name"


async def create_event(request: RawRequest) -> Reply:
    grant = await private_key(request, "events", "write")
    svc = services(request)
    body, size = await ingest.body(request)
    with ingest.decoding():
        profile, event = modern_events.decode_event(body, svc.settings.limits, clock.now(), private=True,
                                                    phone_region=svc.settings.default_phone_region)
    op = TrackOp(account_id=grant.account_id, profile=profile, event=event, size=size)
    await ingest.submit(request, op, size, paths={"event": METRIC_NAME},
                        not_found_pointer="/data/attributes/profile/data/id")
    return accepted()


async def create_bulk_job(request: Request) -> Response:
    grant = await private_key(request, "events", "write")
    svc = services(request)
    body, size = await ingest.body(request)
    with ingest.decoding():
        entries = modern_events.decode_bulk_job(body, svc.settings.limits, clock.now(),
                                                phone_region=svc.settings.default_phone_region)
    op = BulkEventsOp(account_id=grant.account_id, entries=entries, job_id=ids.new_ulid(), size=size)
    await ingest.submit(request, op, size)
    return await _job_document(request, grant.account_id, op.job_id, status=202)


async def get_bulk_job(request: Request) -> Response:
    grant = await private_key(request, "events", "read")
    return await _job_document(request, grant.account_id, request.path_params["job_id"], status=200)


async def _job_document(request: Request, account_id: str, job_id: str, *, status: int) -> Response:
    job = await services(request).read(lambda conn: bulk_events.get_job(conn, account_id, job_id))
    if job is None:
        raise ApiError(404, "not_found", "No event bulk create job with that id in this account.")
    return document(bulk_job(base_url(request), job), status=status)


# The single-event POST is answered by the fast path ahead of Starlette's router; Starlette's routes
# serve the same handler should a POST reach them (and answer other methods on the path).
_create_event = api_handler("/api/events", create_event, ["POST"])
routes = [
    *twin_routes("/api/events", starlette_endpoint(_create_event), ["POST"]),
    *api_route("/api/event-bulk-create-jobs", create_bulk_job, ["POST"]),
    *api_route("/api/event-bulk-create-jobs/{job_id}", get_bulk_job, ["GET"]),
]
fast_routes = [FastRoute("/api/events", _create_event, methods=("POST",), cors=False)]
