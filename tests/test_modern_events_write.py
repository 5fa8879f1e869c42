"""POST /api/events and the bulk event jobs, through real HTTP on both backends."""

from __future__ import annotations

import pytest

from tests.modern import (  # noqa: F401  (read_only_key is a fixture)
    bulk_entry, bulk_event, bulk_job_body, error, event_body, read_only_key, server_headers,
)


def test_create_event_stores_event_and_profile(client, account, stored):
    body = event_body("Placed Order", {"email": "Ann@Example.com", "first_name": "Ann",
                                       "location": {"city": "Boston"}, "properties": {"tier": "gold"}},
                      {"items": ["boots"], "$event_id": "not-a-unique-id"},
                      time="2024-05-01T12:00:00.750Z", value=99.5, value_currency="usd", unique_id="order-1")
    r = client.post("/api/events", json=body, headers=server_headers(account.private_key))
    assert r.status_code == 202 and r.content == b"" and "content-type" not in r.headers
    [event] = stored.events()
    assert event["metric"] == "Placed Order"
    assert event["timestamp"] == 1714564800  # truncated to the second
    assert event["value"] == 99.5 and event["value_currency"] == "USD" and event["unique_id"] == "order-1"
    assert event["properties"] == {"items": ["boots"], "$event_id": "not-a-unique-id"}
    [profile] = stored.profiles()
    assert profile["email"] == "ann@example.com" and profile["first_name"] == "Ann"
    assert profile["location"]["city"] == "Boston" and profile["properties"] == {"tier": "gold"}
    assert event["profile_id"] == profile["id"]


def test_trailing_slash_and_plain_json_content_type(client, account, stored):
    body = event_body("Viewed", {"external_id": "u1"})
    r = client.post("/api/events/", json=body, headers=server_headers(account.private_key, "application/json"))
    assert r.status_code == 202
    assert len(stored.events()) == 1


def test_dedup_by_unique_id_and_by_second(client, account, stored):
    h = server_headers(account.private_key)
    who = {"email": "d@example.com"}
    for when in ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"):  # same unique_id: the first wins
        assert client.post("/api/events", json=event_body("Paid", who, {"n": when}, time=when, unique_id="u1"),
                           headers=h).status_code == 202
    for n in (1, 2):  # no unique_id: one per profile, metric and second
        assert client.post("/api/events", json=event_body("Clicked", who, {"n": n}, time="2024-03-01T10:00:00.1Z"),
                           headers=h).status_code == 202
    events = stored.events()
    assert sorted((e["metric"], e["properties"]["n"]) for e in events) == [
        ("Clicked", 1), ("Paid", "2024-01-01T00:00:00Z")]


def test_event_id_property_does_not_deduplicate(client, account, stored):
    h = server_headers(account.private_key)
    for second in ("10", "11"):
        body = event_body("Opened", {"email": "e@example.com"}, {"$event_id": "same"}, time=f"2024-03-01T10:00:{second}Z")
        assert client.post("/api/events", json=body, headers=h).status_code == 202
    assert len(stored.events()) == 2


def test_event_errors_point_at_the_offending_part(client, account, stored):
    h = server_headers(account.private_key)
    cases = [
        (event_body("X", {"email": "not-an-email"}), "/data/attributes/profile/data/attributes/email"),
        (event_body("X", {"email": "a@example.com"}, time="yesterday"), "/data/attributes/time"),
        (event_body("X", {"email": "a@example.com"}, time="1999-01-01T00:00:00Z"), "/data/attributes/time"),
        (event_body("X", {"email": "a@example.com"}, value="12"), "/data/attributes/value"),
        (event_body("X", {"email": "a@example.com"}, value_currency="dollars"), "/data/attributes/value_currency"),
        (event_body("", {"email": "a@example.com"}), "/data/attributes/metric/data/attributes/name"),
        (event_body("X", {}), "/data/attributes/profile/data/attributes"),
        (event_body("X", {"email": "a@example.com"}, properties=[1]), "/data/attributes/properties"),
        (event_body("X", {"email": "a@example.com"}, colour="red"), "/data/attributes/colour"),
        ({"data": {"type": "profile", "attributes": {}}}, "/data/type"),
        ([1, 2], "/"),
    ]
    body = event_body("X", {"email": "a@example.com"})
    del body["data"]["attributes"]["properties"]
    cases.append((body, "/data/attributes/properties"))
    for payload, pointer in cases:
        r = client.post("/api/events", json=payload, headers=h)
        assert r.status_code == 400, (payload, r.text)
        err = error(r)
        assert err["code"] == "invalid" and err["source"]["pointer"] == pointer, (payload, err)
    assert stored.events() == [] and stored.profiles() == []


def test_malformed_json_wrong_content_type_and_empty_body(client, account, stored):
    h = server_headers(account.private_key)
    r = client.post("/api/events", content=b'{"data": ', headers=h)
    assert r.status_code == 400 and error(r)["code"] == "invalid"
    r = client.post("/api/events", content=b"<xml/>", headers={**h, "Content-Type": "application/xml"})
    assert r.status_code == 415 and error(r)["code"] == "unsupported_media_type"
    r = client.post("/api/events", content=b"", headers=h)
    assert r.status_code == 400
    assert stored.events() == []


def test_revision_header_required_and_well_formed(client, account):
    body = event_body("X", {"email": "a@example.com"})
    headers = server_headers(account.private_key)
    del headers["revision"]
    r = client.post("/api/events", json=body, headers=headers)
    assert r.status_code == 400 and error(r)["source"]["parameter"] == "revision"
    r = client.post("/api/events", json=body, headers={**headers, "revision": "July 2024"})
    assert r.status_code == 400 and error(r)["source"]["parameter"] == "revision"


@pytest.mark.parametrize("route", [("POST", "/api/events"), ("GET", "/api/profiles"), ("GET", "/api/segments/x")])
def test_no_key_is_a_401_before_the_revision_is_read(client, route):
    """Found by schemathesis: a request without a key and with a bad revision was a 400 naming the revision."""
    method, path = route
    for headers in ({"revision": "July"}, {}):
        r = client.request(method, path, headers=headers, json={} if method == "POST" else None)
        assert r.status_code == 401 and error(r)["code"] == "not_authenticated", (path, headers, r.text)


def test_a_repeated_header_counts_by_its_first_value(client, account, stored):
    """As Starlette reads headers, on the fast path too (POST /api/events and /client/events)."""
    body = event_body("X", {"email": "a@example.com"})
    auth = ("Authorization", f"Klaviyo-API-Key {account.private_key}")
    r = client.post("/api/events", json=body, headers=[auth, ("revision", "2026-07-15"), ("revision", "July")])
    assert r.status_code == 202
    r = client.post("/api/events", json=body, headers=[auth, ("revision", "July"), ("revision", "2026-07-15")])
    assert r.status_code == 400 and error(r)["source"]["parameter"] == "revision"
    r = client.post("/client/events", params={"company_id": account.public_key}, json=body,
                    headers=[("revision", "July"), ("revision", "2026-07-15")])
    assert r.status_code == 400 and error(r)["source"]["parameter"] == "revision"
    assert len(stored.events()) == 1


def test_auth_missing_wrong_and_read_only(client, account, read_only_key, stored):
    body = event_body("X", {"email": "a@example.com"})
    headers = server_headers(account.private_key)
    del headers["Authorization"]
    r = client.post("/api/events", json=body, headers=headers)
    assert r.status_code == 401 and error(r)["code"] == "not_authenticated"
    r = client.post("/api/events", json=body, headers=server_headers("pk_wrong"))
    assert r.status_code == 401 and error(r)["code"] == "authentication_failed"
    r = client.post("/api/events", json=body, headers=server_headers(read_only_key))
    assert r.status_code == 403 and error(r)["code"] == "permission_denied"
    assert stored.events() == []


# -- bulk jobs --------------------------------------------------------------------------------------

def test_bulk_job_processes_and_reads_back(client, account, stored):
    h = server_headers(account.private_key)
    entries = [
        bulk_entry({"email": "b1@example.com"}, [bulk_event("Viewed", {"i": i}, unique_id=f"v{i}") for i in range(3)]),
        bulk_entry({"external_id": "b2"}, [bulk_event("Bought", {"sku": "x"}, value=5, time="2024-02-02T02:02:02Z")]),
    ]
    r = client.post("/api/event-bulk-create-jobs", json=bulk_job_body(entries), headers=h)
    assert r.status_code == 202, r.text
    job = r.json()["data"]
    assert job["type"] == "event-bulk-create-job"
    assert job["attributes"]["status"] == "complete"
    assert (job["attributes"]["total_count"], job["attributes"]["completed_count"],
            job["attributes"]["failed_count"]) == (4, 4, 0)
    assert job["links"]["self"].endswith(f"/api/event-bulk-create-jobs/{job['id']}/")
    again = client.get(f"/api/event-bulk-create-jobs/{job['id']}", headers=h)
    assert again.status_code == 200 and again.json()["data"] == job
    events = stored.events()
    assert len(events) == 4
    assert sorted(e["metric"] for e in events) == ["Bought", "Viewed", "Viewed", "Viewed"]
    assert {p["email"] or p["external_id"] for p in stored.profiles()} == {"b1@example.com", "b2"}


def test_bulk_job_unknown_id_and_other_account(client, account, stored, database_url):
    from tests.servers import new_account

    h = server_headers(account.private_key)
    r = client.post("/api/event-bulk-create-jobs",
                    json=bulk_job_body([bulk_entry({"email": "z@example.com"}, [bulk_event("Z")])]), headers=h)
    job_id = r.json()["data"]["id"]
    other = new_account(database_url, f"other-{job_id}")
    assert client.get(f"/api/event-bulk-create-jobs/{job_id}", headers=server_headers(other.private_key)).status_code == 404
    assert client.get("/api/event-bulk-create-jobs/nope", headers=h).status_code == 404


def test_bulk_limit_of_1000_events(client, account, stored):
    h = server_headers(account.private_key)
    events = [bulk_event("Tick", time=f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z") for i in range(1000)]
    r = client.post("/api/event-bulk-create-jobs", json=bulk_job_body([bulk_entry({"email": "t@example.com"}, events)]),
                    headers=h)
    assert r.status_code == 202 and r.json()["data"]["attributes"]["completed_count"] == 1000
    assert len(stored.events()) == 1000
    over = [bulk_entry({"email": f"o{i}@example.com"}, [bulk_event("Over")] * 1) for i in range(1001)]
    r = client.post("/api/event-bulk-create-jobs", json=bulk_job_body(over), headers=h)
    assert r.status_code == 400 and error(r)["source"]["pointer"] == "/data/attributes/events-bulk-create/data"
    assert len(stored.events()) == 1000


def test_bulk_repeated_unique_id_refuses_everything(client, account, stored):
    h = server_headers(account.private_key)
    entries = [
        bulk_entry({"email": "ok@example.com"}, [bulk_event("Fine")]),
        bulk_entry({"email": "r@example.com"}, [bulk_event("Paid", unique_id="a")]),
        # a different identifier for the same person: the repeat is found after identity resolution
        bulk_entry({"email": "r@example.com", "external_id": "r"}, [bulk_event("Paid", unique_id="a")]),
    ]
    r = client.post("/api/event-bulk-create-jobs", json=bulk_job_body(entries), headers=h)
    assert r.status_code == 400, r.text
    assert error(r)["source"]["pointer"] == \
        "/data/attributes/events-bulk-create/data/2/attributes/events/data/0/attributes/unique_id"
    assert stored.events() == [] and stored.profiles() == []


def test_bulk_entry_refused_by_the_store_counts_as_failed(client, account, stored):
    h = server_headers(account.private_key)
    entries = [
        bulk_entry({"email": "good@example.com"}, [bulk_event("Fine")]),
        {"type": "event-bulk-create", "attributes": {
            "profile": {"data": {"type": "profile", "id": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "attributes": {}}},
            "events": {"data": [bulk_event("Lost"), bulk_event("Lost", unique_id="2")]}}},
    ]
    r = client.post("/api/event-bulk-create-jobs", json=bulk_job_body(entries), headers=h)
    assert r.status_code == 202
    attrs = r.json()["data"]["attributes"]
    assert (attrs["completed_count"], attrs["failed_count"]) == (1, 2)
    assert "no profile with that id" in attrs["errors"][0]["detail"]
    assert [e["metric"] for e in stored.events()] == ["Fine"]


def test_bulk_needs_events_scope(client, account, read_only_key):
    body = bulk_job_body([bulk_entry({"email": "x@example.com"}, [bulk_event("X")])])
    r = client.post("/api/event-bulk-create-jobs", json=body, headers=server_headers(read_only_key))
    assert r.status_code == 403
