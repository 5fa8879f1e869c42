"""POST /api/profiles, /api/profile-import, PATCH /api/profiles/{id}, POST /api/profile-merge."""

from __future__ import annotations

from tests.modern import (  # noqa: F401  (read_only_key is a fixture)
    error, event_body, profile_data, read_only_key, server_headers,
)


def create(client, account, **attributes):
    return client.post("/api/profiles", json=profile_data(**attributes), headers=server_headers(account.private_key))


def test_create_profile_201_with_the_full_profile(client, account, stored):
    r = create(client, account, email="New@Example.com", phone_number="+13239169023", external_id="c-1",
               first_name="Nia", location={"city": "Oslo", "latitude": 59.9}, properties={"plan": "pro"})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/vnd.api+json"
    data = r.json()["data"]
    assert data["type"] == "profile" and len(data["id"]) == 26
    attrs = data["attributes"]
    assert attrs["email"] == "new@example.com" and attrs["phone_number"] == "+13239169023"
    assert attrs["external_id"] == "c-1" and attrs["first_name"] == "Nia"
    assert attrs["location"]["city"] == "Oslo" and attrs["location"]["latitude"] == 59.9
    assert attrs["properties"] == {"plan": "pro"}
    assert data["links"]["self"].endswith(f"/api/profiles/{data['id']}/")
    [profile] = stored.profiles()
    assert profile["id"] == data["id"] and profile["email"] == "new@example.com"


def test_create_profile_409_when_an_identifier_is_taken(client, account, stored):
    first = create(client, account, email="taken@example.com").json()["data"]["id"]
    r = create(client, account, email="TAKEN@example.com", first_name="Other")
    assert r.status_code == 409
    err = error(r)
    assert err["code"] == "duplicate_profile" and err["title"] == "Conflict."
    assert err["detail"] == "A profile already exists with one of these identifiers."
    assert err["source"]["pointer"] == "/data/attributes"
    assert err["meta"]["duplicate_profile_id"] == first
    # one new identifier and one taken one: still 409, and the new one is not stored anywhere
    r = create(client, account, email="taken@example.com", external_id="fresh")
    assert r.status_code == 409 and error(r)["meta"]["duplicate_profile_id"] == first
    [profile] = stored.profiles()
    assert profile["first_name"] is None and profile["external_id"] is None


def test_create_profile_refuses_an_id(client, account):
    body = profile_data(email="x@example.com")
    body["data"]["id"] = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
    r = client.post("/api/profiles", json=body, headers=server_headers(account.private_key))
    assert r.status_code == 400 and error(r)["source"]["pointer"] == "/data/id"


def test_import_201_then_200(client, account, stored):
    h = server_headers(account.private_key)
    r = client.post("/api/profile-import", json=profile_data(email="imp@example.com", first_name="A"), headers=h)
    assert r.status_code == 201
    pid = r.json()["data"]["id"]
    r = client.post("/api/profile-import/", json=profile_data(email="imp@example.com", last_name="B",
                                                              properties={"x": 1}), headers=h)
    assert r.status_code == 200 and r.json()["data"]["id"] == pid
    assert r.json()["data"]["attributes"]["first_name"] == "A"  # omitted: unchanged
    [profile] = stored.profiles()
    assert (profile["first_name"], profile["last_name"], profile["properties"]) == ("A", "B", {"x": 1})


def test_import_409_when_email_and_phone_belong_to_different_profiles(client, account, stored):
    a = create(client, account, email="a@example.com").json()["data"]["id"]
    b = create(client, account, phone_number="+14155550100").json()["data"]["id"]
    r = client.post("/api/profile-import", json=profile_data(email="a@example.com", phone_number="+14155550100"),
                    headers=server_headers(account.private_key))
    assert r.status_code == 409 and error(r)["meta"]["duplicate_profile_id"] == b
    by_id = {p["id"]: p for p in stored.profiles()}
    assert by_id[a]["phone_number"] is None and by_id[b]["email"] is None


def test_import_by_id_changes_identifiers(client, account, stored):
    pid = create(client, account, email="old@example.com").json()["data"]["id"]
    body = profile_data(email="new@example.com")
    body["data"]["id"] = pid
    r = client.post("/api/profile-import", json=body, headers=server_headers(account.private_key))
    assert r.status_code == 200 and r.json()["data"]["attributes"]["email"] == "new@example.com"
    [profile] = stored.profiles()
    assert profile["email"] == "new@example.com"
    # the old email is free again
    assert create(client, account, email="old@example.com").status_code == 201


def test_patch_sets_clears_and_patches_properties(client, account, stored):
    h = server_headers(account.private_key)
    pid = create(client, account, email="p@example.com", phone_number="+14155550101", first_name="Pat",
                 title="Dr", location={"city": "Rome", "zip": "00100"},
                 properties={"tags": ["a", "b"], "gone": 1, "kept": True}).json()["data"]["id"]
    body = {"data": {"type": "profile", "id": pid,
                     "attributes": {"first_name": None, "last_name": "Ray", "phone_number": None,
                                    "location": {"city": None}, "properties": {"new": "yes"}},
                     "meta": {"patch_properties": {"append": {"tags": "c"}, "unappend": {"tags": "a"},
                                                   "unset": "gone"}}}}
    r = client.patch(f"/api/profiles/{pid}", json=body, headers=h)
    assert r.status_code == 200, r.text
    attrs = r.json()["data"]["attributes"]
    assert attrs["first_name"] is None and attrs["last_name"] == "Ray" and attrs["title"] == "Dr"
    assert attrs["phone_number"] is None and attrs["email"] == "p@example.com"
    assert attrs["location"]["city"] is None and attrs["location"]["zip"] == "00100"
    assert attrs["properties"] == {"tags": ["b", "c"], "kept": True, "new": "yes"}
    [profile] = stored.profiles()
    assert profile["first_name"] is None and profile["phone_number"] is None
    assert profile["properties"] == {"tags": ["b", "c"], "kept": True, "new": "yes"}
    # the cleared phone number no longer belongs to anyone
    assert create(client, account, phone_number="+14155550101").status_code == 201


def test_patch_requires_matching_id_and_existing_profile(client, account, stored):
    h = server_headers(account.private_key)
    pid = create(client, account, email="q@example.com").json()["data"]["id"]
    body = {"data": {"type": "profile", "attributes": {"first_name": "Q"}}}
    r = client.patch(f"/api/profiles/{pid}", json=body, headers=h)
    assert r.status_code == 400 and error(r)["source"]["pointer"] == "/data/id"
    body["data"]["id"] = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
    r = client.patch(f"/api/profiles/{pid}", json=body, headers=h)
    assert r.status_code == 400
    r = client.patch("/api/profiles/01HZZZZZZZZZZZZZZZZZZZZZZZ", json=body, headers=h)
    assert r.status_code == 404
    assert stored.profiles()[0]["first_name"] is None


def test_patch_to_a_taken_identifier_is_409(client, account, stored):
    h = server_headers(account.private_key)
    a = create(client, account, email="one@example.com").json()["data"]["id"]
    b = create(client, account, email="two@example.com").json()["data"]["id"]
    body = {"data": {"type": "profile", "id": b, "attributes": {"email": "one@example.com", "first_name": "X"}}}
    r = client.patch(f"/api/profiles/{b}", json=body, headers=h)
    assert r.status_code == 409 and error(r)["meta"]["duplicate_profile_id"] == a
    assert all(p["first_name"] is None for p in stored.profiles())


def test_patch_cannot_reach_another_account(client, account, database_url):
    from tests.servers import new_account

    pid = create(client, account, email="mine@example.com").json()["data"]["id"]
    other = new_account(database_url, f"other-{pid}")
    body = {"data": {"type": "profile", "id": pid, "attributes": {"first_name": "Stolen"}}}
    r = client.patch(f"/api/profiles/{pid}", json=body, headers=server_headers(other.private_key))
    assert r.status_code == 404


def test_merge_moves_events_and_identifiers(client, account, stored):
    h = server_headers(account.private_key)
    dest = create(client, account, email="keep@example.com", first_name="Keep").json()["data"]["id"]
    src = create(client, account, email="dup@example.com", external_id="dup-ext", last_name="Dup",
                 properties={"from_src": 1}).json()["data"]["id"]
    for who, metric in (({"email": "keep@example.com"}, "A"), ({"email": "dup@example.com"}, "B")):
        assert client.post("/api/events", json=event_body(metric, who), headers=h).status_code == 202
    body = {"data": {"type": "profile-merge", "id": dest,
                     "relationships": {"profiles": {"data": [{"type": "profile", "id": src}]}}}}
    r = client.post("/api/profile-merge", json=body, headers=h)
    assert r.status_code == 202, r.text
    assert r.json()["data"]["id"] == dest and r.json()["data"]["type"] == "profile"
    [profile] = stored.profiles()
    assert profile["id"] == dest and profile["email"] == "keep@example.com"
    assert profile["external_id"] == "dup-ext" and profile["last_name"] == "Dup"
    assert profile["properties"] == {"from_src": 1}
    assert sorted(e["metric"] for e in stored.events() if e["profile_id"] == dest) == ["A", "B"]
    # the source's identifiers now find the destination
    assert client.post("/api/events", json=event_body("C", {"email": "dup@example.com"}), headers=h).status_code == 202
    assert {e["profile_id"] for e in stored.events()} == {dest}
    # the old id still reaches the profile it became
    r = client.patch(f"/api/profiles/{src}", json={"data": {"type": "profile", "id": src,
                                                            "attributes": {"title": "Merged"}}}, headers=h)
    assert r.status_code == 200 and r.json()["data"]["id"] == dest


def test_merge_errors(client, account, stored):
    h = server_headers(account.private_key)
    dest = create(client, account, email="m@example.com").json()["data"]["id"]
    missing = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
    body = {"data": {"type": "profile-merge", "id": dest,
                     "relationships": {"profiles": {"data": [{"type": "profile", "id": missing}]}}}}
    r = client.post("/api/profile-merge", json=body, headers=h)
    assert r.status_code == 404 and error(r)["source"]["pointer"] == "/data/relationships/profiles/data/0/id"
    body["data"]["relationships"]["profiles"]["data"] = []
    r = client.post("/api/profile-merge", json=body, headers=h)
    assert r.status_code == 400 and error(r)["source"]["pointer"] == "/data/relationships/profiles/data"
    body["data"]["relationships"]["profiles"]["data"] = [{"type": "profile", "id": dest}]
    assert client.post("/api/profile-merge", json=body, headers=h).status_code == 400
    assert [p["id"] for p in stored.profiles()] == [dest]


def test_profile_write_errors_and_scopes(client, account, read_only_key, stored):
    h = server_headers(account.private_key)
    for payload, pointer in [
        (profile_data(email=5), "/data/attributes/email"),
        (profile_data(phone_number="12"), "/data/attributes/phone_number"),
        (profile_data(email="a@example.com", nickname="x"), "/data/attributes/nickname"),
        (profile_data(email="a@example.com", location={"city": 3}), "/data/attributes/location/city"),
        (profile_data(email="a@example.com", properties="x"), "/data/attributes/properties"),
        (profile_data(first_name="NoId"), "/data/attributes"),
        ({"data": {"type": "event", "attributes": {}}}, "/data/type"),
    ]:
        r = client.post("/api/profiles", json=payload, headers=h)
        assert r.status_code == 400, (payload, r.text)
        assert error(r)["source"]["pointer"] == pointer, (payload, r.json())
    r = client.post("/api/profiles", json=profile_data(email="a@example.com"), headers=server_headers(read_only_key))
    assert r.status_code == 403 and error(r)["code"] == "permission_denied"
    r = client.post("/api/profiles", content=b"{nope", headers=h)
    assert r.status_code == 400
    assert stored.profiles() == []


def test_patch_identifiers_is_refused_not_ignored(client, account, stored):
    body = {"data": {"type": "profile", "attributes": {"email": "pi@example.com"},
                     "meta": {"patch_identifiers": {"append": {"email": ["second@example.com"]}}}}}
    r = client.post("/api/profile-import", json=body, headers=server_headers(account.private_key))
    assert r.status_code == 400
    assert error(r)["source"]["pointer"] == "/data/meta/patch_identifiers"
    assert "not supported" in error(r)["detail"]
    assert stored.profiles() == []
