"""The server side of onsite tracking: the script's routes, the requests Klaviyo's onsite script sends
(CORS preflights, X-Klaviyo-* headers, meta.exchange_id), exchange ids on every ingest path, the
private-key exchange-id route, `$use_ip` with and without a trusted proxy, `__track_once__`."""

from __future__ import annotations

import base64
import gzip
import json
import re

import httpx
import pytest

from footfall.domain import scopes
from footfall.store import accounts, db
from tests.modern import client_headers, error, event_body, profile_data, server_headers
from tests.servers import ServerThread, server_settings

EXCHANGE_ID = re.compile(r"^([\w\-=]+)\.(\w+)$")
# What Klaviyo's onsite script sends with every request (reference: the onsite section, requests table).
ONSITE_HEADERS = {"Content-Type": "application/json", "accept": "application/json", "X-Klaviyo-Onsite": "1",
                  "X-Klaviyo-Js-Url": "/products/a|?x=1"}
PREFLIGHT_HEADERS = "content-type, accept, revision, x-klaviyo-onsite, x-klaviyo-js-url"


def onsite_identify(client, account, **attributes):
    return client.post("/client/profiles/", params={"company_id": account.public_key},
                       json=profile_data(**attributes), headers={**ONSITE_HEADERS, "revision": "2024-10-15"})


def onsite_track(client, account, metric, profile, properties=None, **attributes):
    return client.post("/client/events/", params={"company_id": account.public_key},
                       json=event_body(metric, profile, properties, **attributes),
                       headers={**ONSITE_HEADERS, "revision": "2026-07-15"})


def legacy_track(client, payload, **headers):
    data = base64.b64encode(json.dumps(payload).encode()).decode()
    return client.get("/api/track", params={"data": data}, headers=headers)


def exchange_ids(stored) -> dict[str, list[str]]:
    """profile id -> its exchange ids (the export leaves identifiers beyond the first of each kind out)."""
    conn = db.connect(stored.database_url)
    try:
        rows = conn.all("SELECT profile_id, value FROM profile_identifiers WHERE account_id = ? AND kind = ?"
                        " ORDER BY value", (stored.account.id, "exchange_id"))
    finally:
        conn.close()
    out: dict[str, list[str]] = {}
    for profile_id, value in rows:
        out.setdefault(profile_id, []).append(value)
    return out


# -- the script -----------------------------------------------------------------------------------------

def test_the_script_is_served_at_both_paths_with_the_key(client, account):
    by_path = client.get(f"/onsite/js/{account.public_key}/klaviyo.js")
    by_query = client.get("/onsite/js/klaviyo.js", params={"company_id": account.public_key})
    for r in (by_path, by_query):
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/javascript; charset=utf-8"
        assert r.headers["cache-control"] == "public, max-age=300"
        assert f'(window, document, "{account.public_key}");' in r.text
        assert "__FOOTFALL_KEY__" not in r.text
    assert by_path.text == by_query.text
    # without a key the page names its account (_learnq.push(['account', KEY]))
    assert "(window, document, null);" in client.get("/onsite/js/klaviyo.js").text


def test_the_script_is_at_most_8_kb_gzipped_and_served_gzipped(client, account):
    r = client.get(f"/onsite/js/{account.public_key}/klaviyo.js", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    size = int(r.headers["content-length"])
    assert size <= 8192, f"klaviyo.js is {size} bytes gzipped, over 8 KB"
    assert len(gzip.compress(r.content, 9)) <= 8192  # and a proxy re-compressing it would not exceed it either
    assert len(r.content) > 2 * size  # really compressed


def test_the_script_revalidates_with_its_etag(client, account):
    first = client.get(f"/onsite/js/{account.public_key}/klaviyo.js")
    again = client.get(f"/onsite/js/{account.public_key}/klaviyo.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    other = client.get("/onsite/js/OTHER1/klaviyo.js")
    assert other.headers["etag"] != first.headers["etag"]  # the key is part of the body


@pytest.mark.parametrize("path", ["/onsite/js/not-a-key/klaviyo.js", "/onsite/js/ABCDEFGHIJKLMNOPQ/klaviyo.js",
                                  "/onsite/js/%00/klaviyo.js", "/onsite/js/klaviyo.js?company_id=%22);alert(1)//",
                                  "/onsite/js/%C3%A9/klaviyo.js"])
def test_hostile_keys_get_404_and_are_never_echoed_into_script(client, path):
    r = client.get(path)
    # A NUL is refused before routing (api/edge.py): 400 naming the parameter; anything else is a 404.
    assert r.status_code == (400 if "%00" in path else 404) and r.headers["content-type"].startswith("text/plain")


def test_head_of_the_script(client, account):
    r = client.head(f"/onsite/js/{account.public_key}/klaviyo.js")
    assert r.status_code == 200 and r.content == b""


# -- the requests Klaviyo's onsite script sends ------------------------------------------------------------

@pytest.mark.parametrize("path", ["/client/events/", "/client/profiles/"])
def test_preflights_allow_the_onsite_headers(client, account, path):
    r = client.options(path, params={"company_id": account.public_key}, headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": PREFLIGHT_HEADERS})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] in ("*", "https://shop.example")
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert set(PREFLIGHT_HEADERS.split(", ")) <= allowed
    assert "POST" in r.headers["access-control-allow-methods"]


def test_onsite_identify_answers_a_minted_exchange_id_the_profile_keeps(client, account, stored):
    r = onsite_identify(client, account, email="kx@example.com", properties={"$referrer": {"ts": 1, "value": ""}})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    meta = r.json()["meta"]
    assert meta["should_clear_cookie"] is False
    match = EXCHANGE_ID.match(meta["exchange_id"])
    assert match and match.group(2) == account.public_key and len(match.group(1)) >= 24
    # the same profile answers the same exchange id; another profile gets another
    assert onsite_identify(client, account, email="kx@example.com").json()["meta"] == meta
    other = onsite_identify(client, account, email="other@example.com").json()["meta"]["exchange_id"]
    assert other != meta["exchange_id"]
    profiles = {p["email"]: p for p in stored.profiles()}
    assert exchange_ids(stored)[profiles["kx@example.com"]["id"]] == [meta["exchange_id"]]
    assert profiles["kx@example.com"]["properties"] == {"$referrer": {"ts": 1, "value": ""}}


def test_without_the_onsite_header_client_profiles_stays_202_empty(client, account, stored):
    r = client.post("/client/profiles/", params={"company_id": account.public_key},
                    json=profile_data(email="plain@example.com"), headers=client_headers())
    assert r.status_code == 202 and r.content == b""
    assert len(stored.profiles()) == 1 and exchange_ids(stored) == {}  # nothing minted that nobody asked for


def test_the_exchange_id_resolves_on_every_ingest_path(client, account, stored):
    kx = onsite_identify(client, account, email="every@example.com").json()["meta"]["exchange_id"]
    assert onsite_track(client, account, "Viewed Product", {"_kx": kx}, {"sku": "1"}).status_code == 202
    # as Klaviyo's script keeps it: properties.$exchange_id, not a custom property
    assert onsite_track(client, account, "Added to Cart", {"properties": {"$exchange_id": kx}}).status_code == 202
    assert legacy_track(client, {"token": account.public_key, "event": "Legacy kx",
                                 "customer_properties": {"$exchange_id": kx}}).text == "1"
    assert legacy_track(client, {"token": account.public_key, "event": "Legacy _kx",
                                 "customer_properties": {"_kx": kx}}).text == "1"
    r = client.post("/api/identify", data={"data": json.dumps({"token": account.public_key,
                                                               "properties": {"_kx": kx, "plan": "gold"}})})
    assert r.text == "1"
    [profile] = stored.profiles()
    assert profile["email"] == "every@example.com" and profile["properties"] == {"plan": "gold"}
    assert sorted(e["metric"] for e in stored.events()) == ["Added to Cart", "Legacy _kx", "Legacy kx",
                                                            "Viewed Product"]
    assert {e["profile_id"] for e in stored.events()} == {profile["id"]}


def test_an_anonymous_exchange_id_profile_merges_into_the_identified_one(client, account, stored):
    """A visitor tracked by an exchange id only, who then identifies with an email: one profile."""
    kx = onsite_identify(client, account, email="merge@example.com").json()["meta"]["exchange_id"]
    onsite_track(client, account, "Viewed Product", {"_kx": "foreign-token." + account.public_key})
    onsite_identify(client, account, email="merge@example.com", _kx="foreign-token." + account.public_key)
    [profile] = stored.profiles()
    assert profile["email"] == "merge@example.com" and len(stored.events()) == 1
    assert onsite_identify(client, account, _kx=kx).json()["meta"]["exchange_id"] == kx


def test_activity_is_stored_as_active_on_site_on_every_path(client, account, stored):
    onsite_track(client, account, "__activity__", {"email": "act@example.com"}, {"page": "https://shop/"})
    legacy_track(client, {"token": account.public_key, "event": "__activity__", "time": 1_700_000_000,
                          "customer_properties": {"$email": "act@example.com"}, "properties": {"page": "/b"}})
    assert [e["metric"] for e in stored.events()] == ["Active on Site", "Active on Site"]


def test_track_once_stores_only_the_first_event_per_profile_and_metric(client, account, stored):
    for n in range(3):
        r = onsite_track(client, account, "Started Checkout", {"email": "once@example.com"},
                         {"__track_once__": True, "n": n}, time=f"2026-01-0{n + 1}T00:00:00Z")
        assert r.status_code == 202
    onsite_track(client, account, "Started Checkout", {"email": "twice@example.com"}, {"__track_once__": True})
    onsite_track(client, account, "Viewed Product", {"email": "once@example.com"}, {"__track_once__": True})
    events = stored.events()
    assert sorted((e["metric"], e["properties"].get("n", -1)) for e in events) == [
        ("Started Checkout", -1), ("Started Checkout", 0), ("Viewed Product", -1)]


# -- $use_ip ------------------------------------------------------------------------------------------------

def test_use_ip_puts_the_peer_address_in_the_location_and_ignores_x_forwarded_for(client, account, stored):
    onsite_track(client, account, "Viewed Product", {"email": "ip@example.com"}, {"$use_ip": True})
    legacy_track(client, {"token": account.public_key, "event": "Legacy", "properties": {"$use_ip": True},
                          "customer_properties": {"$email": "ip2@example.com"}}, **{"X-Forwarded-For": "203.0.113.9"})
    r = client.post("/client/events/", params={"company_id": account.public_key}, headers={
        **ONSITE_HEADERS, "revision": "2026-07-15", "X-Forwarded-For": "203.0.113.9"},
        json=event_body("Viewed Product", {"email": "ip3@example.com"}, {"$use_ip": True}))
    assert r.status_code == 202
    onsite_track(client, account, "Viewed Product", {"email": "noip@example.com"}, {"$use_ip": False})
    located = {p["email"]: p["location"].get("ip") for p in stored.profiles()}
    # nobody is a trusted proxy by default: the header is ignored, the peer (this test) is the client
    assert located == {"ip@example.com": "127.0.0.1", "ip2@example.com": "127.0.0.1",
                       "ip3@example.com": "127.0.0.1", "noip@example.com": None}


@pytest.fixture(scope="module")
def proxied_server(tmp_path_factory):
    """A server that trusts 127.0.0.0/8 as its proxy (SQLite: the address logic has no SQL)."""
    from tests.conftest import make_sqlite_database
    url = make_sqlite_database(tmp_path_factory.mktemp("proxied"))
    srv = ServerThread(server_settings(database_url=url, trusted_proxies=("127.0.0.0/8",))).start()
    yield srv, url
    srv.stop()


def test_use_ip_trusts_x_forwarded_for_from_a_configured_proxy(proxied_server):
    from tests.conftest import Stored
    from tests.servers import new_account
    srv, url = proxied_server
    account = new_account(url, "proxied")
    with httpx.Client(base_url=srv.url) as client:
        r = client.post("/client/events/", params={"company_id": account.public_key}, headers={
            **ONSITE_HEADERS, "revision": "2026-07-15", "X-Forwarded-For": "198.51.100.7, 203.0.113.9, 127.0.0.1"},
            json=event_body("Viewed Product", {"email": "fwd@example.com"}, {"$use_ip": True}))
        assert r.status_code == 202
        # an explicit location.ip from the request is kept
        onsite_track(client, account, "Viewed Product",
                     {"email": "own@example.com", "location": {"ip": "192.0.2.1"}}, {"$use_ip": True})
    located = {p["email"]: p["location"].get("ip") for p in Stored(url, account).profiles()}
    # the right-most address that is not a trusted proxy is the client
    assert located == {"fwd@example.com": "203.0.113.9", "own@example.com": "192.0.2.1"}


def test_trusted_proxies_setting_from_the_environment():
    from footfall import config
    assert config.from_env({}).trusted_proxies == ()
    assert config.from_env({"FOOTFALL_TRUSTED_PROXIES": " 10.0.0.1, 192.168.0.0/16 ,"}).trusted_proxies == (
        "10.0.0.1", "192.168.0.0/16")


# -- the server-side exchange id (for links in emails) -------------------------------------------------------

def exchange_id_of(client, key, profile_id):
    return client.post(f"/api/profiles/{profile_id}/exchange-id", headers=server_headers(key))


def test_a_private_key_gets_a_profile_exchange_id_once_minted(client, account, stored):
    r = client.post("/api/profiles", headers=server_headers(account.private_key),
                    json=profile_data(email="mail@example.com"))
    profile_id = r.json()["data"]["id"]
    first = exchange_id_of(client, account.private_key, profile_id)
    assert first.status_code == 200, first.text
    doc = first.json()["data"]
    kx = doc["id"]
    assert doc["type"] == "profile-exchange-id" and doc["attributes"] == {"exchange_id": kx}
    assert doc["relationships"]["profile"]["data"] == {"type": "profile", "id": profile_id}
    assert EXCHANGE_ID.match(kx).group(2) == account.public_key
    assert exchange_id_of(client, account.private_key, profile_id).json()["data"]["id"] == kx
    assert client.post(f"/api/profiles/{profile_id}/exchange-id/",
                       headers=server_headers(account.private_key)).json()["data"]["id"] == kx
    # the onsite script identifying that profile gets the same one
    assert onsite_identify(client, account, email="mail@example.com").json()["meta"]["exchange_id"] == kx
    [profile] = stored.profiles()
    assert exchange_ids(stored) == {profile["id"]: [kx]} and stored.events() == []


def test_exchange_id_route_refuses_other_accounts_and_weak_keys(client, account, database_url):
    from tests.servers import new_account
    mine = client.post("/api/profiles", headers=server_headers(account.private_key),
                       json=profile_data(email="iso@example.com")).json()["data"]["id"]
    other = new_account(database_url, f"other-{account.id}")
    r = exchange_id_of(client, other.private_key, mine)
    assert r.status_code == 404 and error(r)["code"] == "not_found"
    conn = db.connect(database_url)
    try:
        read_only = accounts.create_key(conn, account.id, "ro", scopes.READ_ONLY)
    finally:
        conn.close()
    assert exchange_id_of(client, read_only, mine).status_code == 403
    assert exchange_id_of(client, account.public_key, mine).status_code == 401
    no_key = client.post(f"/api/profiles/{mine}/exchange-id", headers={"revision": "2026-07-15"})
    assert no_key.status_code == 401
    for hostile in ("nope", "%00", "x" * 600, "%E2%80%AE"):
        r = exchange_id_of(client, account.private_key, hostile)
        assert r.status_code == (400 if hostile == "%00" else 404), (hostile, r.text)
    assert exchange_id_of(client, other.private_key, mine).status_code == 404


def test_onsite_profiles_bad_input_is_a_400_and_stores_nothing(client, account, stored):
    bodies = [{"data": {"type": "profile", "attributes": {"email": "not-an-email"}}},
              {"data": {"type": "profile", "attributes": {"properties": {"$exchange_id": ["x"]}}}},
              {"data": {"type": "profile", "attributes": {}}}, {"data": []}, [], "x"]
    for body in bodies:
        r = client.post("/client/profiles/", params={"company_id": account.public_key}, json=body,
                        headers={**ONSITE_HEADERS, "revision": "2024-10-15"})
        assert r.status_code == 400, (body, r.text)
    r = client.post("/client/profiles/", params={"company_id": "NOPE00"}, json=profile_data(email="a@b.co"),
                    headers={**ONSITE_HEADERS, "revision": "2024-10-15"})
    assert r.status_code == 400
    assert stored.profiles() == []
