"""The webhook management API: Klaviyo's shapes (201, secret never echoed, topics as a relationship),
topics per metric, the delivery log's filters, and hostile input (a 400 naming the pointer, never a
500, nothing stored)."""

from __future__ import annotations

import json

import pytest

from footfall.store import db
from tests.webhook_helpers import SECRET, create_webhook, headers, track, webhook_doc

URL = "https://hooks.example.com/footfall/receive?token=abc"


def _count(database_url: str, account_id: str) -> int:
    conn = db.connect(database_url)
    try:
        return conn.one("SELECT COUNT(*) FROM webhooks WHERE account_id = ?", (account_id,))[0]
    finally:
        conn.close()


def test_create_read_update_delete(client, account):
    key = headers(account.private_key)
    r = client.post("/api/webhooks", json=webhook_doc(URL, ["event:placed_order", "profile:created"],
                                                      description="d"), headers=key)
    assert r.status_code == 201, r.text
    assert SECRET not in r.text and "token=abc" not in r.text  # secret never echoed, URL truncated
    data = r.json()["data"]
    assert data["type"] == "webhook" and data["attributes"]["enabled"] is True
    assert data["attributes"]["endpoint_url"].startswith("https://hooks.example.com/")
    assert [t["id"] for t in data["relationships"]["webhook-topics"]["data"]] == ["event:placed_order", "profile:created"]
    wid = data["id"]
    listed = client.get("/api/webhooks", headers=key).json()["data"]
    assert [w["id"] for w in listed] == [wid]
    r = client.patch(f"/api/webhooks/{wid}", headers=key, json={"data": {"type": "webhook", "id": wid, "attributes": {
        "enabled": False, "name": "renamed"}, "relationships": {"webhook-topics": {"data": [
            {"type": "webhook-topic", "id": "segment:joined"}]}}}})
    assert r.status_code == 200, r.text
    attrs = r.json()["data"]["attributes"]
    assert attrs["enabled"] is False and attrs["name"] == "renamed"
    assert r.json()["data"]["relationships"]["webhook-topics"]["data"] == [{"type": "webhook-topic", "id": "segment:joined"}]
    assert SECRET not in client.get(f"/api/webhooks/{wid}", headers=key).text
    assert client.delete(f"/api/webhooks/{wid}", headers=key).status_code == 204
    assert client.get(f"/api/webhooks/{wid}", headers=key).status_code == 404


def test_topics_are_one_per_metric_plus_the_fixed_ones(client, account):
    track(client, account.public_key, "t@x.co", metric="Placed Order")
    track(client, account.public_key, "t@x.co", metric="Viewed Product: Shoes!")
    key = headers(account.private_key)
    topics = {t["id"]: t["attributes"]["name"] for t in client.get("/api/webhook-topics", headers=key).json()["data"]}
    assert topics["event:placed_order"] == "Placed Order"
    assert topics["event:viewed_product_shoes_"] == "Viewed Product: Shoes!"
    for fixed in ("profile:created", "profile:updated", "profile:merged", "profile:deleted", "segment:joined",
                  "segment:left", "list:added", "list:removed"):
        assert fixed in topics
    one = client.get("/api/webhook-topics/event:placed_order", headers=key)
    assert one.status_code == 200 and one.json()["data"]["attributes"]["name"] == "Placed Order"
    assert client.get("/api/webhook-topics/event:nothing_here", headers=key).status_code == 404


def test_delivery_log_filters_and_paging(client, account):
    key = headers(account.private_key)
    assert client.get("/api/webhook-deliveries", headers=key).json()["data"] == []
    for bad in ('equals(secret,"x")', 'equals(status,"lost")', "greater-or-equal(created_at,\"2020\")", "nonsense("):
        r = client.get("/api/webhook-deliveries", params={"filter": bad}, headers=key)
        assert r.status_code == 400 and r.json()["errors"][0]["source"]["parameter"] == "filter", (bad, r.text)
    for bad in ("0", "101", "x"):
        r = client.get("/api/webhook-deliveries", params={"page[size]": bad}, headers=key)
        assert r.status_code == 400
    r = client.get("/api/webhook-deliveries", params={"page[cursor]": "!!!"}, headers=key)
    assert r.status_code == 400
    assert client.get("/api/webhook-deliveries/01NOTADELIVERY", headers=key).status_code == 404
    assert client.post("/api/webhook-deliveries/01NOTADELIVERY/retry", headers=key).status_code == 404


def _topics(*ids):
    return {"webhook-topics": {"data": [{"type": "webhook-topic", "id": t} for t in ids]}}


HOSTILE = [
    ("not an object", [1, 2], "/data"),
    ("wrong type", {"data": {"type": "profile", "attributes": {}}}, "/data/type"),
    ("no name", {"data": {"type": "webhook", "attributes": {"endpoint_url": URL, "secret_key": SECRET},
                          "relationships": _topics("profile:created")}}, "/data/attributes/name"),
    ("http URL", {"data": {"type": "webhook", "attributes": {"name": "x", "endpoint_url": "http://hooks.example.com/",
                                                             "secret_key": SECRET},
                           "relationships": _topics("profile:created")}}, "/data/attributes/endpoint_url"),
    ("ftp URL", {"data": {"type": "webhook", "attributes": {"name": "x", "endpoint_url": "ftp://a/", "secret_key": SECRET},
                          "relationships": _topics("profile:created")}}, "/data/attributes/endpoint_url"),
    ("URL with a password", {"data": {"type": "webhook", "attributes": {
        "name": "x", "endpoint_url": "https://u:p@hooks.example.com/", "secret_key": SECRET},
        "relationships": _topics("profile:created")}}, "/data/attributes/endpoint_url"),
    ("URL bad port", {"data": {"type": "webhook", "attributes": {
        "name": "x", "endpoint_url": "https://hooks.example.com:99999/", "secret_key": SECRET},
        "relationships": _topics("profile:created")}}, "/data/attributes/endpoint_url"),
    ("loopback over http", {"data": {"type": "webhook", "attributes": {
        "name": "x", "endpoint_url": "http://127.0.0.1:9/", "secret_key": SECRET},
        "relationships": _topics("profile:created")}}, "/data/attributes/endpoint_url"),
    ("short secret", {"data": {"type": "webhook", "attributes": {"name": "x", "endpoint_url": URL, "secret_key": "short"},
                               "relationships": _topics("profile:created")}}, "/data/attributes/secret_key"),
    ("secret not a string", {"data": {"type": "webhook", "attributes": {"name": "x", "endpoint_url": URL,
                                                                        "secret_key": 12345678901234567890},
                                      "relationships": _topics("profile:created")}}, "/data/attributes/secret_key"),
    ("NUL in name", {"data": {"type": "webhook", "attributes": {"name": "a\u0000b", "endpoint_url": URL,
                                                                "secret_key": SECRET},
                              "relationships": _topics("profile:created")}}, "/data/attributes/name"),
    ("huge name", {"data": {"type": "webhook", "attributes": {"name": "x" * 300, "endpoint_url": URL, "secret_key": SECRET},
                            "relationships": _topics("profile:created")}}, "/data/attributes/name"),
    ("no topics", {"data": {"type": "webhook", "attributes": {"name": "x", "endpoint_url": URL, "secret_key": SECRET}}},
     "/data/relationships/webhook-topics"),
    ("empty topics", {"data": {"type": "webhook", "attributes": {"name": "x", "endpoint_url": URL, "secret_key": SECRET},
                               "relationships": {"webhook-topics": {"data": []}}}}, "/data/relationships/webhook-topics/data"),
    ("unknown topic", {"data": {"type": "webhook", "attributes": {"name": "x", "endpoint_url": URL, "secret_key": SECRET},
                                "relationships": _topics("profile:created", "profile:exploded")}},
     "/data/relationships/webhook-topics/data/1/id"),
    ("topic not an object", {"data": {"type": "webhook", "attributes": {"name": "x", "endpoint_url": URL,
                                                                        "secret_key": SECRET},
                                      "relationships": {"webhook-topics": {"data": ["profile:created"]}}}},
     "/data/relationships/webhook-topics/data/0"),
    ("bad format", {"data": {"type": "webhook", "attributes": {"name": "x", "endpoint_url": URL, "secret_key": SECRET,
                                                               "format": "xml"}, "relationships": _topics("profile:created")}},
     "/data/attributes/format"),
    ("batch size 0", {"data": {"type": "webhook", "attributes": {"name": "x", "endpoint_url": URL, "secret_key": SECRET,
                                                                 "batch_size": 0}, "relationships": _topics("profile:created")}},
     "/data/attributes/batch_size"),
    ("batch size true", {"data": {"type": "webhook", "attributes": {"name": "x", "endpoint_url": URL, "secret_key": SECRET,
                                                                    "batch_size": True},
                                  "relationships": _topics("profile:created")}}, "/data/attributes/batch_size"),
    ("enabled as a string", {"data": {"type": "webhook", "attributes": {"name": "x", "endpoint_url": URL,
                                                                        "secret_key": SECRET, "enabled": "yes"},
                                      "relationships": _topics("profile:created")}}, "/data/attributes/enabled"),
    ("group ids not a list", {"data": {"type": "webhook", "attributes": {"name": "x", "endpoint_url": URL,
                                                                         "secret_key": SECRET, "group_ids": "abc"},
                                       "relationships": _topics("segment:joined")}}, "/data/attributes/group_ids"),
]


@pytest.mark.parametrize("name,doc,pointer", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_webhook_bodies_are_refused_with_a_pointer(client, account, database_url, name, doc, pointer):
    r = client.post("/api/webhooks", content=json.dumps(doc).encode(), headers=headers(account.private_key))
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["source"]["pointer"] == pointer, r.text
    assert _count(database_url, account.id) == 0


def test_malformed_and_oversized_bodies(client, account, database_url):
    key = headers(account.private_key)
    for body in (b"", b"{", b"\xff\xfe", b"[" * 60_000):
        r = client.post("/api/webhooks", content=body, headers=key)
        assert r.status_code == 400, (body[:10], r.text)
    r = client.post("/api/webhooks", content=b'{"data": "' + b"x" * 70_000 + b'"}', headers=key)
    assert r.status_code == 413
    r = client.post("/api/webhooks", content=b"{}", headers={**key, "content-type": "text/xml"})
    assert r.status_code == 415
    hook = create_webhook(client, account.private_key, URL, ["profile:created"])
    wid = hook["id"]
    for doc, pointer in (({"data": {"type": "webhook", "id": "other", "attributes": {}}}, "/data/id"),
                         ({"data": {"type": "webhook", "id": wid, "attributes": {"endpoint_url": "http://x/"}}},
                          "/data/attributes/endpoint_url"),
                         ({"data": {"type": "webhook", "id": wid, "attributes": []}}, "/data/attributes")):
        r = client.patch(f"/api/webhooks/{wid}", json=doc, headers=key)
        assert r.status_code == 400 and r.json()["errors"][0]["source"]["pointer"] == pointer, r.text
    for doc, pointer in (({"data": {"type": "webhook-replay", "attributes": {"start": "yesterday", "end": "x"}}},
                          "/data/attributes/start"),
                         ({"data": {"type": "webhook-replay", "attributes": {"start": "2026-01-02T00:00:00Z",
                                                                            "end": "2026-01-01T00:00:00Z"}}},
                          "/data/attributes/end")):
        r = client.post(f"/api/webhooks/{wid}/replay", json=doc, headers=key)
        assert r.status_code == 400 and r.json()["errors"][0]["source"]["pointer"] == pointer, r.text
    assert client.get("/api/webhooks/%00", headers=key).status_code == 400  # NUL: refused before SQL
    assert _count(database_url, account.id) == 1
