"""A small account of known events and profiles for the read API tests, made through /api/track.

One world per backend and test module: reads do not change it, so tests share it. A second account
holds similar data so that cross-account leaks would show.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx
import pytest

from tests.servers import TestAccount, new_account

REVISION = "2026-07-15"
T0 = 1_700_000_000          # 2023-11-14T22:13:20Z
HOUR = 3600
METRICS = ("Viewed Product", "Ordered Product", "Started Checkout")
PEOPLE = (
    {"$email": "ann@example.com", "$id": "ann-1", "$phone_number": "+13239169023", "$first_name": "Ann",
     "$city": "Boston"},
    {"$email": "bob@example.com", "$id": "bob-2", "$first_name": "Bob", "$city": "Austin"},
    {"$email": "cy@example.com", "$first_name": "Cy", "$city": "Chicago"},
)
N_EVENTS = 24


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def headers(key: str, revision: str | None = REVISION) -> dict[str, str]:
    out = {"Authorization": f"Klaviyo-API-Key {key}"}
    if revision:
        out["revision"] = revision
    return out


def track(client: httpx.Client, token: str, event: str, people: dict, props: dict, time: int) -> dict:
    payload = {"token": token, "event": event, "customer_properties": people, "properties": props, "time": time}
    data = base64.b64encode(json.dumps(payload).encode()).decode()
    r = client.get("/api/track", params={"data": data, "verbose": "1"})
    assert r.status_code == 200 and r.json()["status"] == 1, r.text
    return r.json()


def identify(client: httpx.Client, token: str, people: dict) -> dict:
    data = base64.b64encode(json.dumps({"token": token, "properties": people}).encode()).decode()
    r = client.get("/api/identify", params={"data": data, "verbose": "1"})
    assert r.status_code == 200 and r.json()["status"] == 1, r.text
    return r.json()


@dataclass
class World:
    account: TestAccount
    other: TestAccount
    events: list[dict] = field(default_factory=list)       # id, metric, profile_id, time, value, unique_id
    profiles: dict[str, str] = field(default_factory=dict)  # email -> profile id
    metric_ids: dict[str, str] = field(default_factory=dict)
    other_event_id: str = ""
    other_profile_id: str = ""
    other_metric_id: str = ""
    merged_away: str = ""      # an anonymous profile id merged into dee's profile
    dee: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return headers(self.account.private_key)

    def events_where(self, pred) -> list[dict]:
        return [e for e in self.events if pred(e)]


def build(client: httpx.Client, database_url: str) -> World:
    tag = uuid.uuid4().hex[:8]
    world = World(new_account(database_url, f"read-world-{tag}"), new_account(database_url, f"read-other-{tag}"))
    for i in range(N_EVENTS):
        person = PEOPLE[i % len(PEOPLE)]
        metric = METRICS[i % len(METRICS) if i % 4 else 0]
        time = T0 + i * HOUR
        out = track(client, world.account.public_key, metric, person,
                    {"$value": i, "$event_id": f"e{i}", "n": i}, time)
        world.profiles[person["$email"]] = out["profile_id"]
        world.events.append({"id": out["event_id"], "metric": metric, "profile_id": out["profile_id"],
                             "time": time, "value": i, "unique_id": f"e{i}"})
    # An anonymous visitor who later turns out to be Dee: their profile is merged into Dee's.
    anon = track(client, world.account.public_key, "Viewed Product", {"$anonymous": f"anon-{tag}"},
                 {"n": 100}, T0 + 100 * HOUR)
    dee = identify(client, world.account.public_key, {"$email": "dee@example.com", "$first_name": "Dee"})
    identify(client, world.account.public_key, {"$email": "dee@example.com", "$anonymous": f"anon-{tag}"})
    world.merged_away, world.dee = anon["profile_id"], dee["profile_id"]
    assert world.merged_away != world.dee
    world.profiles["dee@example.com"] = dee["profile_id"]
    world.events.append({"id": anon["event_id"], "metric": "Viewed Product", "profile_id": dee["profile_id"],
                         "time": T0 + 100 * HOUR, "value": None, "unique_id": None})
    # The other account: same emails and metric names, none of it visible to the first.
    other = track(client, world.other.public_key, "Viewed Product", PEOPLE[0], {"$value": 1}, T0 + 5)
    world.other_event_id, world.other_profile_id = other["event_id"], other["profile_id"]
    r = client.get("/api/metrics", headers=headers(world.other.private_key))
    world.other_metric_id = r.json()["data"][0]["id"]
    r = client.get("/api/metrics", headers=world.auth)
    world.metric_ids = {m["attributes"]["name"]: m["id"] for m in r.json()["data"]}
    for e in world.events:
        e["metric_id"] = world.metric_ids[e["metric"]]
    return world


@pytest.fixture(scope="module")
def world(server, database_url) -> World:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return build(client, database_url)
