"""The last gaps of the Klaviyo read surface: subscriptions, include=lists/segments, profile_count,
last_event_date in member listings, unknown additional-fields, and every emitted link served."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from klaviyo_api import KlaviyoAPI

from tests.modern import REVISION, client_headers, error, event_body, server_headers
from tests.segment_helpers import wait_until

SEGMENT_DEFINITION = {"condition_groups": [{"conditions": [{
    "type": "profile-property", "property": "email", "filter": {"type": "existence", "operator": "is-set"}}]}]}


def _subscribe_via_client(client, account, email: str, list_id: str | None = None) -> None:
    body = {"data": {"type": "subscription", "attributes": {
        "custom_source": "Footer form",
        "profile": {"data": {"type": "profile", "attributes": {"email": email}}}}}}
    if list_id:
        body["data"]["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    r = client.post("/client/subscriptions", params={"company_id": account.public_key}, json=body,
                    headers=client_headers())
    assert r.status_code == 202, r.text


def _world(client, account) -> dict:
    """A profile with an event, a list holding it, and a segment it joins."""
    h = server_headers(account.private_key, "application/json")
    assert client.post("/api/events", headers=h, json=event_body(
        "Placed Order", {"email": "gap@example.com"}, {"item": "Boots"}, time="2025-03-09T12:00:00Z")).status_code == 202
    [profile] = client.get("/api/profiles", headers=h).json()["data"]
    made = client.post("/api/lists", headers=h, json={"data": {"type": "list", "attributes": {"name": "VIP"}}})
    list_id = made.json()["data"]["id"]
    r = client.post(f"/api/lists/{list_id}/relationships/profiles", headers=h,
                    json={"data": [{"type": "profile", "id": profile["id"]}]})
    assert r.status_code == 204
    made = client.post("/api/segments", headers=h, json={"data": {"type": "segment", "attributes": {
        "name": "Has email", "definition": SEGMENT_DEFINITION}}})
    segment_id = made.json()["data"]["id"]
    wait_until(lambda: client.get(f"/api/segments/{segment_id}/profiles", headers=h).json()["data"], timeout=15)
    return {"profile_id": profile["id"], "list_id": list_id, "segment_id": segment_id, "headers": h}


def test_subscriptions_written_by_client_subscriptions_read_back(client, account):
    _subscribe_via_client(client, account, "sub@example.com")
    h = server_headers(account.private_key)
    [p] = client.get("/api/profiles", headers=h, params={"additional-fields[profile]": "subscriptions"}).json()["data"]
    marketing = p["attributes"]["subscriptions"]["email"]["marketing"]
    assert marketing["consent"] == "SUBSCRIBED" and marketing["can_receive_email_marketing"] is True
    assert marketing["consent_timestamp"] and marketing["method_detail"] == "Footer form"
    assert marketing["suppression"] == [] and marketing["list_suppressions"] == []
    assert p["attributes"]["subscriptions"]["sms"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    one = client.get(f"/api/profiles/{p['id']}", headers=h,
                     params={"additional-fields[profile]": "subscriptions,predictive_analytics"}).json()["data"]
    assert one["attributes"]["subscriptions"] == p["attributes"]["subscriptions"]
    assert set(one["attributes"]["predictive_analytics"].values()) == {None}
    plain = client.get(f"/api/profiles/{p['id']}", headers=h).json()["data"]
    assert "subscriptions" not in plain["attributes"]


def test_the_sdk_reads_subscriptions(server, client, account):
    _subscribe_via_client(client, account, "sdk-sub@example.com")
    klaviyo = KlaviyoAPI(account.private_key, test_host=server.url, max_retries=0)
    [p] = klaviyo.Profiles.get_profiles(additional_fields_profile=["subscriptions"]).data
    got = klaviyo.Profiles.get_profile(p.id, additional_fields_profile=["subscriptions", "predictive_analytics"])
    assert got.data.attributes.subscriptions is not None
    assert got.data.attributes.subscriptions.email.marketing.consent == "SUBSCRIBED"
    assert got.data.attributes.predictive_analytics is not None


@pytest.mark.parametrize("path, name, value", [
    ("/api/profiles", "additional-fields[profile]", "bogus"),
    ("/api/profiles", "additional-fields[profile]", "subscriptions,nope"),
    ("/api/profiles", "additional-fields[segment]", "profile_count"),
    ("/api/segments", "additional-fields[segment]", "member_count"),
    ("/api/segments", "additional-fields[profile]", "subscriptions"),
    ("/api/lists", "additional-fields[list]", ""),
    ("/api/lists", "additional-fields[bogus]", "x"),
])
def test_unknown_additional_fields_are_a_400(client, account, path, name, value):
    r = client.get(path, headers=server_headers(account.private_key), params={name: value})
    assert r.status_code == 400, r.text
    assert error(r)["source"] == {"parameter": name}


def test_include_lists_and_segments_on_a_profile(client, account):
    w = _world(client, account)
    r = client.get(f"/api/profiles/{w['profile_id']}", headers=w["headers"], params={"include": "lists,segments"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["data"]["relationships"]["lists"]["data"] == [{"type": "list", "id": w["list_id"]}]
    assert doc["data"]["relationships"]["segments"]["data"] == [{"type": "segment", "id": w["segment_id"]}]
    assert {(i["type"], i["id"]) for i in doc["included"]} == {("list", w["list_id"]), ("segment", w["segment_id"])}
    only = client.get(f"/api/profiles/{w['profile_id']}", headers=w["headers"], params={"include": "lists"}).json()
    assert [i["type"] for i in only["included"]] == ["list"]
    assert client.get(f"/api/profiles/{w['profile_id']}", headers=w["headers"],
                      params={"include": "orders"}).status_code == 400


def test_profile_count_and_last_event_date(client, account):
    w = _world(client, account)
    h = w["headers"]
    for family, gid in (("segments", w["segment_id"]), ("lists", w["list_id"])):
        kind = family[:-1]
        one = client.get(f"/api/{family}/{gid}", headers=h, params={f"additional-fields[{kind}]": "profile_count"})
        assert one.json()["data"]["attributes"]["profile_count"] == 1, one.text
        assert "profile_count" not in client.get(f"/api/{family}/{gid}", headers=h).json()["data"]["attributes"]
        many = client.get(f"/api/{family}", headers=h, params={f"additional-fields[{kind}]": "profile_count"})
        assert [g["attributes"]["profile_count"] for g in many.json()["data"]] == [1]
        [member] = client.get(f"/api/{family}/{gid}/profiles", headers=h,
                              params={"additional-fields[profile]": "subscriptions"}).json()["data"]
        assert member["attributes"]["last_event_date"] == "2025-03-09T12:00:00+00:00"
        assert member["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"


def _links(value, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "links" and isinstance(item, dict):
                found.update(v for v in item.values() if isinstance(v, str))
            else:
                _links(item, found)
    elif isinstance(value, list):
        for item in value:
            _links(item, found)


def test_every_link_footfall_emits_is_served(server, client, account):
    """Start from every collection, follow every `links` URL in every answer (self, related, next, prev)."""
    w = _world(client, account)
    h = w["headers"]
    _subscribe_via_client(client, account, "linked@example.com", w["list_id"])
    start = ["/api/profiles", "/api/events?include=metric,profile", "/api/metrics", "/api/segments", "/api/lists",
             f"/api/profiles/{w['profile_id']}?include=lists,segments", "/api/profiles?page[size]=1"]
    seen: set[str] = set()
    queue = [server.url + path for path in start]
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == server.url, url
        r = client.get(url, headers=h)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        found: set[str] = set()
        _links(r.json(), found)
        queue += sorted(found - seen)
    assert len(seen) > 20
    assert any("/relationships/profiles" in u for u in seen) and any("/relationships/lists" in u for u in seen)
