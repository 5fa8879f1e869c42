"""Helpers for the webhook tests: a server that may deliver to loopback, webhooks made over the API,
and the independent check of Klaviyo's signature recipe."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import httpx

from bench.routes import REVISION

SECRET = "a-secret-of-at-least-16-chars"


def headers(key: str) -> dict[str, str]:
    return {"revision": REVISION, "content-type": "application/vnd.api+json", "accept": "application/vnd.api+json",
            "authorization": f"Klaviyo-API-Key {key}"}


def webhook_doc(url: str, topics: list[str], **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "webhook",
                     "attributes": {"name": "test hook", "endpoint_url": url, "secret_key": SECRET, **attributes},
                     "relationships": {"webhook-topics": {"data": [{"type": "webhook-topic", "id": t} for t in topics]}}}}


def create_webhook(client: httpx.Client, key: str, url: str, topics: list[str], **attributes: Any) -> dict[str, Any]:
    r = client.post("/api/webhooks", json=webhook_doc(url, topics, **attributes), headers=headers(key))
    assert r.status_code == 201, r.text
    return r.json()["data"]


def klaviyo_valid(secret: str, body: bytes, received_headers: dict[str, str]) -> bool:
    """Klaviyo's recipe, written from its description (not from Footfall's code): lower-case hex
    HMAC-SHA256 keyed with the secret over the raw body followed by the Klaviyo-Timestamp value."""
    expected = hmac.new(secret.encode("utf-8"), body + received_headers["klaviyo-timestamp"].encode("utf-8"),
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received_headers["klaviyo-signature"])


def track(client: httpx.Client, public_key: str, email: str, metric: str = "Placed Order", **props: Any) -> None:
    r = client.post(f"/client/events?company_id={public_key}", headers={"revision": REVISION,
                    "content-type": "application/json"}, json={"data": {"type": "event", "attributes": {
                        "properties": props, "unique_id": uuid.uuid4().hex, "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
                        "profile": {"data": {"type": "profile", "attributes": {"email": email}}}}}})
    assert r.status_code == 202, r.text
