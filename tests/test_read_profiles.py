"""GET /api/profiles and /api/profiles/{id}, through real HTTP on both backends."""

from __future__ import annotations

import time

import pytest

from footfall.store import accounts, db
from tests.read_world import T0, HOUR, World, headers, identify, iso, track, world  # noqa: F401  (fixture)

EMAILS = ("ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com")


def get(client, world: World, path: str, **params):
    return client.get(path, params=params, headers=world.auth)


def ids(r) -> list[str]:
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["data"]]


def test_list_is_by_id_and_renders_profiles(client, world):
    r = get(client, world, "/api/profiles")
    assert r.headers["content-type"] == "application/vnd.api+json"
    expected = sorted(world.profiles.values())
    assert ids(r) == expected and world.merged_away not in expected
    ann = next(p for p in r.json()["data"] if p["id"] == world.profiles["ann@example.com"])
    attrs = ann["attributes"]
    assert attrs["email"] == "ann@example.com" and attrs["external_id"] == "ann-1"
    assert attrs["phone_number"] == "+13239169023" and attrs["first_name"] == "Ann"
    assert attrs["location"]["city"] == "Boston"
    # Ann's events are 0, 3, 6, … 21: the last at T0 + 21h
    assert attrs["last_event_date"] == iso(T0 + 21 * HOUR).replace("Z", "+00:00")
    assert ann["links"]["self"] == f"{client.base_url}/api/profiles/{ann['id']}/"
    assert r.json()["links"] == {"self": f"{client.base_url}/api/profiles"}


@pytest.mark.parametrize("field,value,who", [
    ("email", "bob@example.com", "bob@example.com"),
    ("email", "  Bob@Example.COM", "bob@example.com"),
    ("phone_number", "+13239169023", "ann@example.com"),
    ("external_id", "bob-2", "bob@example.com"),
])
def test_equals_identifier_filters(client, world, field, value, who):
    r = get(client, world, "/api/profiles", filter=f'equals({field},"{value}")')
    assert ids(r) == [world.profiles[who]]


def test_id_and_any_filters(client, world):
    ann, cy = world.profiles["ann@example.com"], world.profiles["cy@example.com"]
    assert ids(get(client, world, "/api/profiles", filter=f'equals(id,"{cy}")')) == [cy]
    assert ids(get(client, world, "/api/profiles", filter=f"any(id,['{ann}','{cy}','nobody'])")) == sorted([ann, cy])
    r = get(client, world, "/api/profiles", filter='any(email,["cy@example.com","ann@example.com","zed@example.com"])')
    assert ids(r) == sorted([ann, cy])
    assert ids(get(client, world, "/api/profiles", filter='any(external_id,["ann-1","bob-2"])')) == sorted(
        [ann, world.profiles["bob@example.com"]])
    assert ids(get(client, world, "/api/profiles", filter='any(phone_number,["+13239169023","+15555550100"])')) == [ann]


def test_anonymous_id_filter_finds_the_merged_profile(client, world):
    tag = world.account.name.rsplit("-", 1)[1]
    assert ids(get(client, world, "/api/profiles", filter=f'equals(anonymous_id,"anon-{tag}")')) == [world.dee]


def test_created_and_updated_comparisons(client, world):
    everyone = get(client, world, "/api/profiles", sort="created").json()["data"]
    created = [p["attributes"]["created"] for p in everyone]
    assert created == sorted(created)
    middle = everyone[1]["attributes"]["created"].replace("+00:00", "Z")
    after = ids(get(client, world, "/api/profiles", filter=f"greater-than(created,{middle})", sort="created"))
    assert after == [p["id"] for p in everyone[2:]]
    upto = ids(get(client, world, "/api/profiles", filter=f"less-or-equal(created,{middle})", sort="created"))
    assert upto == [p["id"] for p in everyone[:2]]
    before = ids(get(client, world, "/api/profiles", filter=f"less-than(created,{middle})", sort="created"))
    assert before == [everyone[0]["id"]]
    from_ = ids(get(client, world, "/api/profiles", filter=f"greater-or-equal(created,{middle})", sort="created"))
    assert from_ == [p["id"] for p in everyone[1:]]
    far = "2999-01-01T00:00:00Z"
    assert ids(get(client, world, "/api/profiles", filter=f"greater-than(updated,{far})")) == []
    assert len(ids(get(client, world, "/api/profiles", filter=f"less-than(updated,{far})"))) == len(everyone)


def test_updated_filter_and_sort_follow_changes(client, account):
    auth = headers(account.private_key)
    for email in ("p1@example.com", "p2@example.com", "p3@example.com"):
        identify(client, account.public_key, {"$email": email})
    time.sleep(0.01)
    mark = time.time()
    time.sleep(0.01)
    identify(client, account.public_key, {"$email": "p1@example.com", "$first_name": "Changed"})
    stamp = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(mark))}.{int(mark % 1 * 1e6):06d}Z"
    r = client.get("/api/profiles", params={"filter": f"greater-than(updated,{stamp})"}, headers=auth)
    assert [p["attributes"]["email"] for p in r.json()["data"]] == ["p1@example.com"]
    r = client.get("/api/profiles", params={"sort": "-updated"}, headers=auth)
    assert r.json()["data"][0]["attributes"]["first_name"] == "Changed"


@pytest.mark.parametrize("sort", ["id", "-id", "created", "-created", "updated", "-updated", "email", "-email"])
def test_sort_orders(client, world, sort):
    data = get(client, world, "/api/profiles", sort=sort).json()["data"]
    name = sort.lstrip("-")
    keys = [(p["attributes"].get(name) if name != "id" else p["id"], p["id"]) for p in data]
    assert keys == sorted(keys, reverse=sort.startswith("-"))
    if name == "email":
        emails = [p["attributes"]["email"] for p in data]
        assert emails == (sorted(EMAILS, reverse=sort.startswith("-")))


@pytest.mark.parametrize("sort", ["id", "-email", "created"])
def test_paging_covers_every_profile_once(client, world, sort):
    expected = ids(get(client, world, "/api/profiles", sort=sort))
    r = get(client, world, "/api/profiles", sort=sort, **{"page[size]": 1})
    seen = ids(r)
    while nxt := r.json()["links"].get("next"):
        r = get(client, world, "/api/profiles", sort=sort, **{"page[size]": 1, "page[cursor]": nxt})
        seen += ids(r)
    assert seen == expected and len(seen) == 4


def test_page_size_limits(client, world):
    assert get(client, world, "/api/profiles", **{"page[size]": 101}).status_code == 400
    assert len(ids(get(client, world, "/api/profiles", **{"page[size]": 100}))) == 4
    first = get(client, world, "/api/profiles", **{"page[size]": 3}).json()
    assert len(first["data"]) == 3 and "next" in first["links"]


def test_sparse_fields_with_dotted_subfields(client, world):
    r = get(client, world, f"/api/profiles/{world.profiles['ann@example.com']}",
            **{"fields[profile]": "email,location.city,location.zip,last_event_date"})
    assert r.json()["data"]["attributes"] == {
        "email": "ann@example.com", "location": {"city": "Boston", "zip": None},
        "last_event_date": iso(T0 + 21 * HOUR).replace("Z", "+00:00")}
    r = get(client, world, "/api/profiles", **{"fields[profile]": "first_name"})
    assert sorted(p["attributes"]["first_name"] for p in r.json()["data"]) == ["Ann", "Bob", "Cy", "Dee"]
    r = get(client, world, "/api/profiles", **{"fields[profile]": "email,location.planet"})
    assert r.status_code == 400 and r.json()["errors"][0]["source"] == {"parameter": "fields[profile]"}
    assert "location.planet" in r.json()["errors"][0]["detail"]


@pytest.mark.parametrize("flt,part", [
    ('contains(email,"@example.com")', "operator 'contains' is not allowed on field 'email' (allowed: equals, any)"),
    ('equals(first_name,"Ann")', "field 'first_name' cannot be filtered on"),
    ('greater-than(created,"2023-01-01T00:00:00Z")', "datetimes go unquoted"),
    ("equals(email,ann@example.com)", "'ann@example.com' is not a value"),
    ('any(email,"ann@example.com")', "needs a list"),
    ('equals(email,["a@b.co"])', "takes a single string value, not a list"),
    ("equals(email,'x'", "expected ')' to close equals(...) but found end of filter at position 17"),
])
def test_bad_filters(client, world, flt, part):
    r = get(client, world, "/api/profiles", filter=flt)
    assert r.status_code == 400, r.text
    [error] = r.json()["errors"]
    assert error["source"] == {"parameter": "filter"} and part in error["detail"]


def test_merged_away_id_answers_with_the_surviving_profile(client, world):
    r = get(client, world, f"/api/profiles/{world.merged_away}")
    assert r.status_code == 200
    assert r.json()["data"]["id"] == world.dee
    assert r.json()["data"]["attributes"]["email"] == "dee@example.com"


def test_unknown_and_other_accounts_profiles_are_404(client, world):
    for pid in ("01ARZ3NDEKTSV4RRFFQ69G5FAV", world.other_profile_id):
        r = get(client, world, f"/api/profiles/{pid}")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"
    r = get(client, world, "/api/profiles", filter=f'equals(id,"{world.other_profile_id}")')
    assert ids(r) == []


def test_scopes(client, world, database_url):
    conn = db.connect(database_url)
    try:
        events_only = accounts.create_key(conn, world.account.id, "events only", ("events:read",))
    finally:
        conn.close()
    assert client.get("/api/profiles", headers=headers(events_only)).status_code == 403
    assert client.get(f"/api/profiles/{world.dee}", headers=headers(events_only)).status_code == 403
    assert client.get("/api/profiles", headers=headers(world.account.private_key, None)).status_code == 400


def test_track_shows_up_as_last_event_date(client, account):
    track(client, account.public_key, "Seen", {"$email": "t@example.com"}, {}, T0)
    track(client, account.public_key, "Seen", {"$email": "t@example.com"}, {}, T0 + 99)
    identify(client, account.public_key, {"$email": "never@example.com"})
    r = client.get("/api/profiles", params={"sort": "email"}, headers=headers(account.private_key))
    dates = {p["attributes"]["email"]: p["attributes"]["last_event_date"] for p in r.json()["data"]}
    assert dates == {"never@example.com": None, "t@example.com": iso(T0 + 99).replace("Z", "+00:00")}


def test_extreme_datetimes_are_answered_not_errors(client, world):
    r = get(client, world, "/api/profiles", filter="greater-than(created,0001-01-01T00:00:00Z),"
                                                    "less-than(updated,9999-12-31T23:59:59.999999Z)")
    assert len(ids(r)) == 4
    r = get(client, world, "/api/profiles", filter="less-or-equal(created,0001-01-01T00:00:00+14:00)")
    assert ids(r) == []
    r = get(client, world, "/api/events", filter="greater-than(datetime,9999-12-31T23:59:59Z)")
    assert ids(r) == []
