"""The onsite script: GET /onsite/js/<KEY>/klaviyo.js and /onsite/js/klaviyo.js?company_id=<KEY>.

The paths of Klaviyo's, so a site swaps only the host of its snippet. The file is
footfall/web/onsite/klaviyo.js, served as it is but for the public key named in the URL (the script
finds Footfall's address from its own URL). Answered without the database: a key that is not an
account's is refused by the API calls the script makes, as Klaviyo's script is served for any key.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from functools import lru_cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

SCRIPT = resources.files("footfall") / "web" / "onsite" / "klaviyo.js"
KEY_PLACEHOLDER = '"__FOOTFALL_KEY__"'
CACHE_SECONDS = 300  # a new release reaches browsers within minutes, as Klaviyo's loader does


@lru_cache(maxsize=1)
def _source() -> str:
    text = SCRIPT.read_text("utf-8")
    assert text.count(KEY_PLACEHOLDER) == 1, "klaviyo.js must name the key placeholder once"
    return text


@lru_cache(maxsize=512)  # one per public key asked for (they are short and few)
def _script(key: str | None) -> tuple[bytes, bytes, str]:
    """The script for `key` (None: the page names its account with _learnq.push(['account', KEY])),
    gzipped, and its ETag."""
    body = _source().replace(KEY_PLACEHOLDER, json.dumps(key)).encode()
    return body, gzip.compress(body, 9, mtime=0), '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= 16 and key.isascii() and key.isalnum()  # the public keys Footfall issues


async def script_by_path(request: Request) -> Response:
    key = request.path_params["key"]
    if not _valid_key(key):
        return PlainTextResponse(f"{key!r} is not a public key (letters and digits, at most 16)", status_code=404)
    return _answer(request, key)


async def script_by_query(request: Request) -> Response:
    key = request.query_params.get("company_id") or None
    if key is not None and not _valid_key(key):
        return PlainTextResponse(f"company_id {key!r} is not a public key (letters and digits, at most 16)",
                                 status_code=404)
    return _answer(request, key)


def _answer(request: Request, key: str | None) -> Response:
    body, zipped, etag = _script(key)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={CACHE_SECONDS}", "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff", "Access-Control-Allow-Origin": "*"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        body, headers["Content-Encoding"] = zipped, "gzip"
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


routes = [
    Route("/onsite/js/klaviyo.js", script_by_query, methods=["GET"]),
    Route("/onsite/js/{key}/klaviyo.js", script_by_path, methods=["GET"]),
]
