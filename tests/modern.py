"""Helpers for the modern API tests: headers and the documents Klaviyo's SDKs send."""

from __future__ import annotations

from typing import Any

import pytest

from footfall.domain import scopes
from footfall.store import accounts, db

REVISION = "2026-07-15"


def server_headers(key: str, content_type: str = "application/vnd.api+json") -> dict[str, str]:
    return {"Authorization": f"Klaviyo-API-Key {key}", "revision": REVISION,
            "Content-Type": content_type, "Accept": "application/vnd.api+json"}


def client_headers() -> dict[str, str]:
    return {"revision": REVISION, "Content-Type": "application/json"}


def profile_data(**attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": attributes}}


def event_body(metric: str, profile: dict[str, Any], properties: dict[str, Any] | None = None,
               **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "event", "attributes": {
        "properties": {} if properties is None else properties,
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        "profile": {"data": {"type": "profile", "attributes": profile}},
        **attributes,
    }}}


def bulk_event(metric: str, properties: dict[str, Any] | None = None, **attributes: Any) -> dict[str, Any]:
    return {"type": "event", "attributes": {
        "properties": properties or {},
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        **attributes,
    }}


def bulk_entry(profile: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "event-bulk-create", "attributes": {
        "profile": {"data": {"type": "profile", "attributes": profile}},
        "events": {"data": events},
    }}


def bulk_job_body(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": entries}}}}


def error(response) -> dict[str, Any]:
    """The single JSON:API error of a response."""
    [err] = response.json()["errors"]
    return err


@pytest.fixture
def read_only_key(database_url, account) -> str:
    """A private key of the test account with read scopes only."""
    conn = db.connect(database_url)
    try:
        return accounts.create_key(conn, account.id, "read-only", scopes.READ_ONLY)
    finally:
        conn.close()
