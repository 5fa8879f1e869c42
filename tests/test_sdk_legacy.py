"""Klaviyo's own legacy SDKs, pointed at Footfall by base URL alone, record what export then shows.

PyPI `klaviyo` 3.1.7 (Public.track / Public.identify, GET and POST) and npm `klaviyo-node` 1.0.8.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import warnings
from datetime import datetime
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # the SDK warns that it is deprecated
    import klaviyo.api_helper
    from klaviyo.public import Public

NODE_DIR = Path(__file__).parent / "sdk" / "node"


@pytest.fixture
def sdk(server, account, monkeypatch) -> Public:
    """The Python SDK aimed at Footfall: `api_server` for GET, the class constant for POST (which ignores it)."""
    monkeypatch.setattr(klaviyo.api_helper.KlaviyoAPI, "KLAVIYO_API_SERVER", server.url + "/api")
    return Public(public_token=account.public_key, api_server=server.url + "/api")


@pytest.mark.parametrize("method", ["get", "post"])
def test_python_sdk_track_and_identify(sdk, stored, method):
    answer = sdk.identify(email="Py.User@Example.com", external_id="py-1", method=method,
                          properties={"$first_name": "Py", "$zip": "10115", "plan": "basic"})
    assert (answer.status_code, answer.data) == (200, 1)
    answer = sdk.track("Ordered Product", email="py.user@example.com", method=method,
                       properties={"$value": 25.5, "$event_id": f"py-{method}", "items": ["pen"], "note": "a&b+c%"},
                       customer_properties={"$last_name": "Thon"}, timestamp=1_700_000_000, ip_address="198.51.100.4")
    assert answer.data == 1
    # A naive datetime becomes a float of local epoch seconds in the SDK.
    answer = sdk.track("Viewed Product", external_id="py-1", method=method, properties={"name": "Pen"},
                       timestamp=datetime.fromtimestamp(1_700_000_100))
    assert answer.data == 1

    [profile] = stored.profiles()
    assert (profile["email"], profile["external_id"]) == ("py.user@example.com", "py-1")
    assert (profile["first_name"], profile["last_name"]) == ("Py", "Thon")
    assert profile["location"]["zip"] == "10115" and profile["location"]["ip"] == "198.51.100.4"
    assert profile["properties"] == {"plan": "basic"}
    ordered, viewed = stored.events()
    assert ordered["metric"] == "Ordered Product" and ordered["profile_id"] == profile["id"]
    assert (ordered["value"], ordered["timestamp"], ordered["unique_id"]) == (25.5, 1_700_000_000, f"py-{method}")
    assert ordered["properties"] == {"$value": 25.5, "$event_id": f"py-{method}", "items": ["pen"], "note": "a&b+c%"}
    assert (viewed["metric"], viewed["timestamp"], viewed["profile_id"]) == ("Viewed Product", 1_700_000_100, profile["id"])
    assert viewed["properties"] == {"name": "Pen"}


def test_python_sdk_track_once_records_the_first_only(sdk, stored):
    for when in (1_700_000_000, 1_700_000_500):
        assert sdk.track_once("Started Trial", email="once@example.com", timestamp=when).data == 1
    [event] = stored.events()
    assert event["timestamp"] == 1_700_000_000


def test_python_sdk_gets_0_for_an_unknown_token(server, stored):
    sdk = Public(public_token="NOSUCH", api_server=server.url + "/api")
    assert sdk.track("Ordered Product", email="a@example.com").data == 0


def test_node_sdk_track_and_identify(server, account, stored):
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "klaviyo-node").exists():
        missing = "node or tests/sdk/node/node_modules is missing (`make test` installs it: npm ci)"
        pytest.fail(missing) if os.environ.get("CI") == "true" else pytest.skip(missing)
    before = int(time.time())
    done = subprocess.run(["node", "legacy.js", server.url, account.public_key], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"identify": 1, "track": 1, "viewed": 1, "unknownToken": 0}

    [profile] = stored.profiles()
    assert profile["email"] == "node.user@example.com" and profile["phone_number"] == "+3725123456"
    assert (profile["first_name"], profile["last_name"]) == ("Noa", "Node")
    assert profile["location"]["city"] == "Tallinn" and profile["properties"] == {"plan": "pro"}
    events = {e["metric"]: e for e in stored.events()}
    assert set(events) == {"Ordered Product", "Viewed Product"}
    ordered = events["Ordered Product"]
    assert (ordered["value"], ordered["unique_id"], ordered["profile_id"]) == (59.9, "node-order-1", profile["id"])
    assert ordered["properties"] == {"$value": 59.9, "$event_id": "node-order-1", "items": ["lamp", "bulb"]}
    assert before <= ordered["timestamp"] <= time.time() + 1  # the SDK sends no time: received now
    assert events["Viewed Product"]["properties"] == {"name": "Lamp"}
