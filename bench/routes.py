"""Every ingest route, how to send it an event, and how it acknowledges one.

One table serves the benchmark, the crash and overload drivers and the fuzz test. Modern routes
are being added on other branches; `present()` probes a route and the callers skip an absent one
(404 "No route" or 405) with a printed notice, so they are exercised automatically once merged.
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote

import httpx

REVISION = "2026-07-15"
METRICS = ("Viewed Product", "Added to Cart", "Started Checkout", "Ordered Product")


@dataclass(frozen=True)
class Keys:
    public_key: str
    private_key: str


@dataclass(frozen=True)
class Sent:
    """One event to send: its unique id and the person it is about."""

    event_id: str
    email: str
    metric: str
    value: float


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    content: bytes | None


@dataclass(frozen=True)
class IngestRoute:
    name: str
    method: str
    path: str
    per_request: int  # events per request
    build: Callable[[Keys, list[Sent]], Request]
    acked: Callable[[int, bytes], bool]  # did this answer acknowledge (commit) the events?


def random_event(event_id: str, emails: int = 10_000, rng: random.Random = random) -> Sent:
    """A realistic mix: one of `emails` distinct people, a few metrics, a value."""
    n = rng.randrange(emails)
    return Sent(event_id, f"person{n}@example.com", rng.choice(METRICS), round(rng.uniform(1, 200), 2))


# -- payloads -------------------------------------------------------------------------------------

def legacy_payload(keys: Keys, ev: Sent) -> dict[str, Any]:
    return {
        "token": keys.public_key,
        "event": ev.metric,
        "customer_properties": {"$email": ev.email, "$first_name": "Pat"},
        "properties": {"$event_id": ev.event_id, "$value": ev.value, "item": "Boots", "sku": "B-42"},
    }


def modern_event(ev: Sent) -> dict[str, Any]:
    return {
        "type": "event",
        "attributes": {
            "properties": {"item": "Boots", "sku": "B-42"},
            "metric": {"data": {"type": "metric", "attributes": {"name": ev.metric}}},
            "profile": {"data": {"type": "profile", "attributes": {"email": ev.email, "first_name": "Pat"}}},
            "unique_id": ev.event_id,
            "value": ev.value,
        },
    }


def bulk_document(events: list[Sent]) -> dict[str, Any]:
    """/client/event-bulk-create: one profile and its events (the first event's person)."""
    email = events[0].email
    return {"data": {"type": "event-bulk-create", "attributes": {
        "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
        "events": {"data": [
            {"type": "event", "attributes": {
                "properties": {"item": "Boots"}, "unique_id": ev.event_id, "value": ev.value,
                "metric": {"data": {"type": "metric", "attributes": {"name": ev.metric}}}}}
            for ev in events
        ]},
    }}}


def _b64(doc: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def _legacy_get(keys: Keys, events: list[Sent]) -> Request:
    return Request("GET", "/api/track", {"data": _b64(legacy_payload(keys, events[0]))}, {}, None)


def _legacy_post(keys: Keys, events: list[Sent]) -> Request:
    body = "data=" + quote(json.dumps(legacy_payload(keys, events[0])))
    return Request("POST", "/api/track", {}, {"content-type": "application/x-www-form-urlencoded"}, body.encode())


def _modern_headers(private_key: str | None = None) -> dict[str, str]:
    headers = {"revision": REVISION, "content-type": "application/vnd.api+json", "accept": "application/vnd.api+json"}
    if private_key:
        headers["authorization"] = f"Klaviyo-API-Key {private_key}"
    return headers


def _client_event(keys: Keys, events: list[Sent]) -> Request:
    body = json.dumps({"data": modern_event(events[0])}).encode()
    return Request("POST", "/client/events", {"company_id": keys.public_key}, _modern_headers(), body)


def _server_event(keys: Keys, events: list[Sent]) -> Request:
    body = json.dumps({"data": modern_event(events[0])}).encode()
    return Request("POST", "/api/events", {}, _modern_headers(keys.private_key), body)


def _bulk(keys: Keys, events: list[Sent]) -> Request:
    body = json.dumps(bulk_document(events)).encode()
    return Request("POST", "/client/event-bulk-create", {"company_id": keys.public_key}, _modern_headers(), body)


def _legacy_acked(status: int, body: bytes) -> bool:
    return status == 200 and body.strip() == b"1"


def _modern_acked(status: int, body: bytes) -> bool:
    return status == 202


BULK_SIZE = 100

ROUTES: list[IngestRoute] = [
    IngestRoute("track GET", "GET", "/api/track", 1, _legacy_get, _legacy_acked),
    IngestRoute("track POST", "POST", "/api/track", 1, _legacy_post, _legacy_acked),
    IngestRoute("client events", "POST", "/client/events", 1, _client_event, _modern_acked),
    IngestRoute("server events", "POST", "/api/events", 1, _server_event, _modern_acked),
    IngestRoute(f"bulk create x{BULK_SIZE}", "POST", "/client/event-bulk-create", BULK_SIZE, _bulk, _modern_acked),
]


def by_name(name: str) -> IngestRoute:
    return next(r for r in ROUTES if r.name == name)


def route_missing(response: httpx.Response) -> bool:
    """A 404 for the route itself (not for a resource), or a 405: the route is not served yet."""
    if response.status_code == 405:
        return True
    if response.status_code != 404:
        return False
    text = response.text
    return "No route" in text or text.strip() in ("", "Not Found")


def present(client: httpx.Client, route: IngestRoute, keys: Keys) -> bool:
    """Probe with an empty document: any answer but 404-for-route / 405 means the route is served."""
    req = route.build(keys, [random_event("probe-" + route.name.replace(" ", "-"))])
    r = client.request(route.method, route.path, params=req.params, headers=req.headers, content=b"{}"
                       if route.method == "POST" and route.path != "/api/track" else None)
    return not route_missing(r)


def available(client: httpx.Client, keys: Keys, routes: list[IngestRoute] | None = None,
              notice: Callable[[str], None] = print) -> list[IngestRoute]:
    chosen = []
    for route in routes or ROUTES:
        if present(client, route, keys):
            chosen.append(route)
        else:
            notice(f"[skip] {route.method} {route.path} ({route.name}): route not served yet (404/405)")
    return chosen


def send(client: httpx.Client, route: IngestRoute, keys: Keys, events: list[Sent]) -> httpx.Response:
    req = route.build(keys, events)
    return client.request(req.method, req.path, params=req.params, headers=req.headers, content=req.content)
