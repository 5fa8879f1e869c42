"""npm `@segment/analytics-node` 3.1.0 and `posthog-node` 5.70.0 (tests/sdk/node/segment.js, posthog.js),
pointed at Footfall, send every call they offer; what was stored is read back with `footfall export`,
on both backends. Both batch (4 per request here) and retry; posthog-node gzips its batches."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers import ServerThread, server_settings
from tests.sources_helpers import by_metric, export, wait_for, write_key
from tests.test_durability import hold_write_lock

NODE_DIR = Path(__file__).parent / "sdk" / "node"


@pytest.fixture(scope="module")
def node():
    path = shutil.which("node")
    modules = NODE_DIR / "node_modules"
    if path is None or not (modules / "@segment" / "analytics-node").exists() or not (modules / "posthog-node").exists():
        pytest.fail("node and tests/sdk/node/node_modules are required (make test runs npm ci)")
    return path


def run(node: str, script: str, url: str, key: str, scenario: str) -> dict:
    done = subprocess.run([node, script, url, key, scenario], cwd=NODE_DIR, capture_output=True, text=True,
                          timeout=90)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["errors"] == [], out
    return out


def test_segment_node_sends_every_call(node, server, database_url, account):
    key = write_key(database_url, account)
    run(node, "segment.js", server.url, key["key"], "all")
    profiles = export(database_url, account, "profiles")
    [person] = profiles  # the visitor was merged into the user by alias
    assert (person["external_id"], person["email"], person["first_name"]) == ("node-user", "node@example.com", "Nod")
    assert person["properties"]["group"] == {"id": "org-n", "name": "Nodeco"}
    assert person["location"]["ip"] == "198.51.100.4"
    events = export(database_url, account, "events")
    metrics = by_metric(events)
    assert sorted(metrics) == ["Order Completed", "Viewed Page", "Viewed Pricing", "Viewed Screen"]
    assert {e["profile_id"] for e in events} == {person["id"]}
    [order] = metrics["Order Completed"]  # sent twice, stored once
    assert (order["unique_id"], order["value"], order["value_currency"]) == ("node-order-1", 30.0, "USD")
    assert order["properties"]["$context"]["userAgent"] == "node-sdk-test"
    assert order["properties"]["$source"] == key["id"]


def test_posthog_node_sends_every_call(node, server, database_url, account):
    key = write_key(database_url, account)
    out = run(node, "posthog.js", server.url, key["key"], "all")
    assert out["flag"] is None and out["enabled"] in (None, False) and out["flags"] == {}
    people = {p["id"]: p for p in export(database_url, account, "profiles")}
    [person] = [p for p in people.values() if p["external_id"] == "ph-user"]
    assert person["email"] == "ph@example.com" and person["first_name"] == "Pea"
    assert person["properties"] == {"first_seen": "2026-01-01", "plan": "pro"}  # temp was unset; set_once kept
    metrics = by_metric(export(database_url, account, "events"))
    assert {"Viewed Pricing", "Order Completed", "$groupidentify", "$exception"} <= set(metrics)
    assert set(metrics) - {"Viewed Pricing", "Order Completed", "$groupidentify", "$exception"} <= {
        "$feature_flag_called"}
    # $identify merged the personless visitor into the person: its event moved with it
    [viewed] = metrics["Viewed Pricing"]
    assert viewed["profile_id"] == person["id"]
    [order] = metrics["Order Completed"]
    assert (order["unique_id"], order["value"], order["value_currency"]) == (
        "9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d", 7.5, "GBP")
    [group] = metrics["$groupidentify"]
    assert people[group["profile_id"]]["external_id"] is None


@pytest.mark.parametrize("script, metric, unique", [
    ("segment.js", "Retried", "node-retry-1"), ("posthog.js", "Retried", "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b")])
def test_node_sdks_retry_after_a_forced_503(node, database_url, account, script, metric, unique):
    key = write_key(database_url, account)
    srv = ServerThread(server_settings(database_url=database_url, ack_timeout_seconds=0.5)).start()
    lock = hold_write_lock(database_url)
    try:
        proc = subprocess.Popen([node, script, srv.url, key["key"], "retry"], cwd=NODE_DIR, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        wait_for(lambda: srv.services.pipeline.stats.timed_out, lambda n: n >= 1, timeout=30)
        lock.rollback()
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        lock.rollback()
        lock.close()
        srv.stop()
    assert proc.returncode == 0, stderr
    assert json.loads(stdout)["errors"] == []
    events = export(database_url, account, "events")
    assert [(e["metric"], e["unique_id"]) for e in events] == [(metric, unique)]
