"""POST /api/profiles/{id}/exchange-id: a profile's exchange id, for links in emails (`?_kx=<id>`).

A site's onsite script that finds `_kx` in its URL identifies the visitor as that profile without
the visitor typing anything. The profile keeps one exchange id per public key: the first call mints
it (ids.new_exchange_id) through the ingest pipeline, later calls answer the same one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from footfall import ids
from footfall.api import ingest
from footfall.api.json_documents import document
from footfall.api.modern_routes import api_route
from footfall.api.request_keys import private_key
from footfall.api.app_state import services
from footfall.domain.models import ProfilePatch, TrackOp
from footfall.store import accounts
from footfall.refusals import ApiError

_OP_SIZE = 256  # what the operation holds in the queue: no body, a profile id and a token


async def profile_exchange_id(request: Request) -> Response:
    grant = await private_key(request, "profiles", "write")
    profile_id = request.path_params["profile_id"]
    if not (profile_id.isascii() and profile_id.isalnum() and len(profile_id) <= 64):  # ids are ULIDs
        raise ApiError(404, "not_found", "No profile with that id in this account.", pointer="/data/id")
    public_key = await services(request).read(lambda conn: accounts.public_key_of(conn, grant.account_id))
    if public_key is None:  # the account was deleted after the key was looked up
        raise ApiError(404, "not_found", "The account of this key no longer exists.")
    patch = ProfilePatch(profile_id=profile_id,
                         mint_exchange_id=ids.new_exchange_id(public_key))
    result = await ingest.submit(request, TrackOp(account_id=grant.account_id, profile=patch, size=_OP_SIZE),
                                 _OP_SIZE, not_found_pointer="/data/id")
    return document({"type": "profile-exchange-id", "id": result.exchange_id,
                     "attributes": {"exchange_id": result.exchange_id},
                     "relationships": {"profile": {"data": {"type": "profile", "id": result.profile_id}}}})


routes = [*api_route("/api/profiles/{profile_id}/exchange-id", profile_exchange_id, ["POST"])]
