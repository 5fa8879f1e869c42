"""PyPI `segment-analytics-python` 2.4.0 and `rudder-sdk-python` 2.1.9, pointed at Footfall (host=),
send every call they offer; what was stored is read back with `footfall export`, on both backends.

The SDKs batch in a background thread (upload_size), gzip (the flag), generate messageIds and
timestamps, and post /v1/batch with the write key as the Basic-auth user (and writeKey in the body).
"""

from __future__ import annotations

import pytest
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from tests.legacy_calls import track as klaviyo_track
from tests.segment_helpers import SegmentApi
from tests.servers import ServerThread, server_settings
from tests.sources_helpers import by_metric, export, wait_for, write_key
from tests.test_durability import hold_write_lock

SDKS = {"segment": SegmentClient, "rudder": RudderClient}


def client_for(sdk: str, key: str, url: str, *, errors: list, **options):
    return SDKS[sdk](key, host=url, on_error=lambda exc, batch: errors.append(exc), **options)


@pytest.mark.parametrize("sdk", list(SDKS))
def test_every_call_batched_and_gzipped_lands_on_one_profile(sdk, server, database_url, account):
    key = write_key(database_url, account)
    errors: list = []
    client = client_for(sdk, key["key"], server.url, errors=errors, gzip=True, upload_size=4, upload_interval=0.05)
    ctx = {"ip": "203.0.113.7", "userAgent": "pytest-sdk/1.0", "page": {"url": "https://shop.example/p/1"}}
    # An anonymous visitor browses, then signs up: alias ties the visitor to the known user.
    client.track(anonymous_id="visitor-1", event="Viewed Pricing", properties={"plan": "pro"})
    client.identify("user-1", {"email": "Ann@Example.com", "firstName": "Ann", "lastName": "Lee",
                               "address": {"city": "Oslo", "postalCode": "0150"}, "plan": "pro"})
    client.alias("visitor-1", "user-1")
    client.track("user-1", "Order Completed", {"revenue": 25.5, "currency": "usd", "sku": "B-1"}, context=ctx,
                 message_id="order-1")
    client.track("user-1", "Order Completed", {"revenue": 25.5, "currency": "usd", "sku": "B-1"}, context=ctx,
                 message_id="order-1")  # the same message sent again: deduplicated
    client.page("user-1", "Docs", "Install", {"url": "https://shop.example/docs", "title": "Install"})
    client.screen("user-1", "App", "Settings", {"tab": "privacy"})
    client.group("user-1", "org-9", {"name": "Acme", "employees": 12})
    client.flush()
    assert errors == []

    events = wait_for(lambda: export(database_url, account, "events"), lambda rows: len(rows) >= 4)
    profiles = export(database_url, account, "profiles")
    assert len(profiles) == 1, profiles  # the visitor was merged into the known profile
    [person] = profiles
    assert person["external_id"] == "user-1" and person["email"] == "ann@example.com"
    assert (person["first_name"], person["last_name"]) == ("Ann", "Lee")
    assert person["location"]["city"] == "Oslo" and person["location"]["zip"] == "0150"
    assert person["location"]["ip"] == "203.0.113.7"
    assert person["properties"]["plan"] == "pro"
    assert person["properties"]["group"] == {"id": "org-9", "name": "Acme", "employees": 12}
    metrics = by_metric(events)
    assert sorted(metrics) == ["Order Completed", "Viewed Page", "Viewed Pricing", "Viewed Screen"]
    assert all(e["profile_id"] == person["id"] for e in events)
    [order] = metrics["Order Completed"]
    assert order["unique_id"] == "order-1"
    assert order["value"] == 25.5 and order["value_currency"] == "USD"
    assert order["properties"]["sku"] == "B-1" and order["properties"]["$source"] == key["id"]
    assert order["properties"]["$context"]["userAgent"] == "pytest-sdk/1.0"
    assert order["properties"]["$context"]["page"] == {"url": "https://shop.example/p/1"}
    [page] = metrics["Viewed Page"]
    assert page["properties"]["name"] == "Install" and page["properties"]["category"] == "Docs"
    [screen] = metrics["Viewed Screen"]
    assert screen["properties"]["tab"] == "privacy" and screen["properties"]["name"] == "Settings"


@pytest.mark.parametrize("sdk", list(SDKS))
def test_retried_after_a_forced_503_and_stored_once(sdk, database_url, account):
    """The store is held by another client longer than the server waits for a commit: the batch is
    answered 503 + Retry-After, the SDK retries, and the message is stored once (messageId)."""
    key = write_key(database_url, account)
    srv = ServerThread(server_settings(database_url=database_url, ack_timeout_seconds=0.5)).start()
    errors: list = []
    lock = hold_write_lock(database_url)
    try:
        client = client_for(sdk, key["key"], srv.url, errors=errors, upload_size=10, upload_interval=0.05,
                            max_retries=20)
        client.track("user-503", "Retried", {"n": 1}, message_id="retry-1")
        wait_for(lambda: srv.services.pipeline.stats.timed_out, lambda n: n >= 1, timeout=15)
        lock.rollback()
        client.flush()
    finally:
        lock.rollback()
        lock.close()
        srv.stop()
    assert errors == []
    events = wait_for(lambda: export(database_url, account, "events"), lambda rows: len(rows) >= 1)
    assert [(e["metric"], e["unique_id"]) for e in events] == [("Retried", "retry-1")]


def test_segment_and_klaviyo_events_for_one_email_share_a_profile_and_a_segment(server, database_url, account,
                                                                                client):
    key = write_key(database_url, account)
    errors: list = []
    sdk = client_for("segment", key["key"], server.url, errors=errors, sync_mode=True)
    sdk.identify("cust-7", {"email": "both@example.com"})
    sdk.track("cust-7", "Started Trial", {"plan": "team"})
    assert errors == []
    assert klaviyo_track(client, {"token": account.public_key, "event": "Placed Order",
                                  "customer_properties": {"$email": "both@example.com"},
                                  "properties": {"$value": 10}}).text == "1"
    [person] = export(database_url, account, "profiles")
    events = export(database_url, account, "events")
    assert sorted(e["metric"] for e in events) == ["Placed Order", "Started Trial"]
    assert {e["profile_id"] for e in events} == {person["id"]}

    api = SegmentApi(server.url, account, database_url)
    try:
        metric_ids = api.metric_ids()
        did = lambda name: {"type": "profile-metric", "metric_id": metric_ids[name], "measurement": "count",  # noqa: E731
                            "measurement_filter": {"type": "numeric", "operator": "greater-than-or-equal",
                                                   "value": 1}, "timeframe_filter": {"type": "date",
                                                                                     "operator": "alltime"}}
        segment = api.segment_id({"condition_groups": [{"conditions": [did("Started Trial")]},
                                                       {"conditions": [did("Placed Order")]}]}, "both wires")
        api.wait_processed([segment])
        assert api.member_emails("segments", segment) == {"both@example.com"}
    finally:
        api.close()
