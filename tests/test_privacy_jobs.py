"""Suppression bulk create / delete jobs and profile bulk import jobs through real HTTP on both
backends: shapes, limits, lists and segments, Klaviyo's unsuppress rule, profiles and segments
showing suppression, hostile input and other keys."""

from __future__ import annotations

import uuid

import pytest

from tests.modern import error, read_only_key, server_headers  # noqa: F401 (fixture)
from tests.segment_helpers import SegmentApi
from tests.segment_oracle import Person
from tests.servers import new_account

SUPPRESS = "/api/profile-suppression-bulk-create-jobs"
UNSUPPRESS = "/api/profile-suppression-bulk-delete-jobs"
IMPORTS = "/api/profile-bulk-import-jobs"


@pytest.fixture
def api(server, account, database_url):
    a = SegmentApi(server.url, account, database_url)
    yield a
    a.close()


def suppression_body(kind: str, emails=(), group: tuple[str, str] | None = None) -> dict:
    data: dict = {"type": f"profile-suppression-bulk-{kind}-job", "attributes": {}}
    if emails:
        data["attributes"]["profiles"] = {"data": [{"type": "profile", "attributes": {"email": e}} for e in emails]}
    if group:
        data["relationships"] = {group[0]: {"data": {"type": group[0], "id": group[1]}}}
    return {"data": data}


def import_body(profiles: list, lists: list[str] = ()) -> dict:
    data: dict = {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}
    if lists:
        data["relationships"] = {"lists": {"data": [{"type": "list", "id": i} for i in lists]}}
    return {"data": data}


def _marketing(api, profile_id: str) -> dict:
    """subscriptions.email.marketing of the profile, as GET /api/profiles/{id} shows it."""
    r = api.http.get(f"/api/profiles/{profile_id}", params={"additional-fields[profile]": "subscriptions"})
    assert r.status_code == 200, r.text
    return r.json()["data"]["attributes"]["subscriptions"]["email"]["marketing"]


def _suppression(api, profile_id: str) -> list[str]:
    """The reasons the profile read shows in subscriptions.email.marketing.suppression."""
    return [s["reason"] for s in _marketing(api, profile_id)["suppression"]]


def test_suppress_by_email_then_unsuppress_lifts_only_user_suppressions(api, client, account, database_url):
    pid = api.identify(Person(email="ann@example.com"))
    r = client.post(SUPPRESS, json=suppression_body("create", ["ANN@example.com", "new@example.com"]),
                    headers=server_headers(account.private_key))
    assert r.status_code == 202, r.text
    job = r.json()["data"]
    assert job["type"] == "profile-suppression-bulk-create-job"
    assert {k: job["attributes"][k] for k in ("status", "total_count", "completed_count", "skipped_count")} == {
        "status": "complete", "total_count": 2, "completed_count": 2, "skipped_count": 0}
    assert job["relationships"] == {"lists": {"data": []}, "segments": {"data": []}}
    assert client.get(job["links"]["self"], headers=server_headers(account.private_key)).json()["data"] == job
    assert _suppression(api, pid) == ["USER_SUPPRESSED"]
    # Suppressing an email nobody has yet makes its profile, suppressed.
    [new] = api.http.get("/api/profiles", params={"filter": 'equals(email,"new@example.com")'}).json()["data"]
    assert _suppression(api, new["id"]) == ["USER_SUPPRESSED"]
    again = client.post(SUPPRESS, json=suppression_body("create", ["ann@example.com"]),
                        headers=server_headers(account.private_key)).json()["data"]["attributes"]
    assert (again["completed_count"], again["skipped_count"]) == (0, 1)

    _add_reason(database_url, account, pid, "HARD_BOUNCE")
    r = client.post(UNSUPPRESS, json=suppression_body("delete", ["ann@example.com", "nobody@example.com"]),
                    headers=server_headers(account.private_key))
    assert r.status_code == 202, r.text
    attrs = r.json()["data"]["attributes"]
    assert (attrs["total_count"], attrs["completed_count"], attrs["skipped_count"]) == (2, 1, 1)
    assert _suppression(api, pid) == ["HARD_BOUNCE"]  # a bounce stays
    listed = client.get(UNSUPPRESS, headers=server_headers(account.private_key)).json()
    assert [j["id"] for j in listed["data"]] == [r.json()["data"]["id"]]


def test_profile_reads_show_suppression_with_reason_and_time(api, client, account, database_url):
    pid = api.identify(Person(email="shown@example.com"))
    api.identify(Person(email="other@example.com"))
    before = _marketing(api, pid)
    assert before["suppression"] == []
    r = client.post(SUPPRESS, json=suppression_body("create", ["shown@example.com"]),
                    headers=server_headers(account.private_key))
    assert r.status_code == 202, r.text
    _add_reason(database_url, account, pid, "HARD_BOUNCE")
    marketing = _marketing(api, pid)
    assert [s["reason"] for s in marketing["suppression"]] == ["USER_SUPPRESSED", "HARD_BOUNCE"]
    assert all(s["timestamp"].startswith("20") for s in marketing["suppression"])
    assert marketing["can_receive_email_marketing"] is False
    listed = api.http.get("/api/profiles", params={"additional-fields[profile]": "subscriptions"}).json()["data"]
    shown = {p["attributes"]["email"]: p["attributes"]["subscriptions"]["email"]["marketing"]["suppression"]
             for p in listed}
    assert shown["shown@example.com"] == marketing["suppression"] and shown["other@example.com"] == []
    # Without additional-fields the profile carries no subscriptions, as in Klaviyo.
    assert "subscriptions" not in api.http.get(f"/api/profiles/{pid}").json()["data"]["attributes"]


def _add_reason(database_url, account, profile_id, reason):
    """A hard bounce, as a sending system would record it (Footfall sends no email itself)."""
    from footfall import clock
    from footfall.store import db, privacy

    conn = db.connect(database_url)
    try:
        conn.begin()
        privacy.suppress(conn, account.id, profile_id, reason, clock.now())
        conn.commit()
    finally:
        conn.close()


def test_suppress_a_list_and_segment_on_suppression(api, client, account):
    ids = {e: api.identify(Person(email=e)) for e in ("a@example.com", "b@example.com", "c@example.com")}
    list_id = api.create_list("Bounced")
    assert api.list_members(list_id, ["a@example.com", "b@example.com"]).status_code == 204
    r = client.post(SUPPRESS, json=suppression_body("create", group=("list", list_id)),
                    headers=server_headers(account.private_key))
    assert r.status_code == 202, r.text
    assert r.json()["data"]["relationships"]["lists"]["data"] == [{"type": "list", "id": list_id}]
    assert r.json()["data"]["attributes"]["completed_count"] == 2
    suppressed = api.segment_id({"condition_groups": [{"conditions": [{
        "type": "profile-suppression", "channel": "email", "is_suppressed": True}]}]}, "suppressed")
    reachable = api.segment_id({"condition_groups": [{"conditions": [{
        "type": "profile-suppression", "channel": "email", "is_suppressed": False}]}]}, "reachable")
    bounced = api.segment_id({"condition_groups": [{"conditions": [{
        "type": "profile-suppression", "channel": "email", "is_suppressed": True,
        "reasons": ["HARD_BOUNCE"]}]}]}, "bounced")
    api.wait_processed([suppressed, reachable, bounced])
    assert api.member_emails("segments", suppressed) == {"a@example.com", "b@example.com"}
    assert api.member_emails("segments", reachable) == {"c@example.com"}
    assert api.member_emails("segments", bounced) == set()
    # Unsuppressing the segment's members lifts them; the live segment follows.
    r = client.post(UNSUPPRESS, json=suppression_body("delete", group=("segment", suppressed)),
                    headers=server_headers(account.private_key))
    assert r.status_code == 202 and r.json()["data"]["attributes"]["completed_count"] == 2
    assert _suppression(api, ids["a@example.com"]) == []


@pytest.mark.parametrize("body, pointer", [
    (suppression_body("create"), "/data/attributes/profiles"),
    (suppression_body("create", [f"p{i}@example.com" for i in range(101)]), "/data/attributes/profiles/data"),
    (suppression_body("create", ["x@example.com"], group=("list", "abc123")), "/data/relationships"),
    (suppression_body("create", ["not-an-email"]), "/data/attributes/profiles/data/0/attributes/email"),
    ({"data": {"type": "profile-suppression-bulk-create-job", "attributes": {},
               "relationships": {"list": {"data": {"type": "segment", "id": "x"}}}}},
     "/data/relationships/list/data/type"),
    ({"data": {"type": "profile-suppression-bulk-delete-job"}}, "/data/type"),
])
def test_bad_suppression_jobs_are_400_and_change_nothing(api, client, account, body, pointer):
    pid = api.identify(Person(email="x@example.com"))
    r = client.post(SUPPRESS, json=body, headers=server_headers(account.private_key))
    assert r.status_code == 400, r.text
    assert error(r)["source"]["pointer"] == pointer
    assert _suppression(api, pid) == []


def test_unknown_list_is_404(client, account):
    r = client.post(SUPPRESS, json=suppression_body("create", group=("list", "nosuch")),
                    headers=server_headers(account.private_key))
    assert r.status_code == 404 and error(r)["source"]["pointer"] == "/data/relationships/list/data/id"


def test_suppression_keys(api, client, account, database_url, read_only_key):
    pid = api.identify(Person(email="x@example.com"))
    other = new_account(database_url, f"other-{uuid.uuid4().hex[:8]}")
    body = suppression_body("create", ["x@example.com"])
    assert client.post(SUPPRESS, json=body, headers=server_headers(read_only_key)).status_code == 403
    assert client.post(SUPPRESS, json=body, headers=server_headers(account.public_key)).status_code == 401
    r = client.post(SUPPRESS, json=body, headers=server_headers(other.private_key))
    assert r.status_code == 202  # the other account's own x@example.com
    assert _suppression(api, pid) == []
    job = r.json()["data"]["id"]
    assert client.get(f"{SUPPRESS}/{job}", headers=server_headers(account.private_key)).status_code == 404


# -- profile bulk import jobs -------------------------------------------------------------------------

def test_bulk_import_job_lists_errors_profiles(api, client, account):
    list_id = api.create_list("Imported")
    existing = api.identify(Person(email="old@example.com"))
    profiles = [
        {"type": "profile", "attributes": {"email": "old@example.com", "first_name": "Old"}},
        {"type": "profile", "attributes": {"email": "new@example.com", "properties": {"plan": "pro"}}},
        {"type": "profile", "attributes": {"email": "bad"}},
        "not an object",
        {"type": "profile", "attributes": {"phone_number": "+14155550100", "external_id": "x1"}},
    ]
    r = client.post(IMPORTS, json=import_body(profiles, [list_id]), headers=server_headers(account.private_key))
    assert r.status_code == 202, r.text
    job = r.json()["data"]
    attrs = job["attributes"]
    assert (attrs["status"], attrs["total_count"], attrs["completed_count"], attrs["failed_count"]) == (
        "complete", 5, 3, 2)
    assert job["relationships"]["lists"]["data"] == [{"type": "list", "id": list_id}]
    errors = client.get(f"{IMPORTS}/{job['id']}/import-errors", headers=server_headers(account.private_key)).json()
    assert [e["attributes"]["source"]["pointer"] for e in errors["data"]] == [
        "/data/attributes/profiles/data/2/attributes/email", "/data/attributes/profiles/data/3"]
    assert errors["data"][0]["attributes"]["original_payload"] == profiles[2]
    assert errors["data"][1]["attributes"]["original_payload"] == {"value": "not an object"}
    members = api.member_emails("lists", list_id)
    assert members == {"old@example.com", "new@example.com", None}
    imported = client.get(f"{IMPORTS}/{job['id']}/relationships/profiles",
                          headers=server_headers(account.private_key)).json()["data"]
    assert existing in {p["id"] for p in imported} and len(imported) == 3
    full = client.get(f"{IMPORTS}/{job['id']}/profiles", headers=server_headers(account.private_key)).json()["data"]
    assert {p["attributes"]["email"] for p in full} == {"old@example.com", "new@example.com", None}
    lists = client.get(f"{IMPORTS}/{job['id']}/lists", headers=server_headers(account.private_key)).json()["data"]
    assert [item["id"] for item in lists] == [list_id]
    assert api.http.get(f"/api/profiles/{existing}").json()["data"]["attributes"]["first_name"] == "Old"


def test_bulk_import_conflicts_are_per_record(api, client, account):
    api.identify(Person(email="a@example.com"))
    client.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"external_id": "e1"}}},
                headers=server_headers(account.private_key))
    # One record names two existing profiles (the email's and the external id's): a per-record error.
    r = client.post(IMPORTS, json=import_body([
        {"type": "profile", "attributes": {"email": "a@example.com", "external_id": "e1"}},
        {"type": "profile", "attributes": {"email": "ok@example.com"}}]), headers=server_headers(account.private_key))
    assert r.status_code == 202, r.text
    assert (r.json()["data"]["attributes"]["completed_count"], r.json()["data"]["attributes"]["failed_count"]) == (1, 1)
    errors = client.get(f"{IMPORTS}/{r.json()['data']['id']}/import-errors",
                        headers=server_headers(account.private_key)).json()["data"]
    assert errors[0]["attributes"]["code"] == "duplicate_profile"


@pytest.mark.parametrize("body, status, pointer", [
    (import_body([]), 400, "/data/attributes/profiles/data"),
    (import_body([{"type": "profile", "attributes": {"email": f"p{i}@x.co"}} for i in range(10_001)]), 400,
     "/data/attributes/profiles/data"),
    (import_body([{"type": "profile", "attributes": {"email": "a@x.co"}}], ["nosuch"]), 404,
     "/data/relationships/lists/data/0/id"),
    ({"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": [{}]}},
               "relationships": {"segments": {"data": []}}}}, 400, "/data/relationships/segments"),
    ({"data": {"type": "profile-import"}}, 400, "/data/type"),
])
def test_bad_import_jobs_store_nothing(client, account, stored, body, status, pointer):
    r = client.post(IMPORTS, json=body, headers=server_headers(account.private_key))
    assert r.status_code == status, r.text
    assert error(r)["source"]["pointer"] == pointer
    assert stored.profiles() == []


def test_import_over_5_mb_is_413(client, account, stored):
    big = "x" * 90_000
    profiles = [{"type": "profile", "attributes": {"email": f"p{i}@x.co", "properties": {"b": big}}} for i in range(60)]
    r = client.post(IMPORTS, json=import_body(profiles), headers=server_headers(account.private_key))
    assert r.status_code == 413
    assert stored.profiles() == []


def test_import_job_keys(client, account, database_url, read_only_key, stored):
    body = import_body([{"type": "profile", "attributes": {"email": "a@x.co"}}])
    assert client.post(IMPORTS, json=body, headers=server_headers(read_only_key)).status_code == 403
    assert client.post(IMPORTS, json=body, headers=server_headers(account.public_key)).status_code == 401
    other = new_account(database_url, f"other-{uuid.uuid4().hex[:8]}")
    r = client.post(IMPORTS, json=body, headers=server_headers(other.private_key))
    assert r.status_code == 202 and stored.profiles() == []
    job = r.json()["data"]["id"]
    for path in ("", "/import-errors", "/profiles", "/lists"):
        assert client.get(f"{IMPORTS}/{job}{path}", headers=server_headers(account.private_key)).status_code == 404
