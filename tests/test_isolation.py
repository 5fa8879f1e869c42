"""Accounts never see or change each other's data, and key scopes hold, on every route.

One table over the legacy, client and server routes (klaviyo-api.md 3.2-3.7). Account B has a
profile, an event, a metric (and a list and a segment where those routes exist); account A's keys
try to read and write them. Every case also checks that B's stored rows did not change. A route
that is not served (404 "No route" / 405) fails the case: a deleted route must not pass as a skip.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bench.routes import REVISION, modern_event, random_event, route_missing
from footfall.domain import scopes
from footfall.store import accounts, db, exports
from tests.servers import new_account, row_counts

@dataclass
class World:
    """Two accounts; B owns data, A holds a full key, a read-only key and a public key."""

    a: Any
    b: Any
    a_read_only: str
    b_email: str
    b_profile: str
    b_event: str
    b_metric: str
    b_list: str = "XXXXXX"
    b_segment: str = "XXXXXX"
    b_webhook: str = "XXXXXX"
    b_delivery: str = "XXXXXX"
    notes: list[str] = field(default_factory=list)


def _b64(doc: dict) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def _emails(database_url: str, account_id: str) -> set[str]:
    conn = db.connect(database_url)
    try:
        return {p["email"] for p in exports.profiles(conn, account_id)}
    finally:
        conn.close()


def _ids(database_url: str, account_id: str) -> tuple[str, str, str]:
    conn = db.connect(database_url)
    try:
        return conn.one("SELECT e.profile_id, e.id, e.metric_id FROM events e WHERE e.account_id = ?", (account_id,))
    finally:
        conn.close()


def _headers(key: str | None) -> dict[str, str]:
    h = {"revision": REVISION, "content-type": "application/vnd.api+json", "accept": "application/vnd.api+json"}
    if key:
        h["authorization"] = f"Klaviyo-API-Key {key}"
    return h


@pytest.fixture(scope="module")
def world(server, database_url) -> World:
    tag = uuid.uuid4().hex[:8]
    a = new_account(database_url, f"iso-a-{tag}")
    b = new_account(database_url, f"iso-b-{tag}")
    conn = db.connect(database_url)
    try:
        ro = accounts.create_key(conn, a.id, "read-only", scopes.READ_ONLY)
    finally:
        conn.close()
    email = f"b-{tag}@example.com"
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.get("/api/track", params={"data": _b64({"token": b.public_key, "event": "Secret Purchase",
                                                       "customer_properties": {"$email": email},
                                                       "properties": {"$value": 5, "secret": "b-only"}})})
        assert r.text == "1"
        profile, event, metric = _ids(database_url, b.id)
        w = World(a, b, ro, email, profile, event, metric)
        r = c.post("/api/lists", headers=_headers(b.private_key),
                   json={"data": {"type": "list", "attributes": {"name": f"B list {tag}"}}})
        assert r.status_code == 201, f"B's list: {r.status_code} {r.text[:300]}"
        w.b_list = r.json()["data"]["id"]
        r = c.post("/api/segments", headers=_headers(b.private_key), json={"data": {"type": "segment", "attributes": {
            "name": f"B seg {tag}", "definition": {"condition_groups": [{"conditions": [{
                "type": "profile-property", "property": "email",
                "filter": {"type": "existence", "operator": "is-set"}}]}]}}}})
        assert r.status_code == 201, f"B's segment: {r.status_code} {r.text[:300]}"
        w.b_segment = r.json()["data"]["id"]
        r = c.post("/api/webhooks", headers=_headers(b.private_key), json=_webhook_body())
        assert r.status_code == 201, f"B's webhook: {r.status_code} {r.text[:300]}"
        w.b_webhook = r.json()["data"]["id"]
        w.b_delivery = _b_delivery(database_url, b.id, w.b_webhook)
    return w


B_SECRET = "b-only-webhook-secret-key"


def _webhook_body(webhook_id: str | None = None) -> dict:
    doc = {"data": {"type": "webhook", "attributes": {"name": "B hook", "endpoint_url": "https://b.example/hook",
                                                       "secret_key": B_SECRET},
                    "relationships": {"webhook-topics": {"data": [{"type": "webhook-topic", "id": "profile:created"}]}}}}
    if webhook_id:
        doc["data"]["id"] = webhook_id
        doc["data"]["attributes"] = {"name": "pwned"}
    return doc


def _b_delivery(database_url: str, account_id: str, webhook_id: str) -> str:
    """A delivery in B's log (written as the deliverer records one), for A to try to read and retry."""
    from footfall.store import webhooks as webhook_store
    conn = db.connect(database_url)
    try:
        conn.begin()
        delivery_id = webhook_store._insert_delivery(
            conn, account_id, webhook_id, [{"position": 1, "id": "01B0NLYMESSAGE000000000000"}], None, "failed",
            1.0, next_at=None)
        conn.commit()
        return delivery_id
    finally:
        conn.close()


# -- the table ------------------------------------------------------------------------------------
# key: "A" full private key of A, "RO" A's read-only key, "B" B's own key (control), None no key.
# expect: allowed statuses. hidden: B's data must not appear in the body. absent_ok: the route
# being absent (404/405) is itself a pass (e.g. a client route that must not be readable).

@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    key: str | None
    expect: tuple[int, ...]
    body: Any = None
    params: dict[str, str] | None = None
    hidden: bool = True
    absent_ok: bool = False


def _event_body(w: World, profile_id: str | None = None, email: str | None = None) -> dict:
    doc = modern_event(random_event(uuid.uuid4().hex))
    attrs = doc["attributes"]["profile"]["data"]
    if profile_id:
        attrs["id"] = profile_id
        attrs["attributes"] = {}
    if email:
        attrs["attributes"]["email"] = email
    return {"data": doc}


def _profile_body(email: str) -> dict:
    return {"data": {"type": "profile", "attributes": {"email": email, "first_name": "Mallory"}}}


def _patch_body(w: World) -> dict:
    return {"data": {"type": "profile", "id": w.b_profile, "attributes": {"first_name": "Mallory"}}}


def _members(w: World) -> dict:
    return {"data": [{"type": "profile", "id": w.b_profile}]}


def _aggregate(w: World) -> dict:
    return {"data": {"type": "metric-aggregate", "attributes": {
        "metric_id": w.b_metric, "measurements": ["count"], "interval": "day",
        "filter": ["greater-or-equal(datetime,2020-01-01T00:00:00)", "less-than(datetime,2030-01-01T00:00:00)"]}}}


NOT_FOUND = (404,)
DENIED = (403,)
NO_KEY = (401,)
MISSING_READ = (404, 405)  # a client route answers no GET
REFUSED_WRITE = (400, 403, 404, 409, 422)

CASES = [
    # -- legacy (fully exercised now) --
    Case("legacy track: A's token with B's email lands in A", "GET", "/api/track", None, (200,), "legacy-track"),
    Case("legacy identify: A's token with B's email lands in A", "GET", "/api/identify", None, (200,), "legacy-identify"),
    Case("legacy track: unknown token stores nothing", "GET", "/api/track", None, (200,), "legacy-bad-token"),
    # -- client (public key) --
    Case("client events write lands in A", "POST", "/client/events", "public", (202,), "client-event"),
    Case("client profiles write lands in A", "POST", "/client/profiles", "public", (202,), "client-profile"),
    Case("client events cannot read", "GET", "/client/events", "public", MISSING_READ, absent_ok=True),
    Case("client profiles cannot read", "GET", "/client/profiles", "public", MISSING_READ, absent_ok=True),
    Case("client bulk create cannot read", "GET", "/client/event-bulk-create", "public", MISSING_READ, absent_ok=True),
    Case("server events with only a company_id", "GET", "/api/events", "public", NO_KEY),
    # -- events --
    Case("events: list with no key", "GET", "/api/events", None, NO_KEY),
    Case("events: create with no key", "POST", "/api/events", None, NO_KEY, "event"),
    Case("events: create with read-only key", "POST", "/api/events", "RO", DENIED, "event"),
    Case("events: create for B's profile id with A's key", "POST", "/api/events", "A", REFUSED_WRITE + (202,), "event-b-profile"),
    Case("events: A lists events, sees none of B's", "GET", "/api/events", "A", (200,)),
    Case("events: read-only key may list", "GET", "/api/events", "RO", (200,)),
    Case("events: B's event by id", "GET", "/api/events/{b_event}", "A", NOT_FOUND),
    Case("events: B's event metric", "GET", "/api/events/{b_event}/metric", "A", NOT_FOUND),
    Case("events: B's event profile", "GET", "/api/events/{b_event}/profile", "A", NOT_FOUND),
    Case("events: B's event metric relationship", "GET", "/api/events/{b_event}/relationships/metric", "A", NOT_FOUND),
    Case("events: B's event profile relationship", "GET", "/api/events/{b_event}/relationships/profile", "A", NOT_FOUND),
    Case("events: control, B reads its own event", "GET", "/api/events/{b_event}", "B", (200,), hidden=False),
    Case("events: bulk job with read-only key", "POST", "/api/event-bulk-create-jobs", "RO", DENIED, "bulk-job"),
    Case("events: bulk job with no key", "POST", "/api/event-bulk-create-jobs", None, NO_KEY, "bulk-job"),
    # -- profiles --
    Case("profiles: B's profile by id", "GET", "/api/profiles/{b_profile}", "A", NOT_FOUND),
    Case("profiles: control, B reads its own profile", "GET", "/api/profiles/{b_profile}", "B", (200,), hidden=False),
    Case("profiles: A lists profiles, sees none of B's", "GET", "/api/profiles", "A", (200,)),
    Case("profiles: A filters by B's email", "GET", "/api/profiles", "A", (200,), params={"filter": "equals(email,\"{b_email}\")"}),
    Case("profiles: list with no key", "GET", "/api/profiles", None, NO_KEY),
    Case("profiles: patch B's profile with A's key", "PATCH", "/api/profiles/{b_profile}", "A", NOT_FOUND, "patch"),
    Case("profiles: patch with read-only key", "PATCH", "/api/profiles/{b_profile}", "RO", DENIED, "patch"),
    Case("profiles: create with read-only key", "POST", "/api/profiles", "RO", DENIED, "profile"),
    Case("profiles: create with B's email lands in A", "POST", "/api/profiles", "A", (201, 409), "profile"),
    Case("profiles: import with read-only key", "POST", "/api/profile-import", "RO", DENIED, "profile"),
    Case("profiles: B's profile lists", "GET", "/api/profiles/{b_profile}/lists", "A", NOT_FOUND),
    Case("profiles: B's profile segments", "GET", "/api/profiles/{b_profile}/segments", "A", NOT_FOUND),
    Case("profiles: B's profile list relationships", "GET", "/api/profiles/{b_profile}/relationships/lists", "A", NOT_FOUND),
    Case("profiles: B's profile segment relationships", "GET", "/api/profiles/{b_profile}/relationships/segments", "A", NOT_FOUND),
    # -- metrics --
    Case("metrics: A lists metrics, sees none of B's", "GET", "/api/metrics", "A", (200,)),
    Case("metrics: B's metric by id", "GET", "/api/metrics/{b_metric}", "A", NOT_FOUND),
    Case("metrics: list with no key", "GET", "/api/metrics", None, NO_KEY),
    Case("metrics: aggregate B's metric", "POST", "/api/metric-aggregates", "A", (400, 404), "aggregate"),
    # -- segments and lists --
    Case("segments: A lists segments, sees none of B's", "GET", "/api/segments", "A", (200,)),
    Case("segments: B's segment by id", "GET", "/api/segments/{b_segment}", "A", NOT_FOUND),
    Case("segments: B's segment members", "GET", "/api/segments/{b_segment}/profiles", "A", NOT_FOUND),
    Case("segments: create with read-only key", "POST", "/api/segments", "RO", DENIED, "segment"),
    Case("segments: list with no key", "GET", "/api/segments", None, NO_KEY),
    Case("lists: A lists lists, sees none of B's", "GET", "/api/lists", "A", (200,)),
    Case("lists: B's list by id", "GET", "/api/lists/{b_list}", "A", NOT_FOUND),
    Case("lists: B's list members", "GET", "/api/lists/{b_list}/profiles", "A", NOT_FOUND),
    Case("lists: rename B's list", "PATCH", "/api/lists/{b_list}", "A", NOT_FOUND, "list-patch"),
    Case("lists: delete B's list", "DELETE", "/api/lists/{b_list}", "A", NOT_FOUND),
    Case("lists: add B's profile to B's list", "POST", "/api/lists/{b_list}/relationships/profiles", "A", NOT_FOUND, "members"),
    Case("lists: remove from B's list", "DELETE", "/api/lists/{b_list}/relationships/profiles", "A", NOT_FOUND, "members"),
    Case("lists: create with read-only key", "POST", "/api/lists", "RO", DENIED, "list"),
    Case("profiles: import with B's email lands in A", "POST", "/api/profile-import", "A", (200, 201), "profile"),
    # -- webhooks --
    Case("webhooks: A lists webhooks, sees none of B's", "GET", "/api/webhooks", "A", (200,)),
    Case("webhooks: list with read-only key", "GET", "/api/webhooks", "RO", (200,)),
    Case("webhooks: list with no key", "GET", "/api/webhooks", None, NO_KEY),
    Case("webhooks: list with only a company_id", "GET", "/api/webhooks", "public", NO_KEY),
    Case("webhooks: B's webhook by id", "GET", "/api/webhooks/{b_webhook}", "A", NOT_FOUND),
    Case("webhooks: change B's webhook", "PATCH", "/api/webhooks/{b_webhook}", "A", NOT_FOUND, "webhook-patch"),
    Case("webhooks: delete B's webhook", "DELETE", "/api/webhooks/{b_webhook}", "A", NOT_FOUND),
    Case("webhooks: replay B's webhook", "POST", "/api/webhooks/{b_webhook}/replay", "A", NOT_FOUND, "replay"),
    Case("webhooks: create with read-only key", "POST", "/api/webhooks", "RO", DENIED, "webhook"),
    Case("webhooks: create with no key", "POST", "/api/webhooks", None, NO_KEY, "webhook"),
    Case("webhooks: control, B reads its own webhook", "GET", "/api/webhooks/{b_webhook}", "B", (200,), hidden=False),
    Case("webhooks: A lists topics, sees none of B's metrics", "GET", "/api/webhook-topics", "A", (200,)),
    Case("webhooks: topics with no key", "GET", "/api/webhook-topics", None, NO_KEY),
    Case("webhooks: A's delivery log shows none of B's", "GET", "/api/webhook-deliveries", "A", (200,)),
    Case("webhooks: delivery log filtered to B's webhook", "GET", "/api/webhook-deliveries", "A", (200,),
         params={"filter": "equals(webhook_id,\"{b_webhook}\")"}, hidden=False),  # links.self echoes the id
    Case("webhooks: B's delivery by id", "GET", "/api/webhook-deliveries/{b_delivery}", "A", NOT_FOUND),
    Case("webhooks: B's delivery attempts", "GET", "/api/webhook-deliveries/{b_delivery}/attempts", "A", NOT_FOUND),
    Case("webhooks: retry B's delivery", "POST", "/api/webhook-deliveries/{b_delivery}/retry", "A", NOT_FOUND),
    Case("webhooks: retry with read-only key", "POST", "/api/webhook-deliveries/{b_delivery}/retry", "RO", DENIED),
    Case("webhooks: delivery log with no key", "GET", "/api/webhook-deliveries", None, NO_KEY),
    Case("stream: with no key", "GET", "/api/stream", None, NO_KEY),
    Case("stream: with only a company_id", "GET", "/api/stream", "public", NO_KEY),
]


def _body(kind: str | None, w: World) -> tuple[dict[str, Any], dict[str, str]]:
    """(httpx kwargs, extra query params) for a body kind."""
    legacy = {"legacy-track": {"token": w.a.public_key, "event": "Secret Purchase",
                               "customer_properties": {"$email": w.b_email}, "properties": {"x": 1}},
              "legacy-identify": {"token": w.a.public_key, "properties": {"$email": w.b_email, "plan": "a"}},
              "legacy-bad-token": {"token": "ZZZZZ9", "event": "x", "customer_properties": {"$email": w.b_email}}}
    if kind in legacy:
        return {}, {"data": _b64(legacy[kind]), "verbose": "1"}
    docs = {
        "event": lambda: _event_body(w, email=f"a-{uuid.uuid4().hex[:6]}@example.com"),
        "event-b-profile": lambda: _event_body(w, profile_id=w.b_profile),
        "client-event": lambda: _event_body(w, email=w.b_email),
        "client-profile": lambda: _profile_body(w.b_email),
        "profile": lambda: _profile_body(w.b_email),
        "patch": lambda: _patch_body(w),
        "members": lambda: _members(w),
        "aggregate": lambda: _aggregate(w),
        "segment": lambda: {"data": {"type": "segment", "attributes": {"name": "x", "definition": {"condition_groups": []}}}},
        "list": lambda: {"data": {"type": "list", "attributes": {"name": "x"}}},
        "list-patch": lambda: {"data": {"type": "list", "id": w.b_list, "attributes": {"name": "pwned"}}},
        "bulk-job": lambda: {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": []}}}},
        "webhook": lambda: _webhook_body(),
        "webhook-patch": lambda: _webhook_body(w.b_webhook),
        "replay": lambda: {"data": {"type": "webhook-replay", "attributes": {"start": "2020-01-01T00:00:00Z",
                                                                             "end": "2030-01-01T00:00:00Z"}}},
    }
    if kind is None:
        return {}, {}
    return {"content": json.dumps(docs[kind]()).encode()}, {}


def _fill(text: str, w: World) -> str:
    return text.format(b_event=w.b_event, b_profile=w.b_profile, b_metric=w.b_metric, b_list=w.b_list,
                       b_segment=w.b_segment, b_email=w.b_email, b_webhook=w.b_webhook, b_delivery=w.b_delivery)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_isolation(case: Case, world: World, client: httpx.Client, database_url: str):
    w = world
    key = {"A": w.a.private_key, "RO": w.a_read_only, "B": w.b.private_key, None: None, "public": None}[case.key]
    kwargs, params = _body(case.body, w)
    params = {**params, **{k: _fill(v, w) for k, v in (case.params or {}).items()}}
    if case.key == "public":
        params["company_id"] = w.a.public_key
    headers = _headers(key) if case.path.startswith(("/api/", "/client/")) and not case.path.startswith(
        ("/api/track", "/api/identify")) else {}
    b_before, a_before = row_counts(database_url, w.b.id), row_counts(database_url, w.a.id)

    r = client.request(case.method, _fill(case.path, w), params=params, headers=headers, **kwargs)

    assert case.absent_ok or not route_missing(r), f"{case.name}: {case.method} {case.path} is not served ({r.status_code})"
    assert r.status_code in case.expect, f"{case.name}: {r.status_code} {r.text[:300]}"
    if case.hidden:
        # B's ids and B-only values must never show. B's email is not among them: an email is an
        # identifier any account may hold, and the legacy/import cases give A a profile with it.
        for secret in (w.b_profile, w.b_event, w.b_metric, "b-only", w.b_webhook, w.b_delivery):
            assert secret not in r.text, \
                f"{case.name}: B's data ({secret}) in the answer"
    if case.key != "B" and case.method != "GET" or case.body:
        # No write by A's keys may touch B's rows (control cases by B itself are exempt).
        assert row_counts(database_url, w.b.id) == b_before, f"{case.name}: B's stored rows changed"
    if case.body in ("legacy-track", "legacy-identify"):
        assert r.json()["status"] == 1, r.text
        assert w.b_email in _emails(database_url, w.a.id), "the write did not land in A"
        if case.body == "legacy-track":
            assert row_counts(database_url, w.a.id)["events"] == a_before["events"] + 1
    if case.body == "legacy-bad-token":
        assert r.json()["status"] == 0
        assert row_counts(database_url, w.a.id) == a_before


# -- Segment-spec and PostHog wires (write keys) --------------------------------------------------
# A write key names its account: A's write key with B's email writes into A; any other key (A's
# private, read-only or public key, B's key for A's data, none) is refused 401 and stores nothing.

SOURCE_ROUTES = [("/v1/batch", "segment"), ("/v1/track", "segment"), ("/v1/identify", "segment"),
                 ("/batch/", "posthog"), ("/capture/", "posthog"), ("/e/", "posthog"), ("/decide/", "posthog")]


def _source_request(path: str, wire: str, key: str | None, email: str) -> dict[str, Any]:
    if wire == "segment":
        message = {"userId": f"iso-{uuid.uuid4().hex[:6]}", "event": "Secret Purchase", "traits": {"email": email},
                   "context": {"traits": {"email": email}}}
        body: Any = {"batch": [{**message, "type": "track"}]} if path == "/v1/batch" else message
        return {"json": body, "auth": (key, "") if key is not None else None}
    event = {"event": "Secret Purchase", "distinct_id": f"iso-{uuid.uuid4().hex[:6]}",
             "properties": {"$set": {"email": email}}}
    return {"json": {"api_key": key, "batch": [event]} if path == "/batch/" else {"api_key": key, **event}}


@pytest.mark.parametrize("who", ["A-write", "A-private", "A-read-only", "A-public", "none"])
@pytest.mark.parametrize("path, wire", SOURCE_ROUTES, ids=[p for p, _ in SOURCE_ROUTES])
def test_source_wires_isolation(path: str, wire: str, who: str, world: World, client: httpx.Client,
                                database_url: str):
    from tests.sources_helpers import made_write_key as write_key

    w = world
    key = {"A-write": lambda: write_key(database_url, w.a)["key"], "A-private": lambda: w.a.private_key,
           "A-read-only": lambda: w.a_read_only, "A-public": lambda: w.a.public_key, "none": lambda: None}[who]()
    b_before, a_before = row_counts(database_url, w.b.id), row_counts(database_url, w.a.id)
    r = client.post(path, **_source_request(path, wire, key, w.b_email))
    for secret in (w.b_profile, w.b_event, w.b_metric, "b-only"):
        assert secret not in r.text
    assert row_counts(database_url, w.b.id) == b_before, "B's stored rows changed"
    if who != "A-write":
        assert r.status_code == 401, r.text
        assert row_counts(database_url, w.a.id) == a_before
    elif path != "/decide/":
        assert r.status_code == 200, r.text
        assert w.b_email in _emails(database_url, w.a.id), "the write did not land in A"
        if path not in ("/v1/identify",):
            assert row_counts(database_url, w.a.id)["events"] == a_before["events"] + 1
    else:
        assert r.status_code == 200 and r.json()["featureFlags"] == {}
