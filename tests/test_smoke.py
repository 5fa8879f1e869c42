"""The shortest path a user takes: track an event, read it back."""

import base64
import json


def b64(payload: dict) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def test_track_get_stores_event_and_profile(client, account, stored):
    payload = {
        "token": account.public_key,
        "event": "Ordered Product",
        "customer_properties": {"$email": "Ann@Example.com", "$first_name": "Ann"},
        "properties": {"item_name": "Boots", "$value": 100},
        "time": 1700000000,
    }
    r = client.get("/api/track", params={"data": b64(payload)})
    assert r.status_code == 200 and r.text == "1"
    [event] = stored.events()
    assert event["metric"] == "Ordered Product"
    assert event["value"] == 100 and event["timestamp"] == 1700000000
    assert event["properties"] == {"item_name": "Boots", "$value": 100}
    [profile] = stored.profiles()
    assert profile["email"] == "ann@example.com" and profile["first_name"] == "Ann"
    assert event["profile_id"] == profile["id"]


def test_unknown_token_is_zero(client):
    r = client.get("/api/track", params={"data": b64({"token": "NOPE99", "event": "x",
                                                      "customer_properties": {"$email": "a@b.co"}}),
                                         "verbose": "1"})
    assert r.status_code == 200
    assert r.json() == {"status": 0, "error": "token: 'NOPE99' is not the public key of any account"}


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
