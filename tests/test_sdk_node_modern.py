"""The npm `klaviyo-api` SDK (basePath pointed at Footfall) creates an event and lists profiles."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "sdk" / "node"


@pytest.fixture(scope="module")
def node():
    path = shutil.which("node")
    if path is None or not (NODE_DIR / "node_modules" / "klaviyo-api").exists():
        pytest.fail("node and tests/sdk/node/node_modules are required (make test runs npm ci)")
    return path


def test_node_sdk_creates_event_and_lists_profiles(node, server, account, stored):
    run = subprocess.run(
        [node, "modern.js", server.url, account.private_key, "Node.User@Example.com"],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["createStatus"] == 202
    [profile] = result["profiles"]
    assert profile["email"] == "node.user@example.com" and profile["firstName"] == "Node"
    [event] = stored.events()
    assert event["metric"] == "Placed Order"
    assert event["profile_id"] == profile["id"]
    assert event["value"] == 99.5 and event["value_currency"] == "EUR"
    assert event["unique_id"] == "node-order-1"
    assert event["timestamp"] == 1735787045
    assert event["properties"] == {"item": "Boots", "size": 42}
