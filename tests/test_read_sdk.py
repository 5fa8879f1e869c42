"""Klaviyo's official Python SDK (PyPI klaviyo-api) reading from Footfall: its strict models parse our answers."""

from __future__ import annotations

import pytest
from klaviyo_api import KlaviyoAPI
from openapi_client.exceptions import ApiException

from tests.read_world import HOUR, T0, World, iso, world  # noqa: F401  (fixture)


@pytest.fixture
def klaviyo(server, world: World) -> KlaviyoAPI:
    return KlaviyoAPI(world.account.private_key, test_host=server.url, max_retries=0)


def test_sdk_pages_through_events_with_whole_next_urls(klaviyo, world):
    """Over http the SDK sends the whole links.next URL as page[cursor]; Footfall takes the cursor out."""
    seen, cursor = [], None
    while True:
        page = klaviyo.Events.get_events(page_size=5, sort="datetime", page_cursor=cursor, include=["metric", "profile"])
        seen += [e.id for e in page.data]
        assert all(isinstance(e.attributes.timestamp, int) for e in page.data)
        assert page.included
        cursor = page.links.next
        if not cursor:
            break
    assert seen == [e["id"] for e in sorted(world.events, key=lambda e: (e["time"], e["id"]))]


def test_sdk_sparse_fieldsets(klaviyo, world):
    """With fields_* the SDK hands back plain dicts (its models cannot hold partial resources)."""
    page = klaviyo.Events.get_events(page_size=2, include=["profile"], fields_event=["timestamp"],
                                     fields_profile=["email", "location.city"])
    assert [list(e["attributes"]) for e in page["data"]] == [["timestamp"], ["timestamp"]]
    assert all(set(p["attributes"]) == {"email", "location"} for p in page["included"])
    profiles = klaviyo.Profiles.get_profiles(page_size=1, fields_profile=["email"])
    assert list(profiles["data"][0]["attributes"]) == ["email"] and profiles["links"]["next"]


def test_sdk_event_filters_and_relations(klaviyo, world):
    bound = iso(T0 + 20 * HOUR)
    page = klaviyo.Events.get_events(filter=f"greater-or-equal(datetime,{bound})", sort="-timestamp")
    assert [e.attributes.timestamp for e in page.data] == sorted(
        (e["time"] for e in world.events if e["time"] >= T0 + 20 * HOUR), reverse=True)
    event = world.events[7]
    one = klaviyo.Events.get_event(event["id"], include=["metric"])
    assert one.data.id == event["id"] and one.data.relationships.metric.data.id == event["metric_id"]
    assert klaviyo.Events.get_metric_for_event(event["id"]).data.attributes.name == event["metric"]
    assert klaviyo.Events.get_profile_for_event(event["id"]).data.id == event["profile_id"]
    assert klaviyo.Events.get_metric_id_for_event(event["id"]).data.id == event["metric_id"]
    assert klaviyo.Events.get_profile_id_for_event(event["id"]).data.id == event["profile_id"]
    with pytest.raises(ApiException) as missing:
        klaviyo.Events.get_event(world.other_event_id)
    assert missing.value.status == 404


def test_sdk_profiles(klaviyo, world):
    page = klaviyo.Profiles.get_profiles(filter='any(email,["ann@example.com","cy@example.com"])', sort="-email")
    assert [p.attributes.email for p in page.data] == ["cy@example.com", "ann@example.com"]
    ann = klaviyo.Profiles.get_profile(world.profiles["ann@example.com"])
    assert ann.data.attributes.location.city == "Boston" and ann.data.attributes.last_event_date is not None
    seen, cursor = [], None
    while True:
        page = klaviyo.Profiles.get_profiles(page_size=1, page_cursor=cursor)
        seen += [p.attributes.email for p in page.data]
        cursor = page.links.next
        if not cursor:
            break
    assert sorted(seen) == ["ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com"]
    with pytest.raises(ApiException) as bad:
        klaviyo.Profiles.get_profiles(filter='contains(email,"ann")')
    assert bad.value.status == 400


def test_sdk_metrics(klaviyo, world):
    page = klaviyo.Metrics.get_metrics(filter="equals(integration.name,'API')")
    assert sorted(m.attributes.name for m in page.data) == sorted(world.metric_ids)
    mid = world.metric_ids["Started Checkout"]
    assert klaviyo.Metrics.get_metric(mid).data.attributes.name == "Started Checkout"
