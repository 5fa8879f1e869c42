"""The client API: /client/events, /client/profiles, /client/event-bulk-create, /client/subscriptions."""

from __future__ import annotations

from tests.modern import bulk_entry, bulk_event, client_headers, error, event_body, profile_data


def post(client, account, path, body, **params):
    return client.post(path, params={"company_id": account.public_key, **params}, json=body, headers=client_headers())


def test_client_event_202_empty_and_stored(client, account, stored):
    body = event_body("Viewed Product", {"email": "c@example.com", "anonymous_id": "anon-1"}, {"sku": "A1"},
                      value=3, unique_id="view-1")
    r = post(client, account, "/client/events", body)
    assert r.status_code == 202 and r.content == b"" and "content-type" not in r.headers
    [event] = stored.events()
    assert event["metric"] == "Viewed Product" and event["properties"] == {"sku": "A1"}
    assert event["value"] == 3 and event["unique_id"] == "view-1"
    [profile] = stored.profiles()
    assert profile["email"] == "c@example.com" and profile["anonymous_id"] == "anon-1"


def test_client_profile_adds_but_never_changes_identifiers(client, account, stored):
    assert post(client, account, "/client/profiles", profile_data(email="k@example.com", first_name="K")).status_code == 202
    # an identifier the profile lacks is added
    assert post(client, account, "/client/profiles",
                profile_data(email="k@example.com", external_id="ext-1")).status_code == 202
    # but an existing identifier is never replaced from the client side (still 202)
    r = post(client, account, "/client/profiles", profile_data(email="k@example.com", external_id="ext-2",
                                                               last_name="L"))
    assert r.status_code == 202
    [profile] = stored.profiles()
    assert (profile["email"], profile["external_id"]) == ("k@example.com", "ext-1")
    assert (profile["first_name"], profile["last_name"]) == ("K", "L")


def test_client_cannot_steal_an_identifier_from_another_profile(client, account, stored):
    post(client, account, "/client/profiles", profile_data(email="one@example.com"))
    post(client, account, "/client/profiles", profile_data(phone_number="+14155550123"))
    r = post(client, account, "/client/profiles", profile_data(email="one@example.com", phone_number="+14155550123"))
    assert r.status_code == 202
    by_email = {p["email"]: p for p in stored.profiles()}
    assert by_email["one@example.com"]["phone_number"] is None
    assert by_email[None]["phone_number"] == "+14155550123"


def test_client_bulk_create(client, account, stored):
    body = {"data": bulk_entry({"email": "cb@example.com"},
                               [bulk_event("Tap", {"i": i}, unique_id=str(i)) for i in range(5)])}
    r = post(client, account, "/client/event-bulk-create", body)
    assert r.status_code == 202 and r.content == b""
    assert sorted(e["properties"]["i"] for e in stored.events()) == [0, 1, 2, 3, 4]


def test_client_bulk_limits(client, account, stored):
    too_many = {"data": bulk_entry({"email": "cb@example.com"}, [bulk_event("Tap")] * 1001)}
    r = post(client, account, "/client/event-bulk-create", too_many)
    assert r.status_code == 400 and error(r)["source"]["pointer"] == "/data/attributes/events/data"
    repeated = {"data": bulk_entry({"email": "cb@example.com"},
                                   [bulk_event("Tap", unique_id="x"), bulk_event("Tap", unique_id="x")])}
    r = post(client, account, "/client/event-bulk-create", repeated)
    assert r.status_code == 400
    assert error(r)["source"]["pointer"] == "/data/attributes/events/data/1/attributes/unique_id"
    assert stored.events() == [] and stored.profiles() == []


def test_client_bulk_unknown_profile_id_is_a_404_as_on_client_events(client, account, stored):
    """A profile id naming no profile is a 404 with a pointer on every event route (issue 12), not a 400."""
    entry = bulk_entry({}, [bulk_event("Tap")])
    entry["attributes"]["profile"]["data"]["id"] = "01JZZZZZZZZZZZZZZZZZZZZZZZ"
    for path, body in (("/client/event-bulk-create", {"data": entry}),
                       ("/client/events", event_body("Tap", {}, {}))):
        if path == "/client/events":
            body["data"]["attributes"]["profile"]["data"]["id"] = "01JZZZZZZZZZZZZZZZZZZZZZZZ"
        r = post(client, account, path, body)
        assert r.status_code == 404, (path, r.text)
        assert error(r)["source"]["pointer"] == "/data/attributes/profile/data/id"
    assert stored.events() == [] and stored.profiles() == []


def test_client_subscriptions_record_consent(client, account, stored):
    body = {"data": {"type": "subscription", "attributes": {
        "custom_source": "Footer form",
        "profile": {"data": {"type": "profile", "attributes": {
            "email": "sub@example.com", "phone_number": "+14155550199",
            "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}},
                              "sms": {"marketing": {"consent": "SUBSCRIBED"},
                                      "transactional": {"consent": "SUBSCRIBED"}}}}}}},
        "relationships": {"list": {"data": {"type": "list", "id": "Y6nRLr"}}}}}
    r = post(client, account, "/client/subscriptions", body)
    assert r.status_code == 202 and r.content == b""
    [profile] = stored.profiles()
    email, sms = profile["consent"]["email"], profile["consent"]["sms"]
    assert email["consent"] == "SUBSCRIBED" and email["list_id"] == "Y6nRLr"
    assert email["custom_source"] == "Footer form" and email["consented_at"].endswith("+00:00")
    assert sms["consent"] == "SUBSCRIBED" and sms["transactional"]["consent"] == "SUBSCRIBED"


def test_client_subscriptions_default_channels_and_errors(client, account, stored):
    body = {"data": {"type": "subscription", "attributes": {
        "profile": {"data": {"type": "profile", "attributes": {"email": "d@example.com"}}}}}}
    assert post(client, account, "/client/subscriptions", body).status_code == 202
    [profile] = stored.profiles()
    assert set(profile["consent"]) == {"email"}
    bad_consent = {"data": {"type": "subscription", "attributes": {"profile": {"data": {
        "type": "profile", "attributes": {"email": "d@example.com",
                                          "subscriptions": {"email": {"marketing": {"consent": "MAYBE"}}}}}}}}}
    r = post(client, account, "/client/subscriptions", bad_consent)
    assert r.status_code == 400
    assert error(r)["source"]["pointer"] == \
        "/data/attributes/profile/data/attributes/subscriptions/email/marketing/consent"
    sms_without_phone = {"data": {"type": "subscription", "attributes": {"profile": {"data": {
        "type": "profile", "attributes": {"email": "d@example.com",
                                          "subscriptions": {"sms": {"marketing": {"consent": "SUBSCRIBED"}}}}}}}}}
    assert post(client, account, "/client/subscriptions", sms_without_phone).status_code == 400
    no_id = {"data": {"type": "subscription", "attributes": {"profile": {"data": {
        "type": "profile", "attributes": {"external_id": "x"}}}}}}
    assert post(client, account, "/client/subscriptions", no_id).status_code == 400


def test_company_id_and_revision_required(client, account, stored):
    body = event_body("X", {"email": "a@example.com"})
    r = client.post("/client/events", json=body, headers=client_headers())
    assert r.status_code == 400 and error(r)["source"]["parameter"] == "company_id"
    r = client.post("/client/events", params={"company_id": "NOPE00"}, json=body, headers=client_headers())
    assert r.status_code == 400 and error(r)["source"]["parameter"] == "company_id"
    r = client.post("/client/events/", params={"company_id": account.public_key}, json=body,
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error(r)["source"]["parameter"] == "revision"
    assert stored.events() == []


def test_cors_preflight_and_headers_on_errors(client, account):
    r = client.options("/client/events/", params={"company_id": account.public_key},
                       headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                                "Access-Control-Request-Headers": "revision, content-type"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert "revision" in r.headers["access-control-allow-headers"].lower()
    r = client.post("/client/events", params={"company_id": account.public_key}, content=b"{bad",
                    headers={**client_headers(), "Origin": "https://shop.example"})
    assert r.status_code == 400 and r.headers["access-control-allow-origin"] == "*"
    r = client.post("/client/profiles", params={"company_id": account.public_key},
                    json=profile_data(email="cors@example.com"),
                    headers={**client_headers(), "Origin": "https://shop.example"})
    assert r.status_code == 202 and r.headers["access-control-allow-origin"] == "*"


def test_client_text_plain_beacon_body(client, account, stored):
    import json

    body = json.dumps(event_body("Beacon", {"email": "b@example.com"})).encode()
    r = client.post("/client/events", params={"company_id": account.public_key}, content=body,
                    headers={"revision": "2024-10-15", "Content-Type": "text/plain;charset=UTF-8"})
    assert r.status_code == 202
    assert [e["metric"] for e in stored.events()] == ["Beacon"]
