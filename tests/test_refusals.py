"""The refusal table walked: every row of footfall/refusals.ANSWERS raised through real routes.

For each kind of refusal the pipeline is made to raise it, and the legacy route (/api/track), a
JSON:API write (/api/events), a segment/list write (/api/lists), a Segment-wire write (/v1/track)
and a PostHog one (/batch/) must answer with the status, code and Retry-After the table gives: one
table, every surface. A row added to the table without an example here fails the first test.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from footfall import refusals
from footfall.ingest.pipeline import Pipeline
from footfall.refusals import (ANSWERS, ApiError, Conflict, DuplicateProfile, InternalError, InvalidInput,
                               KeysThrottled, NotAccepted, NotFound, Overloaded, RateLimited, Refusal,
                               StoreUnavailable, TooLarge, TooSlow)
from tests.modern import server_headers
from tests.sources_helpers import made_write_key

EXAMPLES: dict[type[Refusal], Refusal] = {
    InvalidInput: InvalidInput("must be a number", "value"),
    DuplicateProfile: DuplicateProfile("taken", "01HPROFILE0000000000000000"),
    Conflict: Conflict("list 1 is used by segment(s) 2; change those first"),
    NotFound: NotFound("no such profile in this account"),
    TooLarge: TooLarge(10),
    TooSlow: TooSlow(1.5),
    KeysThrottled: KeysThrottled(7),
    RateLimited: RateLimited(3),
    NotAccepted: Overloaded("the ingest queue is full; retry shortly", 4),
    StoreUnavailable: StoreUnavailable("cannot open the database"),
    InternalError: InternalError("a bug"),
}


def test_every_row_has_an_example():
    assert set(EXAMPLES) == set(ANSWERS)


@pytest.fixture
def refusing(monkeypatch):
    """Make every pipeline submit (and the admission check) raise the refusal set on it."""
    raised: dict[str, Refusal] = {}

    async def submit(self, op, size=0):
        raise raised["exc"]

    monkeypatch.setattr(Pipeline, "submit", submit)
    return raised


def _retry(exc: Refusal, server) -> str | None:
    return refusals.retry_after(exc, server.settings.retry_after_seconds)


@pytest.mark.parametrize("kind", list(EXAMPLES), ids=[k.__name__ for k in EXAMPLES])
def test_legacy_track_answers_from_the_table(kind, refusing, server, client: httpx.Client, account):
    exc = refusing["exc"] = EXAMPLES[kind]
    row = ANSWERS[kind]
    data = base64.b64encode(json.dumps({"token": account.public_key, "event": "Viewed",
                                        "customer_properties": {"$email": "a@example.com"}}).encode()).decode()
    r = client.get("/api/track", params={"data": data})
    assert (r.status_code, r.text) == (row.legacy_status, "0")
    assert r.headers.get("retry-after") == _retry(exc, server)
    verbose = client.get("/api/track", params={"data": data, "verbose": "1"})
    assert verbose.json() == {"status": 0, "error": row.legacy_detail.format(exc=exc)}


@pytest.mark.parametrize("kind", list(EXAMPLES), ids=[k.__name__ for k in EXAMPLES])
def test_jsonapi_writes_answer_from_the_table(kind, refusing, server, client: httpx.Client, account):
    exc = refusing["exc"] = EXAMPLES[kind]
    row = ANSWERS[kind]
    event = {"data": {"type": "event", "attributes": {
        "properties": {}, "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed"}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}}}}}
    new_list = {"data": {"type": "list", "attributes": {"name": "Newsletter"}}}
    for path, body in (("/api/events", event), ("/api/lists", new_list)):
        r = client.post(path, headers=server_headers(account.private_key), json=body)
        err = r.json()["errors"][0]
        assert (r.status_code, err["status"], err["code"]) == (row.status, row.status, row.code), path
        assert r.headers.get("retry-after") == _retry(exc, server), path
        if row.detail:
            assert err["detail"] == row.detail, path
        if row.pointer:
            assert err["source"]["pointer"] == row.pointer, path
        if row.title:
            assert err["title"] == row.title, path
    if kind is DuplicateProfile:
        assert err["meta"] == {"duplicate_profile_id": exc.profile_id}


@pytest.mark.parametrize("kind", list(EXAMPLES), ids=[k.__name__ for k in EXAMPLES])
def test_source_wires_answer_from_the_table(kind, refusing, server, client: httpx.Client, account, database_url):
    exc = refusing["exc"] = EXAMPLES[kind]
    row = ANSWERS[kind]
    key = made_write_key(database_url, account)["key"]
    r = client.post("/v1/track", auth=(key, ""), json={"userId": "u1", "event": "Viewed", "properties": {}})
    assert r.status_code == row.source_status
    assert r.json()["code"] == row.source_code
    assert r.headers.get("retry-after") == _retry(exc, server)
    posthog = client.post("/batch/", json={"api_key": key, "batch": [{"event": "Viewed", "distinct_id": "d1"}]})
    assert (posthog.status_code, posthog.json()["code"]) == (row.source_status, row.source_code), posthog.text
    assert posthog.headers.get("retry-after") == _retry(exc, server)


def test_a_refusal_an_endpoint_raises_keeps_the_rate_limit_headers(monkeypatch):
    """A modern route's refusal (not only an ApiError) is answered from the table with the caller's
    RateLimit-* headers: errors count against the limit and say so."""
    import asyncio
    from types import SimpleNamespace

    from footfall.api import modern_routes

    async def admit(*args):
        return {"RateLimit-Limit": "3"}

    async def caller(request):
        return "account"

    async def endpoint(request):
        raise StoreUnavailable("cannot open the database")

    monkeypatch.setattr(modern_routes.rate_limit_enforcement, "admit", admit)
    monkeypatch.setattr(modern_routes, "caller_account_id", caller)
    monkeypatch.setattr(modern_routes, "check_revision", lambda request: None)
    monkeypatch.setattr(modern_routes, "services", lambda request: SimpleNamespace(
        settings=SimpleNamespace(retry_after_seconds=5)))
    request = SimpleNamespace(headers={"authorization": "Klaviyo-API-Key x"}, scope={"path": "/api/events"},
                              method="GET")
    with pytest.raises(ApiError) as caught:
        asyncio.run(modern_routes.guarded(request, endpoint, "/api/events", {"GET": "tier"}))
    row = ANSWERS[StoreUnavailable]
    assert (caught.value.status, caught.value.code) == (row.status, row.code)
    assert caught.value.headers == {"RateLimit-Limit": "3", "Retry-After": "5"}


def _literal_answers() -> list[tuple[str, int, str, int]]:
    """(file, status, code, line) of every ApiError / SourceRefusal built in footfall/ with a literal status and code."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "footfall"
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
            status, code = node.args[0], node.args[1]
            if name in ("ApiError", "SourceRefusal") and isinstance(status, ast.Constant) \
                    and isinstance(code, ast.Constant) and isinstance(status.value, int):
                found.append((f"{path.relative_to(package)}:{node.lineno}", name, status.value, code.value))
    return found


def test_answers_built_by_hand_agree_with_the_table():
    """An ApiError or SourceRefusal written out by hand (a 404 of a read, a 400 of a header) says the
    code the table gives its status on that surface: one status, one code, wherever it is met."""
    jsonapi = {row.status: row.code for row in ANSWERS.values() if row is not ANSWERS[DuplicateProfile]}
    source = {row.source_status: row.source_code for row in ANSWERS.values()}
    found = _literal_answers()
    assert any(status == 404 for _, _, status, _ in found)  # the walk sees them
    drifted = [f"{where}: {name}({status}, {code!r}), the table says {table[status]!r}"
               for where, name, status, code in found
               for table in [jsonapi if name == "ApiError" else source]
               if status in table and code != table[status]]
    assert not drifted, "\n".join(drifted)
