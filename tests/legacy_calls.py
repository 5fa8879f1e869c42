"""How the tests call the legacy Track and Identify API: the way its clients encode requests."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from footfall.store import db


def b64(payload: Any, *, urlsafe: bool = False, padding: bool = True) -> str:
    """base64 of the JSON, as the SDKs put it in `?data=`."""
    raw = json.dumps(payload).encode()
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text if padding else text.rstrip("=")


def order(account, email: str = "ann@example.com", **fields: Any) -> dict[str, Any]:
    """A typical track payload for `account`; keyword arguments replace or add top-level keys."""
    payload: dict[str, Any] = {
        "token": account.public_key,
        "event": "Ordered Product",
        "customer_properties": {"$email": email},
        "properties": {"item_name": "Boots", "$value": 100},
        "time": 1_700_000_000,
    }
    payload.update(fields)
    return payload


def track(client: httpx.Client, payload: Any, **params: str) -> httpx.Response:
    return client.get("/api/track", params={"data": b64(payload), **params})


def identify(client: httpx.Client, payload: Any, **params: str) -> httpx.Response:
    return client.get("/api/identify", params={"data": b64(payload), **params})


def verbose(client: httpx.Client, route: str, payload: Any) -> dict[str, Any]:
    """The verbose JSON answer of /api/track or /api/identify (always HTTP 200)."""
    r = client.get(f"/api/{route}", params={"data": b64(payload), "verbose": "1"})
    assert r.status_code == 200, r.text
    return r.json()


def counter(database_url: str, account, name: str) -> int:
    """An account's running counter (events_stored, events_duplicate, profiles_created)."""
    conn = db.connect(database_url)
    try:
        row = conn.one("SELECT value FROM counters WHERE account_id = ? AND name = ?", (account.id, name))
    finally:
        conn.close()
    return row[0] if row else 0
