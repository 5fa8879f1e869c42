"""The /api/segments and /api/lists routes: resources, validation errors, lists, members, keys."""

from __future__ import annotations

import time

import pytest

from footfall.store import accounts, db
from tests.segment_helpers import SegmentApi, wait_until
from tests.segment_oracle import Event, Person

PLAN = "properties['Plan']"


def plan_is(value: str) -> dict:
    return {"condition_groups": [{"conditions": [
        {"type": "profile-property", "property": PLAN, "filter": {"type": "string", "operator": "equals", "value": value}}]}]}


def in_groups(*ids: str, member: bool = True) -> dict:
    return {"condition_groups": [{"conditions": [
        {"type": "profile-group-membership", "is_member": member, "group_ids": list(ids)}]}]}


@pytest.fixture
def api(server, account, database_url):
    client = SegmentApi(server.url, account, database_url)
    yield client
    client.close()


@pytest.fixture
def people(api):
    data = [Person(f"p{i}@x.co", None, {"Plan": "pro" if i % 2 == 0 else "free"}, {}, [],
                   [Event("Bought", int(time.time()) - 3600 - i)]) for i in range(5)]
    api.load(data)
    return data


def test_segment_lifecycle(api, people):
    r = api.create_segment(plan_is("pro"), "Pros")
    assert r.status_code == 201
    body = r.json()["data"]
    sid = body["id"]
    assert body["type"] == "segment" and len(sid) == 6
    assert body["attributes"]["name"] == "Pros" and body["attributes"]["definition"] == plan_is("pro")
    assert body["links"]["self"].startswith("http://") and body["links"]["self"].endswith(f"/api/segments/{sid}/")
    assert body["attributes"]["created"].endswith("+00:00")
    api.wait_processed([sid])
    assert api.member_emails("segments", sid) == {"p0@x.co", "p2@x.co", "p4@x.co"}

    listed = api.http.get("/api/segments/").json()["data"]  # the trailing slash form works too
    assert [s["id"] for s in listed] == [sid]

    r = api.http.patch(f"/api/segments/{sid}", json={"data": {"type": "segment", "id": sid, "attributes": {
        "definition": plan_is("free")}}})
    assert r.status_code == 200 and r.json()["data"]["attributes"]["name"] == "Pros"
    api.wait_processed([sid])
    assert api.member_emails("segments", sid) == {"p1@x.co", "p3@x.co"}

    r = api.http.patch(f"/api/segments/{sid}", json={"data": {"type": "segment", "id": sid, "attributes": {"name": "Free"}}})
    assert r.json()["data"]["attributes"]["name"] == "Free" and not r.json()["data"]["attributes"]["is_processing"]

    assert api.http.delete(f"/api/segments/{sid}").status_code == 204
    assert api.http.get(f"/api/segments/{sid}").status_code == 404
    assert api.http.get(f"/api/segments/{sid}/profiles").status_code == 404


@pytest.mark.parametrize("definition, pointer, words", [
    ({"condition_groups": []}, "/data/attributes/definition/condition_groups", "non-empty"),
    ({"condition_groups": [{"conditions": [plan_is("x")["condition_groups"][0]["conditions"][0]]},
                           {"conditions": [{"type": "profile-property", "property": "email",
                                            "filter": {"type": "string", "operator": "sounds-like", "value": "x"}}]}]},
     "/data/attributes/definition/condition_groups/1/conditions/0/filter/operator", "sounds-like"),
    ({"condition_groups": [{"conditions": [{"type": "profile-hobby"}]}]},
     "/data/attributes/definition/condition_groups/0/conditions/0/type", "profile-hobby"),
    ({"condition_groups": [{"conditions": [{"type": "profile-property", "property": "email",
                                            "filter": {"type": "numeric", "operator": "equals", "value": 1}}]}]},
     "/data/attributes/definition/condition_groups/0/conditions/0/filter/type", "string"),
    ({"condition_groups": [{"conditions": [{"type": "profile-property", "property": PLAN,
                                            "filter": {"type": "date", "operator": "in-the-last", "quantity": 3,
                                                       "unit": "fortnight"}}]}]},
     "/data/attributes/definition/condition_groups/0/conditions/0/filter/unit", "hour"),
    ({"condition_groups": [{"conditions": [{"type": "profile-metric", "metric_id": "nope00",
                                            "measurement_filter": {"type": "numeric", "operator": "equals", "value": 0}}]}]},
     "/data/attributes/definition/condition_groups/0/conditions/0/metric_id", "does not exist"),
    (in_groups("nope00"), "/data/attributes/definition/condition_groups/0/conditions/0/group_ids/0", "no list"),
    ({"condition_groups": [{"conditions": [plan_is("x")["condition_groups"][0]["conditions"][0]] * 60}] * 2},
     "/data/attributes/definition/condition_groups/1/conditions", "at most 100"),
])
def test_invalid_definitions_are_refused_with_a_pointer(api, definition, pointer, words):
    r = api.create_segment(definition)
    assert r.status_code == 400, r.text
    [error] = r.json()["errors"]
    assert error["code"] == "invalid" and error["source"]["pointer"] == pointer
    assert words in error["detail"]
    assert api.http.get("/api/segments").json()["data"] == []


def test_membership_cycles_are_refused(api, people):
    a = api.segment_id(plan_is("pro"), "A")
    b = api.segment_id(in_groups(a), "B")
    c = api.segment_id(in_groups(b, member=False), "C")
    r = api.http.patch(f"/api/segments/{a}", json={"data": {"type": "segment", "id": a, "attributes": {
        "definition": in_groups(c)}}})
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["source"]["pointer"] == "/data/attributes/definition/condition_groups/0/conditions/0/group_ids/0"
    assert "cycle" in error["detail"]
    r = api.http.patch(f"/api/segments/{a}", json={"data": {"type": "segment", "id": a, "attributes": {
        "definition": in_groups(a)}}})
    assert r.status_code == 400 and "its own" in r.json()["errors"][0]["detail"]
    # A segment another one names cannot be deleted.
    r = api.http.delete(f"/api/segments/{b}")
    assert r.status_code == 409 and c in r.json()["errors"][0]["detail"]


def test_lists_and_their_members(api, people):
    lid = api.create_list("VIPs")
    assert len(lid) == 6
    r = api.http.get(f"/api/lists/{lid}")
    assert r.json()["data"]["type"] == "list" and r.json()["data"]["attributes"]["name"] == "VIPs"
    assert api.list_members(lid, ["p0@x.co", "p3@x.co"]).status_code == 204
    assert api.list_members(lid, ["p0@x.co"]).status_code == 204  # adding twice is harmless
    members = api.members("lists", lid)
    assert {m["attributes"]["email"] for m in members} == {"p0@x.co", "p3@x.co"}
    assert all(m["type"] == "profile" and m["attributes"]["joined_group_at"] for m in members)

    r = api.http.get(f"/api/profiles/{api.profile_ids['p3@x.co']}/lists")
    assert [item["id"] for item in r.json()["data"]] == [lid]

    assert api.list_members(lid, ["p3@x.co"], add=False).status_code == 204
    assert api.member_emails("lists", lid) == {"p0@x.co"}
    assert api.http.get(f"/api/profiles/{api.profile_ids['p3@x.co']}/lists").json()["data"] == []

    r = api.http.patch(f"/api/lists/{lid}", json={"data": {"type": "list", "id": lid, "attributes": {"name": "Gold"}}})
    assert r.status_code == 200 and r.json()["data"]["attributes"]["name"] == "Gold"
    assert [item["id"] for item in api.http.get("/api/lists").json()["data"]] == [lid]


def test_list_member_changes_are_checked(api, people):
    lid = api.create_list()
    body = {"data": [{"type": "profile", "id": api.profile_ids["p0@x.co"]}, {"type": "profile", "id": "01NOPE"}]}
    r = api.http.post(f"/api/lists/{lid}/relationships/profiles", json=body)
    # a profile id naming no profile is a 404 with its pointer, as on the event and merge routes (issue 12)
    assert r.status_code == 404 and r.json()["errors"][0]["source"]["pointer"] == "/data/1/id"
    assert api.member_emails("lists", lid) == set()  # nothing partial
    too_many = {"data": [{"type": "profile", "id": api.profile_ids["p0@x.co"]}] * 1001}
    r = api.http.post(f"/api/lists/{lid}/relationships/profiles", json=too_many)
    assert r.status_code == 400 and "1000" in r.json()["errors"][0]["detail"]
    r = api.http.post("/api/lists/nope00/relationships/profiles",
                      json={"data": [{"type": "profile", "id": api.profile_ids["p0@x.co"]}]})
    assert r.status_code == 404


def test_list_used_by_a_segment_cannot_be_deleted(api, people):
    lid = api.create_list()
    sid = api.segment_id(in_groups(lid))
    assert api.http.delete(f"/api/lists/{lid}").status_code == 409
    assert api.http.delete(f"/api/segments/{sid}").status_code == 204
    assert api.http.delete(f"/api/lists/{lid}").status_code == 204
    assert api.http.get(f"/api/lists/{lid}").status_code == 404


def test_member_listing_pages_filters_and_sorts(api, people):
    sid = api.segment_id({"condition_groups": [{"conditions": [
        {"type": "profile-property", "property": "email", "filter": {"type": "existence", "operator": "is-set"}}]}]})
    api.wait_processed([sid])
    r = api.http.get(f"/api/segments/{sid}/profiles", params={"page[size]": "2"})
    first = r.json()
    assert len(first["data"]) == 2 and first["links"]["next"].startswith(api.http.base_url.scheme + "://")
    seen = [p["id"] for p in first["data"]]
    nxt = first["links"]["next"]
    while nxt:
        page = api.http.get(nxt).json()
        seen += [p["id"] for p in page["data"]]
        nxt = page["links"]["next"]
    assert sorted(seen) == sorted(api.profile_ids.values()) and len(seen) == len(set(seen)) == 5

    newest_first = api.members("segments", sid, sort="-joined_group_at")
    oldest_first = api.members("segments", sid)
    assert [p["id"] for p in newest_first] == [p["id"] for p in oldest_first][::-1]

    only = api.members("segments", sid, filter='equals(email,"p1@x.co")')
    assert [p["attributes"]["email"] for p in only] == ["p1@x.co"]
    some = api.members("segments", sid, filter="any(email,['p1@x.co','p2@x.co'])")
    assert {p["attributes"]["email"] for p in some} == {"p1@x.co", "p2@x.co"}
    joined = oldest_first[0]["attributes"]["joined_group_at"]
    later = api.members("segments", sid, filter=f"greater-than(joined_group_at,{joined})")
    assert all(p["attributes"]["joined_group_at"] > joined for p in later)
    same = api.members("segments", sid, filter=f"equals(joined_group_at,{joined})")
    assert same and all(p["attributes"]["joined_group_at"] == joined for p in same)
    assert oldest_first[0]["id"] in {p["id"] for p in same}
    assert api.members("segments", sid, filter=f"less-than(joined_group_at,2001-01-01T00:00:00Z)") == []
    by_id = api.members("segments", sid, filter=f"equals(profile_id,\"{api.profile_ids['p4@x.co']}\")")
    assert [p["attributes"]["email"] for p in by_id] == ["p4@x.co"]

    r = api.http.get(f"/api/segments/{sid}/profiles", params={"filter": "equals(first_name,\"x\")"})
    assert r.status_code == 400 and r.json()["errors"][0]["source"]["parameter"] == "filter"
    r = api.http.get(f"/api/segments/{sid}/profiles", params={"page[size]": "101"})
    assert r.status_code == 400

    r = api.http.get(f"/api/profiles/{api.profile_ids['p2@x.co']}/segments")
    assert [s["id"] for s in r.json()["data"]] == [sid]


def test_keys_need_the_right_scopes(server, account, database_url, people, api):
    conn = db.connect(database_url)
    try:
        reader = accounts.create_key(conn, account.id, "reader", ("segments:read",))
    finally:
        conn.close()
    headers = {"Authorization": f"Klaviyo-API-Key {reader}", "revision": "2026-07-15"}
    assert api.http.get("/api/segments", headers=headers).status_code == 200
    r = api.http.post("/api/segments", headers=headers, json={"data": {"type": "segment", "attributes": {
        "name": "x", "definition": plan_is("pro")}}})
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "permission_denied"
    assert api.http.get("/api/lists", headers=headers).status_code == 403
    assert api.http.get("/api/segments", headers={"Authorization": ""}).status_code == 401
    assert api.http.get("/api/segments", headers={"revision": ""}).status_code == 400


def test_accounts_do_not_see_each_others_groups(server, database_url, api, people):
    from tests.servers import new_account

    sid = api.segment_id(plan_is("pro"))
    lid = api.create_list()
    other = SegmentApi(server.url, new_account(database_url, f"other-{time.time_ns()}"), database_url)
    try:
        assert other.http.get(f"/api/segments/{sid}").status_code == 404
        assert other.http.get(f"/api/lists/{lid}/profiles").status_code == 404
        r = other.create_segment(in_groups(lid))
        assert r.status_code == 400 and "no list" in r.json()["errors"][0]["detail"]
        assert other.http.get("/api/segments").json()["data"] == []
    finally:
        other.close()


def test_segment_membership_follows_a_list_live(api, people):
    lid = api.create_list()
    sid = api.segment_id(in_groups(lid))
    outside = api.segment_id(in_groups(lid, member=False))
    api.wait_processed([sid, outside])
    assert api.member_emails("segments", sid) == set()
    assert len(api.member_emails("segments", outside)) == 5
    assert api.list_members(lid, ["p1@x.co"]).status_code == 204
    wait_until(lambda: api.member_emails("segments", sid) == {"p1@x.co"})
    wait_until(lambda: "p1@x.co" not in api.member_emails("segments", outside))
    assert api.list_members(lid, ["p1@x.co"], add=False).status_code == 204
    wait_until(lambda: api.member_emails("segments", sid) == set())
