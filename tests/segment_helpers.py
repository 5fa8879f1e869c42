"""Driving segments through real HTTP: ingest people and events (legacy routes), manage segments and lists."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from footfall.store import db
from tests.segment_oracle import Person
from tests.servers import TestAccount

REVISION = "2026-07-15"


class SegmentApi:
    def __init__(self, url: str, account: TestAccount, database_url: str) -> None:
        self.account = account
        self.database_url = database_url
        self.http = httpx.Client(base_url=url, timeout=30, headers={
            "Authorization": f"Klaviyo-API-Key {account.private_key}", "revision": REVISION})
        self.profile_ids: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    # -- ingest through /api/identify and /api/track -------------------------------------------------
    def _legacy(self, route: str, payload: dict[str, Any]) -> dict[str, Any]:
        data = base64.b64encode(json.dumps(payload).encode()).decode()
        r = self.http.post(route, params={"verbose": "1"}, data={"data": data})
        body = r.json()
        assert r.status_code == 200 and body["status"] == 1, body
        return body

    def identify(self, person: Person) -> str:
        props: dict[str, Any] = {"$email": person.email, **person.properties}
        if person.first_name is not None:
            props["$first_name"] = person.first_name
        for key, value in person.location.items():
            props[f"${key}"] = value
        if person.consent:
            props["$consent"] = person.consent
        body = self._legacy("/api/identify", {"token": self.account.public_key, "properties": props})
        self.profile_ids[person.email] = body["profile_id"]
        return body["profile_id"]

    def track(self, email: str, metric: str, time_: int, value: float | None, props: dict[str, Any],
              unique: str) -> dict[str, Any]:
        properties = {**props, "$event_id": unique}
        if value is not None:
            properties["$value"] = value
        return self._legacy("/api/track", {"token": self.account.public_key, "event": metric, "time": time_,
                                           "customer_properties": {"$email": email}, "properties": properties})

    def load(self, people: list[Person]) -> None:
        for person in people:
            self.identify(person)
            person.created = time.time()
        for person in people:
            for i, e in enumerate(person.events):
                self.track(person.email, e.metric, e.time, e.value, e.properties, f"{person.email}-{i}")

    def metric_ids(self) -> dict[str, str]:
        """name -> id, read from the store (this branch has no metrics route)."""
        conn = db.connect(self.database_url)
        try:
            return {name: mid for mid, name in conn.all("SELECT id, name FROM metrics WHERE account_id = ?",
                                                      (self.account.id,))}
        finally:
            conn.close()

    # -- segments and lists ------------------------------------------------------------------------
    def create_segment(self, definition: dict[str, Any], name: str = "segment") -> httpx.Response:
        return self.http.post("/api/segments", json={"data": {"type": "segment", "attributes": {
            "name": name, "definition": definition}}})

    def segment_id(self, definition: dict[str, Any], name: str = "segment") -> str:
        r = self.create_segment(definition, name)
        assert r.status_code == 201, r.text
        return r.json()["data"]["id"]

    def wait_processed(self, segment_ids: list[str], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        pending = list(segment_ids)
        while pending:
            r = self.http.get(f"/api/segments/{pending[0]}")
            assert r.status_code == 200, r.text
            if not r.json()["data"]["attributes"]["is_processing"]:
                pending.pop(0)
                continue
            assert time.monotonic() < deadline, f"segment {pending[0]} still processing"
            time.sleep(0.02)

    def members(self, family: str, group_id: str, **params: str) -> list[dict[str, Any]]:
        url: str | None = f"/api/{family}/{group_id}/profiles"
        query: dict[str, str] | None = {"page[size]": "100", **params}
        out = []
        while url:
            r = self.http.get(url, params=query)
            assert r.status_code == 200, r.text
            body = r.json()
            out.extend(body["data"])
            url, query = body["links"]["next"], None
        return out

    def member_emails(self, family: str, group_id: str) -> set[str]:
        return {p["attributes"]["email"] for p in self.members(family, group_id)}

    def create_list(self, name: str = "list") -> str:
        r = self.http.post("/api/lists", json={"data": {"type": "list", "attributes": {"name": name}}})
        assert r.status_code == 201, r.text
        return r.json()["data"]["id"]

    def list_members(self, list_id: str, emails: list[str], add: bool = True) -> httpx.Response:
        body = {"data": [{"type": "profile", "id": self.profile_ids[e]} for e in emails]}
        return self.http.request("POST" if add else "DELETE", f"/api/lists/{list_id}/relationships/profiles",
                                 json=body)


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02) -> float:
    """Poll until predicate() is true; returns the seconds it took (fails the test on timeout)."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "condition not reached in time"
        time.sleep(interval)
    return time.monotonic() - start
