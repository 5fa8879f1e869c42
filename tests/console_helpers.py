"""Helpers for the console's tests: sending events and profiles through the API, signing a page in."""

from __future__ import annotations

import base64
import json
import time

import httpx

from footfall.store import accounts, db
from tests.servers import TestAccount

REVISION = {"revision": "2026-07-15"}


def private_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Klaviyo-API-Key {key}", **REVISION, "Content-Type": "application/json",
            "Accept": "application/json"}


def track(client: httpx.Client, account: TestAccount, email: str, metric: str, *, when: int | None = None,
          properties: dict | None = None, value: float | None = None, customer: dict | None = None) -> None:
    props = dict(properties or {})
    if value is not None:
        props["$value"] = value
    payload = {"token": account.public_key, "event": metric,
               "customer_properties": {"$email": email, **(customer or {})}, "properties": props}
    if when is not None:
        payload["time"] = when
    data = base64.b64encode(json.dumps(payload).encode()).decode()
    r = client.get("/api/track", params={"data": data})
    assert r.text == "1", r.text


def metric_id(client: httpx.Client, account: TestAccount, name: str) -> str:
    r = client.get("/api/metrics", headers=private_headers(account.private_key))
    assert r.status_code == 200, r.text
    return next(m["id"] for m in r.json()["data"] if m["attributes"]["name"] == name)


def read_only_key(database_url: str, account: TestAccount) -> str:
    from footfall.domain.scopes import READ_ONLY
    conn = db.connect(database_url)
    try:
        return accounts.create_key(conn, account.id, "read-only", READ_ONLY)
    finally:
        conn.close()


def sign_in(page, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def wait_until(check, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
