"""Every part of every write document replaced by a wrong type: a clear 4xx, never a 500 or a partial write.

Also the service limits: an oversized body (413) and a full ingest queue (503 with integer Retry-After).
"""

from __future__ import annotations

import copy
import json
import logging
import socket
import time
from typing import Any, Iterator

import httpx
import pytest

from footfall.domain.limits import Limits
from footfall.wire.jsonapi import MEDIA_TYPE
from tests.modern import (
    bulk_entry, bulk_event, bulk_job_body, client_headers, error, event_body, profile_data, server_headers,
)
from tests.servers import ServerThread, new_account, server_settings

WRONG = [None, 7, "x", [], {}, True, "\u0000"]


def leaves(doc: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from leaves(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from leaves(value, (*path, i))


def replaced(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(doc)
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


def documents(pid: str) -> list[tuple[str, str, Any]]:
    full = {"email": "r@example.com", "phone_number": "+14155550111", "first_name": "R",
            "location": {"city": "Lima", "latitude": 1.5}, "properties": {"k": ["v"]}}
    merge = {"data": {"type": "profile-merge", "id": pid,
                      "relationships": {"profiles": {"data": [{"type": "profile", "id": pid}]}}}}
    patch = {"data": {"type": "profile", "id": pid, "attributes": {"first_name": "P"},
                      "meta": {"patch_properties": {"append": {"a": 1}, "unset": ["b"]}}}}
    return [
        ("POST", "/api/events", event_body("E", full, {"p": 1}, time="2024-01-01T00:00:00Z", value=1,
                                          value_currency="EUR", unique_id="u")),
        ("POST", "/api/event-bulk-create-jobs",
         bulk_job_body([bulk_entry({"email": "b@example.com"}, [bulk_event("B", {"p": 1}, unique_id="u")])])),
        ("POST", "/api/profile-import", profile_data(**full)),
        ("PATCH", f"/api/profiles/{pid}", patch),
        ("POST", "/api/profile-merge", merge),
    ]


@pytest.mark.parametrize("route", range(5))
def test_wrong_types_everywhere_are_4xx(client, account, stored, route):
    h = server_headers(account.private_key)
    pid = client.post("/api/profiles", json=profile_data(email="base@example.com"), headers=h).json()["data"]["id"]
    before_events, before_profiles = stored.events(), stored.profiles()
    method, path, doc = documents(pid)[route]
    for where in leaves(doc):
        for value in WRONG:
            candidate = replaced(doc, where, value)
            r = client.request(method, path, json=candidate, headers=h)
            assert r.status_code < 500, (where, value, r.text)
            if r.status_code >= 400:
                assert r.json()["errors"][0]["detail"], r.text
    assert len(stored.profiles()) >= len(before_profiles)
    assert all(p["email"] != "\u0000" for p in stored.profiles())
    assert len(before_events) == 0


def test_client_routes_wrong_types_are_4xx(client, account, stored):
    docs = [
        ("/client/events", event_body("E", {"email": "c@example.com"}, {"p": 1}, unique_id="u")),
        ("/client/profiles", profile_data(email="c@example.com", properties={"a": 1})),
        ("/client/event-bulk-create", {"data": bulk_entry({"email": "c@example.com"}, [bulk_event("B")])}),
        ("/client/subscriptions", {"data": {"type": "subscription", "attributes": {"profile": {"data": {
            "type": "profile", "attributes": {"email": "c@example.com",
                                              "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}}}}}},
            "relationships": {"list": {"data": {"type": "list", "id": "L1"}}}}}),
    ]
    for path, doc in docs:
        for where in leaves(doc):
            for value in WRONG:
                r = client.post(path, params={"company_id": account.public_key}, json=replaced(doc, where, value),
                                headers=client_headers())
                assert r.status_code < 500, (path, where, value, r.text)


@pytest.fixture(scope="module")
def tight_server(database_url) -> Iterator[ServerThread]:
    """A server with a 4 KB modern payload limit and an ingest queue that takes nothing."""
    settings = server_settings(database_url=database_url, limits=Limits(modern_payload_bytes=4096), queue_max_items=0,
                        retry_after_seconds=3)
    srv = ServerThread(settings).start()
    yield srv
    srv.stop()


def test_oversized_body_413_and_full_queue_503(tight_server, database_url):
    acct = new_account(database_url, f"tight-{id(tight_server)}-{tight_server.port}")
    with httpx.Client(base_url=tight_server.url, timeout=30) as c:
        big = event_body("Big", {"email": "big@example.com"}, {"blob": "x" * 5000})
        r = c.post("/api/events", json=big, headers=server_headers(acct.private_key))
        assert r.status_code == 413 and error(r)["code"] == "payload_too_large"
        for path, body in (("/api/events", event_body("Q", {"email": "q@example.com"})),
                           ("/api/profiles", profile_data(email="q@example.com"))):
            r = c.post(path, json=body, headers=server_headers(acct.private_key))
            assert r.status_code == 503 and r.headers["retry-after"] == "3", r.text
        browser = {**client_headers(), "Origin": "https://shop.example"}
        r = c.post("/client/events", params={"company_id": acct.public_key},
                   json=event_body("Q", {"email": "q@example.com"}), headers=browser)
        assert r.status_code == 503 and r.headers["retry-after"] == "3"
        assert r.headers["access-control-allow-origin"] == "*" and r.headers["content-type"] == MEDIA_TYPE
        r = c.post("/client/events", params={"company_id": acct.public_key}, json=big, headers=browser)
        assert r.status_code == 413 and error(r)["code"] == "payload_too_large"
        assert r.headers["access-control-allow-origin"] == "*" and "retry-after" not in r.headers


@pytest.mark.parametrize("path", ["/client/events", "/api/events", "/api/track"])
def test_client_gone_mid_body_is_not_an_error(server, client, account, stored, caplog, path):
    """A client that disconnects before its body arrived gets no answer (there is nobody to answer),
    nothing is stored and nothing is logged as an error; the server goes on serving."""
    body = json.dumps(event_body("Gone", {"email": "gone@example.com"})).encode()
    head = (f"POST {path}?company_id={account.public_key} HTTP/1.1\r\nHost: x\r\nrevision: 2026-07-15\r\n"
            f"Authorization: Klaviyo-API-Key {account.private_key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with caplog.at_level(logging.WARNING):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(head + body[:10])
            time.sleep(0.2)  # the handler is reading the body when the client goes
        time.sleep(0.2)
        r = client.post("/client/events", params={"company_id": account.public_key},
                        json=event_body("Next", {"email": "next@example.com"}), headers=client_headers())
    assert r.status_code == 202
    assert [e["metric"] for e in stored.events()] == ["Next"]
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR], caplog.text
