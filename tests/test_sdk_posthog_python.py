"""PyPI `posthog` 7.91.1, pointed at Footfall (host=), sends every call it offers; what was stored is
read back with `footfall export`, on both backends.

The SDK batches to /batch/ from a background thread (flush_at), gzips (the flag), posts the key as
`api_key` in the body, a `uuid` per event, `timestamp` and the batch's `sent_at`; flags come from
/flags/?v=4, answered "none".
"""

from __future__ import annotations

import pytest
from posthog import Posthog

from tests.servers import ServerThread, server_settings
from tests.sources_helpers import by_metric, export, wait_for, write_key
from tests.test_durability import hold_write_lock


def client_for(key: str, url: str, errors: list, **options) -> Posthog:
    return Posthog(key, host=url, on_error=lambda exc, batch: errors.append(exc), **options)


def test_every_call_batched_and_gzipped_lands_on_one_person(server, database_url, account):
    key = write_key(database_url, account)
    errors: list = []
    ph = client_for(key["key"], server.url, errors, gzip=True, flush_at=3, flush_interval=0.05)
    try:
        # An anonymous visitor (a personless event: no distinct_id given), then $identify ties it to the user.
        visitor = ph.capture("Viewed Pricing", properties={"plan": "pro"})
        assert visitor is not None
        ph.capture("$identify", distinct_id="user-1",
                   properties={"$set": {"email": "Ann@Example.com", "first_name": "Ann"}})
        ph.set(distinct_id="user-1", properties={"plan": "pro", "last_name": "Lee"})
        ph.set_once(distinct_id="user-1", properties={"first_seen": "2026-01-01"})
        ph.set_once(distinct_id="user-1", properties={"first_seen": "2027-01-01"})  # the first one stays
        ph.capture("Order Completed", distinct_id="user-1", properties={"revenue": 12.5, "currency": "eur"},
                   uuid="0b8f4a57-2a5d-4d6a-9c1e-0a4e2c1b9f10")
        ph.capture("Order Completed", distinct_id="user-1", properties={"revenue": 12.5, "currency": "eur"},
                   uuid="0b8f4a57-2a5d-4d6a-9c1e-0a4e2c1b9f10")  # sent again: deduplicated
        ph.capture("$pageview", distinct_id="user-1", properties={"$current_url": "https://shop.example/"})
        ph.group_identify("company", "acme", {"name": "Acme"})
        ph.alias(previous_id="device-7", distinct_id="user-1")
        try:
            raise ValueError("boom")
        except ValueError as exc:
            ph.capture_exception(exc, distinct_id="user-1")
        flags = ph.evaluate_flags("user-1")  # one /flags request, answered "no flags"
        assert flags.get_flag("new-checkout") is None and not flags.is_enabled("new-checkout")
        assert ph.get_all_flags("user-1") == {}
        ph.flush()
    finally:
        ph.shutdown()
    assert errors == []

    events = wait_for(lambda: export(database_url, account, "events"), lambda rows: len(rows) >= 5)
    metrics = by_metric(events)
    assert {"$exception", "$groupidentify", "$pageview", "Order Completed", "Viewed Pricing"} <= set(metrics)
    assert set(metrics) - {"$exception", "$groupidentify", "$pageview", "Order Completed", "Viewed Pricing"} <= {
        "$feature_flag_called"}  # what the SDK itself records about the flag checks
    people = {p["id"]: p for p in export(database_url, account, "profiles")}
    [person] = [p for p in people.values() if p["external_id"] == "user-1"]
    assert person["email"] == "ann@example.com"
    assert (person["first_name"], person["last_name"]) == ("Ann", "Lee")
    assert person["properties"]["plan"] == "pro" and person["properties"]["first_seen"] == "2026-01-01"
    [order] = metrics["Order Completed"]
    assert order["unique_id"] == "0b8f4a57-2a5d-4d6a-9c1e-0a4e2c1b9f10"
    assert order["value"] == 12.5 and order["value_currency"] == "EUR"
    assert order["properties"]["$source"] == key["id"]
    # $identify did not name the visitor (posthog-python sends none): it stays its own anonymous person.
    [viewed] = metrics["Viewed Pricing"]
    assert people[viewed["profile_id"]]["external_id"] is None
    # the group is PostHog's own person-less record, kept as an event of its own
    [group] = metrics["$groupidentify"]
    assert group["properties"]["$group_set"] == {"name": "Acme"}
    for name in set(metrics) - {"Viewed Pricing", "$groupidentify"}:
        assert {e["profile_id"] for e in metrics[name]} == {person["id"]}


def test_identify_merges_the_anonymous_visitor_into_the_person(server, database_url, account):
    key = write_key(database_url, account)
    errors: list = []
    ph = client_for(key["key"], server.url, errors, sync_mode=True)
    try:
        ph.capture("Viewed Pricing", distinct_id="anon-42", properties={"$process_person_profile": False})
        ph.capture("$identify", distinct_id="user-42",
                   properties={"$anon_distinct_id": "anon-42", "$set": {"email": "v@example.com"}})
        ph.capture("Signed Up", distinct_id="user-42")
    finally:
        ph.shutdown()
    assert errors == []
    [person] = export(database_url, account, "profiles")
    assert person["external_id"] == "user-42" and person["email"] == "v@example.com"
    events = export(database_url, account, "events")
    assert sorted(e["metric"] for e in events) == ["Signed Up", "Viewed Pricing"]
    assert {e["profile_id"] for e in events} == {person["id"]}


def test_retried_after_a_forced_503_and_stored_once(database_url, account):
    key = write_key(database_url, account)
    srv = ServerThread(server_settings(database_url=database_url, ack_timeout_seconds=0.5)).start()
    errors: list = []
    lock = hold_write_lock(database_url)
    try:
        ph = client_for(key["key"], srv.url, errors, flush_at=1, flush_interval=0.05, max_retries=20)
        ph.capture("Retried", distinct_id="user-503", uuid="6c7f1d7e-3c1b-4b0e-8f6a-2d9a1c3e5b70")
        wait_for(lambda: srv.services.pipeline.stats.timed_out, lambda n: n >= 1, timeout=15)
        lock.rollback()
        ph.flush()
        ph.shutdown()
    finally:
        lock.rollback()
        lock.close()
        srv.stop()
    assert errors == []
    events = wait_for(lambda: export(database_url, account, "events"), lambda rows: len(rows) >= 1)
    assert [(e["metric"], e["unique_id"]) for e in events] == [("Retried", "6c7f1d7e-3c1b-4b0e-8f6a-2d9a1c3e5b70")]
