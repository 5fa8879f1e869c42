"""What a Track or Identify payload means once stored: profile fields, event time, value, dedup."""

from __future__ import annotations

import time

import pytest

from tests.legacy_calls import counter, identify, order, track, verbose

EVERY_SPECIAL_FIELD = {
    "$email": "  Ann.Lee@Example.COM ",
    "$first_name": "Ann",
    "$last_name": "Lee",
    "$phone_number": "+1 (323) 916-9023",
    "$city": "Boston",
    "$region": "MA",
    "$country": "United States",
    "$zip": "02110",
    "$image": "https://example.com/ann.png",
    "$consent": ["email", "sms"],
    "$id": "cust-42",
    "plan": "gold",
    "tags": ["vip", "early"],
}


def test_track_stores_every_special_customer_property_as_a_profile_attribute(client, account, stored):
    payload = order(account, customer_properties=EVERY_SPECIAL_FIELD,
                    properties={"$event_id": "order-1", "$value": 42.5, "items": [{"sku": "B-1"}]})
    assert track(client, payload).text == "1"
    [profile] = stored.profiles()
    assert profile["email"] == "ann.lee@example.com"
    assert profile["phone_number"] == "+13239169023"
    assert profile["external_id"] == "cust-42"
    assert (profile["first_name"], profile["last_name"]) == ("Ann", "Lee")
    assert profile["image"] == "https://example.com/ann.png"
    assert {k: v for k, v in profile["location"].items() if v is not None} == {
        "city": "Boston", "region": "MA", "country": "United States", "zip": "02110"}
    assert set(profile["consent"]) == {"email", "sms"}
    assert profile["consent"]["email"]["consent"] == "SUBSCRIBED"
    assert profile["properties"] == {"plan": "gold", "tags": ["vip", "early"]}
    [event] = stored.events()
    assert event["profile_id"] == profile["id"]
    assert (event["unique_id"], event["value"]) == ("order-1", 42.5)
    assert event["properties"] == {"$event_id": "order-1", "$value": 42.5, "items": [{"sku": "B-1"}]}


def test_unprefixed_email_and_id_count_as_dollar_email_and_id(client, account, stored):
    # What the Python SDK sends for track(email=..., external_id=...).
    assert track(client, order(account, customer_properties={"email": "Bob@Example.com", "id": "u-7"})).text == "1"
    [profile] = stored.profiles()
    assert (profile["email"], profile["external_id"]) == ("bob@example.com", "u-7")
    assert profile["properties"] == {}


def test_the_dollar_form_wins_over_the_unprefixed_one(client, account, stored):
    props = {"$email": "real@example.com", "email": "other@example.com"}
    assert identify(client, {"token": account.public_key, "properties": props}).text == "1"
    [profile] = stored.profiles()
    assert profile["email"] == "real@example.com"
    assert profile["properties"] == {"email": "other@example.com"}


def test_identify_sets_attributes_and_custom_properties(client, account, stored):
    first = {"token": account.public_key, "properties": {**EVERY_SPECIAL_FIELD}}
    assert identify(client, first).text == "1"
    # A later identify changes what it names and leaves the rest; a legacy null changes nothing.
    later = {"token": account.public_key,
             "properties": {"$email": "ann.lee@example.com", "$city": "Denver", "$first_name": None, "plan": "free"}}
    assert identify(client, later).text == "1"
    [profile] = stored.profiles()
    assert profile["first_name"] == "Ann" and profile["location"]["city"] == "Denver"
    assert profile["location"]["zip"] == "02110"
    assert profile["properties"] == {"plan": "free", "tags": ["vip", "early"]}
    assert stored.events() == []


def test_payload_must_identify_someone(client, account, stored):
    body = verbose(client, "identify", {"token": account.public_key, "properties": {"plan": "gold"}})
    assert body["status"] == 0 and body["error"].startswith("properties: must identify the person")
    body = verbose(client, "track", order(account, customer_properties={}))
    assert body["status"] == 0 and body["error"].startswith("customer_properties: must identify")
    assert stored.profiles() == []


def test_ip_becomes_the_profile_location_ip(client, account, stored):
    assert track(client, order(account, ip="203.0.113.9")).text == "1"
    assert stored.profiles()[0]["location"]["ip"] == "203.0.113.9"


def test_unknown_top_level_keys_are_ignored_with_a_warning(client, account):
    body = verbose(client, "track", order(account, colour="red"))
    assert body["status"] == 1
    assert body["warnings"] == ["unknown top-level key 'colour' ignored"]


@pytest.mark.parametrize("sent, stored_as", [
    (1_700_000_000, 1_700_000_000),
    (1_700_000_000.75, 1_700_000_000),
    ("1700000000", 1_700_000_000),
    (" 1700000000.5 ", 1_700_000_000),
    (946_684_800, 946_684_800),  # 2000-01-01T00:00:00Z, the earliest accepted
])
def test_time_may_be_int_float_or_numeric_string(client, account, stored, sent, stored_as):
    assert track(client, order(account, time=sent)).text == "1"
    [event] = stored.events()
    assert event["timestamp"] == stored_as
    assert event["time"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stored_as)))
    assert event["time"].endswith("+00:00")


def test_time_defaults_to_now(client, account, stored):
    payload = order(account)
    del payload["time"]
    before = int(time.time())
    assert track(client, payload).text == "1"
    assert before <= stored.events()[0]["timestamp"] <= time.time() + 1
    # The Python SDK sends "time": null when no timestamp is given.
    assert track(client, order(account, time=None, event="Viewed Page")).text == "1"


@pytest.mark.parametrize("sent, error", [
    (946_684_799, "time: 946684799 is before 2000-01-01"),
    (int(time.time()) + 400 * 86400, "is more than one year in the future"),
    ("soon", "time: 'soon' is not a number of epoch seconds"),
    (True, "time: must be a number of epoch seconds, got a boolean"),
    ([1700000000], "time: must be a number of epoch seconds"),
], ids=["before-2000", "over-a-year-ahead", "not-a-number", "boolean", "array"])
def test_time_outside_the_window_or_not_a_number_is_refused(client, account, stored, sent, error):
    body = verbose(client, "track", order(account, time=sent))
    assert body["status"] == 0 and error in body["error"]
    assert stored.events() == [] and stored.profiles() == []


def test_value_accepts_numeric_strings_and_keeps_the_property(client, account, stored):
    assert track(client, order(account, properties={"$value": "19.99"})).text == "1"
    [event] = stored.events()
    assert event["value"] == 19.99
    assert event["properties"] == {"$value": "19.99"}


def test_an_event_without_value_has_none(client, account, stored):
    assert track(client, order(account, properties={"page": "/"})).text == "1"
    assert stored.events()[0]["value"] is None


@pytest.mark.parametrize("value", ["a lot", True, {"amount": 3}, "NaN", "inf"])
def test_value_that_is_not_a_number_is_refused(client, account, stored, value):
    body = verbose(client, "track", order(account, properties={"$value": value}))
    assert body["status"] == 0 and body["error"].startswith("properties.$value:")
    assert stored.events() == []


def test_same_event_id_is_stored_once_and_the_first_wins(client, database_url, account, stored):
    first = verbose(client, "track", order(account, properties={"$event_id": "o-1", "n": 1}))
    again = verbose(client, "track", order(account, time=1_700_000_500, properties={"$event_id": "o-1", "n": 2}))
    assert first["duplicate"] is False
    assert again["status"] == 1 and again["duplicate"] is True
    assert again["event_id"] == first["event_id"]
    assert any("duplicate" in w for w in again["warnings"])
    [event] = stored.events()
    assert event["properties"]["n"] == 1
    assert counter(database_url, account, "events_duplicate") == 1
    assert counter(database_url, account, "events_stored") == 1


def test_without_event_id_the_epoch_second_is_the_dedup_key(client, database_url, account, stored):
    assert track(client, order(account, time=1_700_000_000.1)).text == "1"
    assert track(client, order(account, time=1_700_000_000.9)).text == "1"  # same second: dropped, still acked
    assert track(client, order(account, time=1_700_000_001)).text == "1"  # next second: kept
    assert track(client, order(account, time=1_700_000_000, event="Viewed Page")).text == "1"  # other metric
    assert track(client, order(account, "bo@example.com", time=1_700_000_000)).text == "1"  # other profile
    assert len(stored.events()) == 4
    assert counter(database_url, account, "events_duplicate") == 1


def test_dedup_is_per_account(client, account, stored, database_url):
    from tests.servers import new_account

    other = new_account(database_url, f"other-{account.name}")
    assert verbose(client, "track", order(account, properties={"$event_id": "x"}))["duplicate"] is False
    assert verbose(client, "track", order(other, properties={"$event_id": "x"}))["duplicate"] is False
    assert len(stored.events()) == 1


def test_consent_must_name_known_channels(client, account, stored):
    body = verbose(client, "identify", {"token": account.public_key,
                                        "properties": {"$email": "a@example.com", "$consent": ["email", "fax"]}})
    assert body["status"] == 0 and "properties.$consent: unknown consent channel 'fax'" in body["error"]
    assert stored.profiles() == []
