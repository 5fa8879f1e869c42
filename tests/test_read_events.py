"""GET /api/events and friends, through real HTTP on both backends."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from footfall.store import accounts, db
from tests.read_world import HOUR, T0, World, headers, iso, world  # noqa: F401  (fixture)


def get(client, world: World, path: str, **params):
    return client.get(path, params=params, headers=world.auth)


def ids(body: dict) -> list[str]:
    return [item["id"] for item in body["data"]]


def all_pages(client, world: World, path: str, **params) -> tuple[list[str], int]:
    """Every id by following links.next; the whole next URL is sent back as page[cursor]."""
    r = get(client, world, path, **params)
    assert r.status_code == 200, r.text
    seen, pages = ids(r.json()), 1
    while r.json()["links"].get("next"):
        r = get(client, world, path, **{**params, "page[cursor]": r.json()["links"]["next"]})
        assert r.status_code == 200, r.text
        seen += ids(r.json())
        pages += 1
    return seen, pages


def newest_first(events: list[dict]) -> list[str]:
    return [e["id"] for e in sorted(events, key=lambda e: (e["time"], e["id"]), reverse=True)]


def test_list_renders_events_newest_first(client, world):
    r = get(client, world, "/api/events")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.api+json"
    body = r.json()
    assert ids(body) == newest_first(world.events)
    assert body["links"]["self"] == f"{client.base_url}/api/events"
    assert "next" not in body["links"] and "prev" not in body["links"]
    first = next(item for item in body["data"] if item["id"] == world.events[5]["id"])
    assert first["type"] == "event"
    assert first["attributes"] == {
        "timestamp": T0 + 5 * HOUR, "datetime": iso(T0 + 5 * HOUR).replace("Z", "+00:00"),
        "uuid": world.events[5]["id"], "event_properties": {"$value": 5, "$event_id": "e5", "n": 5},
    }
    assert first["relationships"]["metric"]["data"] == {"type": "metric", "id": world.events[5]["metric_id"]}
    assert first["relationships"]["profile"]["data"] == {"type": "profile", "id": world.events[5]["profile_id"]}
    assert first["links"]["self"] == f"{client.base_url}/api/events/{first['id']}/"


@pytest.mark.parametrize("sort", ["datetime", "-datetime", "timestamp", "-timestamp"])
def test_sort_orders(client, world, sort):
    r = get(client, world, "/api/events", sort=sort)
    expected = newest_first(world.events)
    assert ids(r.json()) == (expected if sort.startswith("-") else expected[::-1])


def test_filter_metric_id_and_profile_id(client, world):
    ordered = world.metric_ids["Ordered Product"]
    r = get(client, world, "/api/events", filter=f'equals(metric_id,"{ordered}")')
    assert set(ids(r.json())) == {e["id"] for e in world.events_where(lambda e: e["metric_id"] == ordered)}
    bob = world.profiles["bob@example.com"]
    r = get(client, world, "/api/events", filter=f"equals(profile_id,'{bob}'),equals(metric_id,'{ordered}')")
    expected = {e["id"] for e in world.events_where(lambda e: e["profile_id"] == bob and e["metric_id"] == ordered)}
    assert expected and set(ids(r.json())) == expected


def test_profile_id_filter_follows_a_merge(client, world):
    r = get(client, world, "/api/events", filter=f'equals(profile_id,"{world.merged_away}")')
    [event] = r.json()["data"]
    assert event["attributes"]["event_properties"] == {"n": 100}
    assert event["relationships"]["profile"]["data"]["id"] == world.dee


@pytest.mark.parametrize("op,pred", [
    ("greater-than", lambda t, b: t > b),
    ("greater-or-equal", lambda t, b: t >= b),
    ("less-than", lambda t, b: t < b),
    ("less-or-equal", lambda t, b: t <= b),
])
def test_datetime_and_timestamp_comparisons(client, world, op, pred):
    bound = T0 + 10 * HOUR
    expected = {e["id"] for e in world.events_where(lambda e: pred(e["time"], bound))}
    assert 0 < len(expected) < len(world.events)
    r = get(client, world, "/api/events", filter=f"{op}(datetime,{iso(bound)})")
    assert set(ids(r.json())) == expected
    r = get(client, world, "/api/events", filter=f"{op}(timestamp,{bound})")
    assert set(ids(r.json())) == expected
    # the same instant with an offset (an unencoded '+' arrives as a space and is still understood)
    r = client.get(f"/api/events?filter={op}(datetime,2023-11-15T10:13:20+02:00)", headers=world.auth)
    assert set(ids(r.json())) == expected


def test_two_bounds_and_has(client, world):
    lo, hi = T0 + 3 * HOUR, T0 + 7 * HOUR
    expected = {e["id"] for e in world.events_where(lambda e: lo <= e["time"] < hi)}
    flt = f"and(greater-or-equal(datetime,{iso(lo)}),less-than(datetime,{iso(hi)})),has(profile),has(metric)"
    r = get(client, world, "/api/events", filter=flt)
    assert set(ids(r.json())) == expected and len(expected) == 4


@pytest.mark.parametrize("flt,part", [
    ('contains(metric_id,"x")', "operator 'contains' is not allowed on field 'metric_id' (allowed: equals)"),
    ('equals(email,"a@b.co")', "field 'email' cannot be filtered on"),
    ('greater-than(datetime,"2023-01-01T00:00:00Z")', "datetimes go unquoted"),
    ("greater-than(timestamp,2023-01-01T00:00:00Z)", "needs a number"),
    ('equals(metric_id,"x"))', "unexpected ')' at position 22"),
    ("equals(metric_id,", "expected a value but found end of filter at position 18"),
    ('or(equals(metric_id,"a"),equals(metric_id,"b"))', "'or' is not supported"),
    ('any(metric_id,["a"])', "operator 'any' is not allowed"),
])
def test_bad_filters_are_400_naming_the_part(client, world, flt, part):
    r = get(client, world, "/api/events", filter=flt)
    assert r.status_code == 400, r.text
    [error] = r.json()["errors"]
    assert error["source"] == {"parameter": "filter"} and error["code"] == "invalid"
    assert part in error["detail"]


@pytest.mark.parametrize("size", [1, 7, 25])
def test_paging_by_following_next_covers_every_event_once(client, world, size):
    seen, pages = all_pages(client, world, "/api/events", **{"page[size]": size, "sort": "timestamp"})
    assert seen == newest_first(world.events)[::-1]
    assert pages == -(-len(world.events) // size)


def test_links_keep_the_query_and_prev_goes_back(client, world):
    params = {"page[size]": 10, "filter": f"greater-or-equal(timestamp,{T0})", "sort": "-datetime"}
    first = get(client, world, "/api/events", **params).json()
    nxt = first["links"]["next"]
    assert nxt.startswith(f"{client.base_url}/api/events?")
    query = parse_qs(urlsplit(nxt).query)
    assert query["filter"] == [params["filter"]] and query["page[size]"] == ["10"]
    # the cursor alone works as well as the whole URL
    second = get(client, world, "/api/events", **{**params, "page[cursor]": query["page[cursor]"][0]}).json()
    assert second["links"]["self"] != first["links"]["self"]
    back = get(client, world, "/api/events", **{**params, "page[cursor]": second["links"]["prev"]}).json()
    assert ids(back) == ids(first)
    assert "prev" not in first["links"]


def test_paging_is_stable_under_inserts(client, world, account):
    from tests.read_world import track
    auth = headers(account.private_key)
    for i in range(6):
        track(client, account.public_key, "Clicked", {"$email": "x@example.com"}, {}, T0 + i)
    r = client.get("/api/events", params={"page[size]": 3, "sort": "datetime"}, headers=auth)
    seen = ids(r.json())
    track(client, account.public_key, "Clicked", {"$email": "x@example.com"}, {}, T0 - 50)  # before the page
    track(client, account.public_key, "Clicked", {"$email": "x@example.com"}, {}, T0 + 50)  # after it
    r = client.get("/api/events", params={"page[size]": 3, "sort": "datetime", "page[cursor]": r.json()["links"]["next"]},
                   headers=auth)
    seen += ids(r.json())
    r = client.get("/api/events", params={"page[size]": 3, "sort": "datetime", "page[cursor]": r.json()["links"]["next"]},
                   headers=auth)
    seen += ids(r.json())
    assert len(seen) == len(set(seen)) == 7  # the early insert is behind us; the late one is reached


def test_bad_page_parameters(client, world):
    for size in ("0", "1001", "x"):
        r = get(client, world, "/api/events", **{"page[size]": size})
        assert r.status_code == 400 and r.json()["errors"][0]["source"] == {"parameter": "page[size]"}
    r = get(client, world, "/api/events", **{"page[cursor]": "not-a-cursor!"})
    assert r.status_code == 400 and r.json()["errors"][0]["source"] == {"parameter": "page[cursor]"}
    nxt = get(client, world, "/api/events", **{"page[size]": 2}).json()["links"]["next"]
    r = get(client, world, "/api/events", **{"page[cursor]": nxt, "sort": "timestamp"})
    assert r.status_code == 400 and "sort" in r.json()["errors"][0]["detail"]
    r = get(client, world, "/api/events", sort="value")
    assert r.status_code == 400 and r.json()["errors"][0]["source"] == {"parameter": "sort"}
    assert get(client, world, "/api/events", **{"page[size]": 1000}).status_code == 200


def test_sparse_fieldsets_and_include(client, world):
    r = get(client, world, "/api/events", **{
        "filter": f"equals(timestamp,{T0})".replace("equals", "less-or-equal"),
        "fields[event]": "timestamp,event_properties", "fields[metric]": "name",
        "fields[profile]": "email,location.city", "include": "metric,profile",
    })
    assert r.status_code == 200, r.text
    body = r.json()
    [event] = body["data"]
    assert event["attributes"] == {"timestamp": T0, "event_properties": {"$value": 0, "$event_id": "e0", "n": 0}}
    included = {(item["type"], item["id"]): item for item in body["included"]}
    metric = included[("metric", world.metric_ids["Viewed Product"])]
    assert metric["attributes"] == {"name": "Viewed Product"}
    profile = included[("profile", world.profiles["ann@example.com"])]
    assert profile["attributes"] == {"email": "ann@example.com", "location": {"city": "Boston"}}
    assert profile["links"]["self"].startswith(str(client.base_url))
    assert len(body["included"]) == 2


def test_include_on_a_page_has_each_related_resource_once(client, world):
    body = get(client, world, "/api/events", include="profile,metric").json()
    kinds = [(i["type"], i["id"]) for i in body["included"]]
    assert len(kinds) == len(set(kinds))
    assert {i for t, i in kinds if t == "metric"} == set(world.metric_ids.values())
    assert {i for t, i in kinds if t == "profile"} == {e["profile_id"] for e in world.events}


def test_bad_fields_and_include(client, world):
    r = get(client, world, "/api/events", **{"fields[event]": "timestamp,colour"})
    assert r.status_code == 400 and r.json()["errors"][0]["source"] == {"parameter": "fields[event]"}
    assert "'colour'" in r.json()["errors"][0]["detail"]
    r = get(client, world, "/api/events", include="lists")
    assert r.status_code == 400 and r.json()["errors"][0]["source"] == {"parameter": "include"}


def test_one_event_and_its_relations(client, world):
    event = world.events[4]
    r = get(client, world, f"/api/events/{event['id']}", include="metric")
    assert r.status_code == 200
    body = r.json()
    assert body["data"]["id"] == event["id"] and body["data"]["attributes"]["timestamp"] == event["time"]
    assert [i["id"] for i in body["included"]] == [event["metric_id"]]
    assert body["links"]["self"] == f"{client.base_url}/api/events/{event['id']}"
    r = get(client, world, f"/api/events/{event['id']}/metric/")
    assert r.json()["data"]["attributes"]["name"] == event["metric"]
    r = get(client, world, f"/api/events/{event['id']}/profile")
    assert r.json()["data"]["id"] == event["profile_id"]
    assert r.json()["data"]["attributes"]["email"] == "bob@example.com"
    r = get(client, world, f"/api/events/{event['id']}/relationships/metric")
    assert r.json()["data"] == {"type": "metric", "id": event["metric_id"]}
    r = get(client, world, f"/api/events/{event['id']}/relationships/profile/")
    assert r.json()["data"] == {"type": "profile", "id": event["profile_id"]}


@pytest.mark.parametrize("suffix", ["", "/metric", "/profile", "/relationships/metric", "/relationships/profile"])
def test_unknown_and_other_accounts_events_are_404(client, world, suffix):
    for eid in ("01NOTANEVENT0000000000000", world.other_event_id):
        r = get(client, world, f"/api/events/{eid}{suffix}")
        assert r.status_code == 404, r.text
        assert r.json()["errors"][0]["code"] == "not_found"


def test_other_accounts_events_never_listed(client, world):
    seen = ids(get(client, world, "/api/events", **{"page[size]": 1000}).json())
    assert world.other_event_id not in seen and len(seen) == len(world.events)
    r = get(client, world, "/api/events", filter=f'equals(profile_id,"{world.other_profile_id}")')
    assert r.json()["data"] == []


def test_scopes_and_revision(client, world, database_url):
    conn = db.connect(database_url)
    try:
        profiles_only = accounts.create_key(conn, world.account.id, "profiles only", ("profiles:read",))
        events_write = accounts.create_key(conn, world.account.id, "writer", ("events:write",))
    finally:
        conn.close()
    r = client.get("/api/events", headers=headers(profiles_only))
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "permission_denied"
    r = client.get(f"/api/events/{world.events[0]['id']}", headers=headers(profiles_only))
    assert r.status_code == 403
    assert client.get("/api/events", headers=headers(events_write)).status_code == 200  # write implies read
    assert client.get("/api/events", headers={"revision": "2026-07-15"}).status_code == 401
    assert client.get("/api/events", headers=headers("pk_" + "0" * 34)).status_code == 401
    r = client.get("/api/events", headers=headers(world.account.private_key, revision=None))
    assert r.status_code == 400 and r.json()["errors"][0]["source"] == {"parameter": "revision"}


# -- nothing a client sends makes a 500 ------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = st.sampled_from(["equals(", "greater-than(", "any(", "has(", "and(", "metric_id", "profile_id",
                           "datetime", "timestamp", ",", ")", "(", "[", "]", '"', "'", "\\u0000", "1e308", "-0",
                           "2023-01-01T00:00:00Z", "99999999999999999999", "\x00", "é", " "])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=st.one_of(st.text(max_size=40), st.lists(_PIECES, max_size=14).map("".join)),
       cursor=st.one_of(st.none(), st.text(max_size=30), st.binary(max_size=40).map(
           lambda b: __import__("base64").urlsafe_b64encode(b).decode())),
       size=st.one_of(st.none(), st.text(max_size=5)),
       path=st.sampled_from(["/api/events", "/api/profiles", "/api/metrics"]))
def test_random_parameters_never_fail_the_server(client, world, flt, cursor, size, path):
    params = {"filter": flt}
    if cursor is not None:
        params["page[cursor]"] = cursor
    if size is not None:
        params["page[size]"] = size
    r = client.get(path, params=params, headers=world.auth)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert r.json()["errors"][0]["source"]["parameter"] in ("filter", "page[cursor]", "page[size]")


@pytest.mark.parametrize("forged", [
    ["n", "-datetime", 1e300, "x"], ["n", "-datetime", 10**30, "x"], ["n", "-datetime", 1, "a\x00b"],
    ["p", "-datetime", "x", 1], ["q", "-datetime", 1, "x"], {"n": 1}, ["n", "-datetime", 1],
])
def test_forged_cursors_are_400(client, world, forged):
    from footfall.wire.jsonapi import encode_cursor
    cursor = encode_cursor(*forged) if isinstance(forged, list) else encode_cursor(forged)
    r = get(client, world, "/api/events", **{"page[cursor]": cursor})
    assert r.status_code == 400 and r.json()["errors"][0]["source"] == {"parameter": "page[cursor]"}


def test_odd_ids_are_404(client, world):
    """(A NUL is a 400 naming the parameter, before any route: tests/test_edge.py.)"""
    for eid in ("x" * 300, "%E2%82%AC"):
        assert get(client, world, f"/api/events/{eid}").status_code == 404
        assert get(client, world, f"/api/profiles/{eid}").status_code == 404
        assert get(client, world, f"/api/metrics/{eid}").status_code == 404


def test_fractional_bounds_compare_exactly(client, world):
    """Event times are whole seconds: a bound half a second past one is between it and the next."""
    t = world.events[3]["time"]
    for op, flt, included in [
        ("greater-than", f"greater-than(timestamp,{t - 0.5})", True),
        ("greater-or-equal", f"greater-or-equal(timestamp,{t + 0.5})", False),
        ("less-than", f"less-than(timestamp,{t + 0.5})", True),
        ("less-or-equal", f"less-or-equal(timestamp,{t - 0.5})", False),
        ("datetime", f"greater-than(datetime,{iso(t).replace('Z', '.5Z')})", False),
        ("datetime", f"less-than(datetime,{iso(t).replace('Z', '.5Z')})", True),
    ]:
        found = world.events[3]["id"] in ids(get(client, world, "/api/events", filter=flt, **{"page[size]": 1000}).json())
        assert found is included, (op, flt)
