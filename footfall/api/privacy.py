"""Privacy routes: deletion jobs (Klaviyo's 202 with no body; Footfall adds Location and a GET) and
suppression bulk create / delete jobs (≤ 100 emails, or a list's or segment's members).

Each job is one pipeline operation: the 202 is sent after the commit that did all of the work, so a
deleted person is gone from every read when the caller gets the answer.
"""

from __future__ import annotations


from starlette.requests import Request
from starlette.responses import Response

from footfall import clock, ids
from footfall.api import ingest
from footfall.api.json_documents import base_url, document
from footfall.api.modern_routes import api_route
from footfall.api.request_keys import private_key
from footfall.api.app_state import services
from footfall.domain.privacy import DeleteProfilesOp, SuppressionOp
from footfall.store import jobs as job_store
from footfall.store import privacy as privacy_store
from footfall.wire import privacy as privacy_wire
from footfall.refusals import ApiError
from footfall.wire import params
from footfall.wire.resources import profile_job

DELETIONS = "/api/data-privacy-deletion-jobs"
SUPPRESS = "/api/profile-suppression-bulk-create-jobs"
UNSUPPRESS = "/api/profile-suppression-bulk-delete-jobs"


async def request_deletion(request: Request) -> Response:
    grant = await private_key(request, "data-privacy", "write")
    svc = services(request)
    body, size = await ingest.body(request)
    with ingest.decoding():
        kind, value = privacy_wire.deletion_identifier(body, svc.settings.default_phone_region)
    job_id = ids.new_ulid()
    # The id of the key that asked is kept in the deletion record (the key itself never is).
    op = DeleteProfilesOp(grant.account_id, job_id, kind, value, grant.key_id or None, clock.now(), size)
    await ingest.submit(request, op, size)
    location = f"{base_url(request)}{DELETIONS}/{job_id}/"
    return Response(b"", status_code=202, headers={"Location": location})


async def get_deletion(request: Request) -> Response:
    grant = await private_key(request, "data-privacy", "read")
    return await _job_answer(request, grant.account_id, privacy_store.DELETION_JOB, DELETIONS)


async def list_deletions(request: Request) -> Response:
    grant = await private_key(request, "data-privacy", "read")
    return await _job_page(request, grant.account_id, privacy_store.DELETION_JOB, DELETIONS)


async def suppress(request: Request) -> Response:
    return await _suppression(request, "create", privacy_store.SUPPRESS_JOB, SUPPRESS)


async def unsuppress(request: Request) -> Response:
    return await _suppression(request, "delete", privacy_store.UNSUPPRESS_JOB, UNSUPPRESS)


async def _suppression(request: Request, action: str, job_type: str, path: str) -> Response:
    grant = await private_key(request, "subscriptions", "write")
    body, size = await ingest.body(request)
    with ingest.decoding():
        emails, group_kind, group_id = privacy_wire.suppression_request(body, job_type)
    op = SuppressionOp(grant.account_id, ids.new_ulid(), action, emails, group_id, group_kind, size=size)
    await ingest.submit(request, op, size)
    return await _job_answer(request, grant.account_id, job_type, path, job_id=op.job_id, status=202)


async def get_suppress_job(request: Request) -> Response:
    grant = await private_key(request, "subscriptions", "read")
    return await _job_answer(request, grant.account_id, privacy_store.SUPPRESS_JOB, SUPPRESS)


async def get_unsuppress_job(request: Request) -> Response:
    grant = await private_key(request, "subscriptions", "read")
    return await _job_answer(request, grant.account_id, privacy_store.UNSUPPRESS_JOB, UNSUPPRESS)


async def list_suppress_jobs(request: Request) -> Response:
    grant = await private_key(request, "subscriptions", "read")
    return await _job_page(request, grant.account_id, privacy_store.SUPPRESS_JOB, SUPPRESS)


async def list_unsuppress_jobs(request: Request) -> Response:
    grant = await private_key(request, "subscriptions", "read")
    return await _job_page(request, grant.account_id, privacy_store.UNSUPPRESS_JOB, UNSUPPRESS)


# -- shared with the profile bulk import jobs -------------------------------------------------------

async def _job_answer(request: Request, account_id: str, kind: str, path: str, *, job_id: str | None = None,
                      status: int = 200) -> Response:
    job_id = job_id or request.path_params["job_id"]
    job = await services(request).read(lambda conn: job_store.get(conn, account_id, kind, job_id))
    if job is None:
        raise ApiError(404, "not_found", f"No {kind} with that id in this account.")
    return document(profile_job(base_url(request), path, job), status=status)


async def _job_page(request: Request, account_id: str, kind: str, path: str) -> Response:
    """Jobs oldest first (`sort=-created`: newest first), cursor pages of `page[size]` (default 20, max 100)."""
    query = request.query_params
    size = params.page_size(query, default=20, maximum=100)
    order = params.sort(query, ("created", "-created"), "created")
    position = params.position(query)
    after = str(position[0]) if position else None
    rows = await services(request).read(
        lambda conn: job_store.page(conn, account_id, kind, after=after, size=size + 1, descending=order == "-created"))
    more = len(rows) > size
    rows = rows[:size]
    base = base_url(request)
    links = params.links(base, path, list(query.multi_items()), [rows[-1]["id"]] if more else None, None)
    return document([profile_job(base, path, row) for row in rows], links=links)


routes = [
    *api_route(DELETIONS, request_deletion, ["POST"]),
    *api_route(DELETIONS, list_deletions, ["GET"], name="list_deletions"),
    *api_route(f"{DELETIONS}/{{job_id}}", get_deletion, ["GET"]),
    *api_route(SUPPRESS, suppress, ["POST"]),
    *api_route(SUPPRESS, list_suppress_jobs, ["GET"], name="list_suppress_jobs"),
    *api_route(f"{SUPPRESS}/{{job_id}}", get_suppress_job, ["GET"]),
    *api_route(UNSUPPRESS, unsuppress, ["POST"]),
    *api_route(UNSUPPRESS, list_unsuppress_jobs, ["GET"], name="list_unsuppress_jobs"),
    *api_route(f"{UNSUPPRESS}/{{job_id}}", get_unsuppress_job, ["GET"]),
]
