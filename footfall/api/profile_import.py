"""Profile bulk import jobs: POST /api/profile-bulk-import-jobs (≤ 10,000 profiles, ≤ 5 MB, each ≤ 100 KB),
the job resource, its import-errors, lists and profiles, and the jobs collection for polling.

A profile that cannot be decoded is an import error before the writer; one the store refuses (an
identifier held by another profile) is one after; the rest are imported. 202 means committed.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from footfall import ids
from footfall.api import ingest
from footfall.api.json_documents import base_url, document
from footfall.api.modern_routes import api_route
from footfall.api.request_keys import private_key
from footfall.api.privacy import _job_answer, _job_page
from footfall.api.app_state import services
from footfall.refusals import ApiError, InvalidInput
from footfall.domain.privacy import ImportEntry, ProfileBulkImportOp
from footfall.store import segment_list_rows
from footfall.store import jobs as job_store
from footfall.store.profile_import import IMPORT_JOB, import_error
from footfall.store.queries import profiles as profile_queries
from footfall.wire import modern_profile, params, resources
from footfall.wire.modern_events import _list, _object, resource
from footfall.domain.limits import IMPORT_PROFILE_BYTES as MAX_PROFILE_BYTES, IMPORT_PROFILES_PER_JOB as MAX_PROFILES

PATH = "/api/profile-bulk-import-jobs"
_PROFILES = "data.attributes.profiles.data"
_encode = msgspec.json.Encoder().encode


async def create_job(request: Request) -> Response:
    grant = await private_key(request, "profiles", "write")
    svc = services(request)
    body, size = await ingest.body(request)
    with ingest.decoding():
        items, list_ids = _request(body)
    entries: list[ImportEntry] = []
    errors: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"{_PROFILES}[{i}]"
        try:
            if len(_encode(item)) > MAX_PROFILE_BYTES:
                raise InvalidInput(f"a profile may be at most {MAX_PROFILE_BYTES // 1024} KB", where)
            patch = modern_profile.decode(item, where, svc.settings.limits, private=True,
                                          phone_region=svc.settings.default_phone_region)
        except InvalidInput as exc:
            errors.append(import_error(ingest.pointer(exc.path or where), exc, item))
            continue
        entries.append(ImportEntry(patch, ingest.pointer(where), item, modern_profile.cleared_identifiers(item)))
    op = ProfileBulkImportOp(grant.account_id, ids.new_ulid(), entries, list_ids, errors, len(items), size)
    await ingest.submit(request, op, size)
    return await _job_answer(request, grant.account_id, IMPORT_JOB, PATH, job_id=op.job_id, status=202)


def _request(body: Any) -> tuple[list[Any], list[str]]:
    data = resource(body, "data", "profile-bulk-import-job")
    attrs = _object(data.get("attributes"), "data.attributes", required=True)
    listing = _object(attrs.get("profiles"), "data.attributes.profiles", required=True)
    items = _list(listing.get("data"), _PROFILES)
    if not items:
        raise InvalidInput("at least one profile is required", _PROFILES)
    if len(items) > MAX_PROFILES:
        raise InvalidInput(f"at most {MAX_PROFILES} profiles per job, got {len(items)}", _PROFILES)
    rels = _object(data.get("relationships"), "data.relationships")
    list_ids: list[str] = []
    if rels.get("lists") is not None:
        refs = _list(_object(rels["lists"], "data.relationships.lists").get("data"), "data.relationships.lists.data")
        for i, ref in enumerate(refs):
            where = f"data.relationships.lists.data[{i}]"
            ref = _object(ref, where, required=True)
            if ref.get("type") != "list" or not isinstance(ref.get("id"), str) or not ref["id"]:
                raise InvalidInput('must be {"type": "list", "id": …}', where)
            if ref["id"] not in list_ids:
                list_ids.append(ref["id"])
    unknown = [k for k in rels if k != "lists"]
    if unknown:
        raise InvalidInput(f"unknown relationship {unknown[0]!r}", f"data.relationships.{unknown[0]}")
    return items, list_ids


async def get_job(request: Request) -> Response:
    grant = await private_key(request, "profiles", "read")
    return await _job_answer(request, grant.account_id, IMPORT_JOB, PATH)


async def list_jobs(request: Request) -> Response:
    grant = await private_key(request, "profiles", "read")
    return await _job_page(request, grant.account_id, IMPORT_JOB, PATH)


async def _job(request: Request, family: str) -> tuple[str, dict[str, Any]]:
    grant = await private_key(request, family, "read")
    job_id = request.path_params["job_id"]
    job = await services(request).read(lambda conn: job_store.get(conn, grant.account_id, IMPORT_JOB, job_id))
    if job is None:
        raise ApiError(404, "not_found", f"No {IMPORT_JOB} with that id in this account.")
    return grant.account_id, job


async def import_errors(request: Request) -> Response:
    """The job's per-record errors, pages of page[size] (default 20, max 100)."""
    _, job = await _job(request, "profiles")
    query = request.query_params
    size = params.page_size(query, default=20, maximum=100)
    position = params.position(query)
    start = int(position[0]) if position and str(position[0]).isdigit() else 0
    errors = job["details"].get("errors", [])
    chunk = errors[start:start + size]
    data = [{"type": "import-error", "id": f"{job['id']}-{start + i}", "attributes": err}
            for i, err in enumerate(chunk)]
    base = base_url(request)
    nxt = [start + size] if start + size < len(errors) else None
    links = params.links(base, f"{PATH}/{job['id']}/import-errors", list(query.multi_items()), nxt, None)
    return document(data, links=links)


async def job_lists(request: Request) -> Response:
    account_id, job = await _job(request, "lists")
    list_ids = job["details"].get("lists", [])

    def read(conn: Any) -> list[dict[str, Any]]:
        return [row for row in (segment_list_rows.list_row(conn, account_id, lid) for lid in list_ids) if row]

    rows = await services(request).read(read)
    base = base_url(request)
    return document([resources.group_list(base, row) for row in rows])


async def job_list_ids(request: Request) -> Response:
    _, job = await _job(request, "lists")
    return document([{"type": "list", "id": lid} for lid in job["details"].get("lists", [])])


async def job_profiles(request: Request) -> Response:
    account_id, job = await _job(request, "profiles")
    page, links = _id_page(request, job)
    rows = await services(request).read(lambda conn: [profile_queries.one(conn, account_id, pid) for pid in page])
    base = base_url(request)
    return document([resources.profile(base, row) for row in rows if row is not None], links=links)


async def job_profile_ids(request: Request) -> Response:
    _, job = await _job(request, "profiles")
    page, links = _id_page(request, job)
    return document([{"type": "profile", "id": pid} for pid in page], links=links)


def _id_page(request: Request, job: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    query = request.query_params
    size = params.page_size(query, default=20, maximum=100)
    position = params.position(query)
    start = int(position[0]) if position and str(position[0]).isdigit() else 0
    ids_ = job["details"].get("profiles", [])
    nxt = [start + size] if start + size < len(ids_) else None
    links = params.links(base_url(request), request.url.path, list(query.multi_items()), nxt, None)
    return ids_[start:start + size], links


routes = [
    *api_route(PATH, create_job, ["POST"]),
    *api_route(PATH, list_jobs, ["GET"], name="list_profile_import_jobs"),
    *api_route(f"{PATH}/{{job_id}}", get_job, ["GET"]),
    *api_route(f"{PATH}/{{job_id}}/import-errors", import_errors, ["GET"]),
    *api_route(f"{PATH}/{{job_id}}/lists", job_lists, ["GET"]),
    *api_route(f"{PATH}/{{job_id}}/relationships/lists", job_list_ids, ["GET"]),
    *api_route(f"{PATH}/{{job_id}}/profiles", job_profiles, ["GET"]),
    *api_route(f"{PATH}/{{job_id}}/relationships/profiles", job_profile_ids, ["GET"]),
]
