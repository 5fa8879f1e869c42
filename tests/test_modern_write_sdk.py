"""Klaviyo's official Python SDK (PyPI klaviyo-api) writing to Footfall: its strict models parse our answers."""

from __future__ import annotations

import pytest
from klaviyo_api import KlaviyoAPI
from openapi_client.exceptions import ApiException


@pytest.fixture
def klaviyo(server, account) -> KlaviyoAPI:
    return KlaviyoAPI(account.private_key, test_host=server.url, max_retries=0)


def metric(name: str) -> dict:
    return {"data": {"type": "metric", "attributes": {"name": name}}}


def test_sdk_events_and_bulk_job(klaviyo, stored):
    klaviyo.Events.create_event({"data": {"type": "event", "attributes": {
        "properties": {"sku": "A"}, "metric": metric("SDK Order"), "value": 12.5, "unique_id": "o-1",
        "time": "2024-06-01T08:00:00+02:00",
        "profile": {"data": {"type": "profile", "attributes": {"email": "sdk@example.com"}}}}}})
    klaviyo.Events.bulk_create_events({"data": {"type": "event-bulk-create-job", "attributes": {
        "events-bulk-create": {"data": [{"type": "event-bulk-create", "attributes": {
            "profile": {"data": {"type": "profile", "attributes": {"email": "bulk@example.com"}}},
            "events": {"data": [{"type": "event", "attributes": {"properties": {"i": i}, "metric": metric("SDK Bulk"),
                                                                 "unique_id": str(i)}} for i in range(3)]}}}]}}}})
    events = stored.events()
    order = next(e for e in events if e["metric"] == "SDK Order")
    assert order["timestamp"] == 1717221600 and order["value"] == 12.5 and order["unique_id"] == "o-1"
    assert sorted(e["properties"]["i"] for e in events if e["metric"] == "SDK Bulk") == [0, 1, 2]


def test_sdk_profiles_create_import_update_merge(klaviyo, stored):
    created = klaviyo.Profiles.create_profile({"data": {"type": "profile", "attributes": {
        "email": "s@example.com", "first_name": "S", "location": {"city": "Turin"}, "properties": {"a": 1}}}})
    pid = created.data.id
    assert created.data.attributes.email == "s@example.com" and created.data.attributes.location.city == "Turin"
    with pytest.raises(ApiException) as conflict:
        klaviyo.Profiles.create_profile({"data": {"type": "profile", "attributes": {"email": "s@example.com"}}})
    assert conflict.value.status == 409
    imported = klaviyo.Profiles.create_or_update_profile({"data": {"type": "profile", "attributes": {
        "email": "s@example.com", "last_name": "T"}}})
    assert imported.data.id == pid and imported.data.attributes.last_name == "T"
    updated = klaviyo.Profiles.update_profile(pid, {"data": {"type": "profile", "id": pid, "attributes": {
        "title": "Eng"}, "meta": {"patch_properties": {"append": {"tags": "x"}}}}})
    assert updated.data.attributes.title == "Eng" and updated.data.attributes.properties == {"a": 1, "tags": ["x"]}
    other = klaviyo.Profiles.create_profile({"data": {"type": "profile", "attributes": {"external_id": "o"}}}).data.id
    klaviyo.Profiles.merge_profiles({"data": {"type": "profile-merge", "id": pid, "relationships": {
        "profiles": {"data": [{"type": "profile", "id": other}]}}}})
    [profile] = stored.profiles()
    assert (profile["id"], profile["email"], profile["external_id"]) == (pid, "s@example.com", "o")
    assert (profile["first_name"], profile["last_name"], profile["title"]) == ("S", "T", "Eng")
