"""Subscription jobs (POST /api/profile-subscription-bulk-create-jobs / -delete-jobs): the official SDK's
subscribe_profiles / unsubscribe_profiles, consent, the list relationship, historical imports and the
effect on suppression as Klaviyo documents it (domain/consent.py)."""

from __future__ import annotations

import pytest
from klaviyo_api import KlaviyoAPI

from footfall.domain import consent
from tests.modern import error, read_only_key, server_headers  # noqa: F401  (fixture)
from tests.servers import new_account, row_counts

SUBSCRIBE = "/api/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE = "/api/profile-subscription-bulk-delete-jobs"


def job(profiles: list[dict], *, subscribe: bool = True, list_id: str | None = None, **attributes) -> dict:
    kind = "profile-subscription-bulk-create-job" if subscribe else "profile-subscription-bulk-delete-job"
    body = {"data": {"type": kind, "attributes": {"profiles": {"data": profiles}, **attributes}}}
    if list_id is not None:
        body["data"]["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return body


def person(email: str | None = None, phone: str | None = None, consent_value: str = "SUBSCRIBED",
           channels: tuple[str, ...] = ("email",), **marketing) -> dict:
    attributes = {k: v for k, v in (("email", email), ("phone_number", phone)) if v}
    attributes["subscriptions"] = {ch: {"marketing": {"consent": consent_value, **marketing}} for ch in channels}
    return {"type": "profile", "attributes": attributes}


@pytest.fixture
def klaviyo(server, account) -> KlaviyoAPI:
    return KlaviyoAPI(account.private_key, test_host=server.url, max_retries=0)


def _make_list(client, account, name="Newsletter") -> str:
    r = client.post("/api/lists", headers=server_headers(account.private_key),
                    json={"data": {"type": "list", "attributes": {"name": name}}})
    return r.json()["data"]["id"]


def _subscriptions(client, account, email: str) -> dict:
    r = client.get("/api/profiles", headers=server_headers(account.private_key),
                   params={"filter": f'equals(email,"{email}")', "additional-fields[profile]": "subscriptions"})
    [profile] = r.json()["data"]
    return profile["attributes"]["subscriptions"]


def _members(client, account, list_id: str) -> list[str]:
    r = client.get(f"/api/lists/{list_id}/profiles", headers=server_headers(account.private_key))
    return [p["attributes"]["email"] for p in r.json()["data"]]


def test_sdk_subscribe_and_unsubscribe(klaviyo, client, account):
    list_id = _make_list(client, account)
    klaviyo.Profiles.subscribe_profiles(job(
        [person("ann@example.com"), person("bo@example.com", "+14155550123", channels=("email", "sms"))],
        list_id=list_id, custom_source="Checkout"))
    subs = _subscriptions(client, account, "ann@example.com")["email"]["marketing"]
    assert subs["consent"] == "SUBSCRIBED" and subs["can_receive_email_marketing"] is True
    assert subs["method"] == "API" and subs["custom_method_detail"] == "Checkout"
    bo = _subscriptions(client, account, "bo@example.com")
    assert bo["sms"]["marketing"]["consent"] == "SUBSCRIBED" and bo["sms"]["marketing"]["can_receive_sms_marketing"]
    assert sorted(_members(client, account, list_id)) == ["ann@example.com", "bo@example.com"]
    # the SDK reads it back through its strict models
    [ann] = klaviyo.Profiles.get_profiles(filter='equals(email,"ann@example.com")',
                                          additional_fields_profile=["subscriptions"]).data
    assert ann.attributes.subscriptions.email.marketing.consent == "SUBSCRIBED"

    klaviyo.Profiles.unsubscribe_profiles(job([person("ann@example.com", consent_value="UNSUBSCRIBED")],
                                              subscribe=False))
    subs = _subscriptions(client, account, "ann@example.com")["email"]["marketing"]
    assert subs["consent"] == "UNSUBSCRIBED" and subs["can_receive_email_marketing"] is False
    assert [s["reason"] for s in subs["suppression"]] == ["UNSUBSCRIBE"]
    # subscribing again lifts the UNSUBSCRIBE suppression, as Klaviyo documents
    klaviyo.Profiles.subscribe_profiles(job([person("ann@example.com")]))
    subs = _subscriptions(client, account, "ann@example.com")["email"]["marketing"]
    assert subs["consent"] == "SUBSCRIBED" and subs["suppression"] == [] and subs["can_receive_email_marketing"]


def test_unsubscribing_from_a_list_suppresses_only_that_list(client, account):
    h = server_headers(account.private_key)
    list_id = _make_list(client, account)
    assert client.post(SUBSCRIBE, headers=h, json=job([person("l@example.com")], list_id=list_id)).status_code == 202
    r = client.post(UNSUBSCRIBE, headers=h, json=job([person("l@example.com", consent_value="UNSUBSCRIBED")],
                                                     subscribe=False, list_id=list_id))
    assert r.status_code == 202 and r.content == b"", r.text
    subs = _subscriptions(client, account, "l@example.com")["email"]["marketing"]
    assert subs["consent"] == "SUBSCRIBED" and subs["suppression"] == []
    assert [(s["list_id"], s["reason"]) for s in subs["list_suppressions"]] == [(list_id, "UNSUBSCRIBE")]
    assert _members(client, account, list_id) == []
    # subscribing to that list again lifts the list suppression and rejoins
    assert client.post(SUBSCRIBE, headers=h, json=job([person("l@example.com")], list_id=list_id)).status_code == 202
    assert _subscriptions(client, account, "l@example.com")["email"]["marketing"]["list_suppressions"] == []
    assert _members(client, account, list_id) == ["l@example.com"]


def test_historical_import_and_consented_at(client, account):
    h = server_headers(account.private_key)
    at = "2021-05-01T10:00:00+00:00"
    r = client.post(SUBSCRIBE, headers=h, json=job([person("h@example.com", consented_at=at)]))
    assert r.status_code == 400 and "historical_import" in error(r)["detail"]
    assert error(r)["source"]["pointer"].endswith("/subscriptions/email/marketing/consented_at")
    r = client.post(SUBSCRIBE, headers=h, json=job([person("h@example.com")], historical_import=True))
    assert r.status_code == 400 and error(r)["source"]["pointer"].endswith("/consented_at")
    r = client.post(SUBSCRIBE, headers=h, json=job([person("h@example.com", consented_at="2999-01-01T00:00:00Z")],
                                                   historical_import=True))
    assert r.status_code == 400
    r = client.post(SUBSCRIBE, headers=h, json=job([person("h@example.com", consented_at=at)], historical_import=True))
    assert r.status_code == 202, r.text
    assert _subscriptions(client, account, "h@example.com")["email"]["marketing"]["consent_timestamp"] == at


def test_unsubscribing_an_unknown_person_creates_nobody(client, account, database_url):
    before = row_counts(database_url, account.id)
    r = client.post(UNSUBSCRIBE, headers=server_headers(account.private_key),
                    json=job([person("ghost@example.com", consent_value="UNSUBSCRIBED")], subscribe=False))
    assert r.status_code == 202
    assert row_counts(database_url, account.id) == before


@pytest.mark.parametrize("body, where", [
    ({"data": {"type": "profile-subscription-bulk-delete-job", "attributes": {"profiles": {"data": []}}}}, "/data/type"),
    (job([]), "/data/attributes/profiles/data"),
    (job([person("x@example.com")] * 1001), "/data/attributes/profiles/data"),
    (job([{"type": "profile", "attributes": {"subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}}}}]),
     "/data/attributes/profiles/data/0/attributes"),
    (job([person("x@example.com", channels=("sms",))]), "/data/attributes/profiles/data/0/attributes/subscriptions/sms"),
    (job([person("x@example.com", consent_value="UNSUBSCRIBED")]),
     "/data/attributes/profiles/data/0/attributes/subscriptions/email/marketing/consent"),
    (job([person("x@example.com", channels=("push",))]),
     "/data/attributes/profiles/data/0/attributes/subscriptions/push"),
    (job([person("not-an-email")]), "/data/attributes/profiles/data/0/attributes/email"),
    (job([person("x@example.com")], historical_import="yes"), "/data/attributes/historical_import"),
    (job([person("x@example.com")], list_id=""), "/data/relationships/list"),
    (job([person("x@example.com")], bogus=1), "/data/attributes/bogus"),
])
def test_malformed_jobs_are_refused_whole(client, account, database_url, body, where):
    before = row_counts(database_url, account.id)
    r = client.post(SUBSCRIBE, headers=server_headers(account.private_key), json=body)
    assert r.status_code == 400, r.text
    assert error(r)["source"]["pointer"].startswith(where), error(r)
    assert row_counts(database_url, account.id) == before


def test_an_unknown_or_foreign_list_is_a_404_and_nothing_is_stored(client, account, database_url):
    other = new_account(database_url, f"other-{account.name[-8:]}")
    foreign = _make_list(client, other)
    before = row_counts(database_url, account.id)
    for list_id in ("NoSuch", foreign):
        r = client.post(SUBSCRIBE, headers=server_headers(account.private_key),
                        json=job([person("nolist@example.com")], list_id=list_id))
        assert r.status_code == 404, r.text
        assert foreign not in error(r)["detail"]
    assert row_counts(database_url, account.id) == before


def test_keys_and_scopes(client, account, read_only_key):
    body = job([person("k@example.com")])
    assert client.post(SUBSCRIBE, json=body, headers={"revision": "2026-07-15"}).status_code == 401
    assert client.post(SUBSCRIBE, json=body, headers=server_headers("pk_nope")).status_code == 401
    ro = read_only_key
    assert client.post(SUBSCRIBE, json=body, headers=server_headers(ro)).status_code == 403
    assert client.post(f"{SUBSCRIBE}?company_id={account.public_key}", json=body,
                       headers={"revision": "2026-07-15"}).status_code == 401


def test_hard_bounces_stay_suppressed_when_subscribing():
    """The pure rule: subscribing lifts UNSUBSCRIBE / SPAM_REPORT / USER_SUPPRESSED, never a bounce."""
    record = {}
    for reason in ("HARD_BOUNCE", "USER_SUPPRESSED", "SPAM_REPORT"):
        record = consent.apply(record, consent.ConsentChange("email", "suppress", "2024-01-01T00:00:00+00:00",
                                                             reason=reason))
    record = consent.apply(record, consent.ConsentChange("email", "subscribe", "2024-02-01T00:00:00+00:00"))
    assert [s["reason"] for s in record["email"]["suppression"]] == ["HARD_BOUNCE"]
    view = consent.subscriptions(record)["email"]["marketing"]
    assert view["consent"] == "SUBSCRIBED" and view["can_receive_email_marketing"] is False
    record = consent.apply(record, consent.ConsentChange("email", "unsuppress", "2024-03-01T00:00:00+00:00"))
    assert [s["reason"] for s in record["email"]["suppression"]] == ["HARD_BOUNCE"]  # only USER_SUPPRESSED lifts
