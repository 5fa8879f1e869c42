"""The hardened edge: NUL in ids and filter values, Allow on 405, HEAD never writes."""

from __future__ import annotations

import base64
import json
import re
from uuid import uuid4

import pytest
from starlette.routing import Route

from tests.modern import error, server_headers
from tests.servers import row_counts

_PARAM = re.compile(r"{(\w+)}")


def _templated_routes(server) -> list[tuple[str, str, str]]:
    """(method, path with %00 for its parameter, parameter name) for every route with a path parameter."""
    out = []
    for route in server.app.router.routes:
        if not isinstance(route, Route) or not _PARAM.search(route.path):
            continue
        if not route.path.startswith(("/api/", "/client/")):  # others answer the same 400 as plain text
            continue
        names = _PARAM.findall(route.path)
        path = _PARAM.sub("ab%00cd", route.path)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                out.append((method, path, names[0]))
    assert len(out) > 20
    return out


def test_a_nul_in_any_path_id_is_a_400_naming_the_parameter(server, client, account, database_url):
    headers = server_headers(account.private_key, "application/json")
    before = row_counts(database_url, account.id)
    for method, path, name in _templated_routes(server):
        body = b'{"data":{"type":"profile","id":"x","attributes":{}}}' if method in ("POST", "PATCH", "DELETE") else None
        r = client.request(method, path, headers=headers, content=body)
        assert r.status_code == 400, (method, path, r.status_code, r.text)
        assert error(r)["source"] == {"parameter": name}, (method, path, r.text)
        assert "NUL" in error(r)["detail"]
    assert row_counts(database_url, account.id) == before
    assert client.get("/healthz").status_code == 200  # the same connection still answers
    for route in server.app.router.routes:
        if isinstance(route, Route) and _PARAM.search(route.path) and not route.path.startswith(("/api/", "/client/")):
            method = "GET" if "GET" in (route.methods or ()) else sorted(route.methods or ("GET",))[0]
            r = client.request(method, _PARAM.sub("ab%00cd", route.path))
            assert r.status_code == 400 and "NUL" in r.text, (route.path, r.status_code)


@pytest.mark.parametrize("path", [
    "/api/profiles", "/api/events", "/api/metrics", "/api/segments/{segment}/profiles", "/api/lists/{list}/profiles",
])
def test_a_nul_in_a_filter_value_is_a_400_naming_filter(server, client, account, path):
    headers = server_headers(account.private_key, "application/json")
    ids = {}
    for kind in ("segment", "list"):
        body = {"data": {"type": kind, "attributes": {"name": f"a {kind}"}}}
        if kind == "segment":
            body["data"]["attributes"]["definition"] = {"condition_groups": [{"conditions": [{
                "type": "profile-property", "property": "email", "filter": {"type": "existence", "operator": "is-set"}}]}]}
        made = client.post(f"/api/{kind}s", headers=headers, json=body)
        assert made.status_code == 201, made.text
        ids[kind] = made.json()["data"]["id"]
    url = path.format(**ids)
    for value in ('equals(email,"%00")', 'equals(email,"a%00b")', "any(email,[\"x\",\"%00\"])"):
        r = client.get(f"{url}?filter={value}", headers=headers)
        assert r.status_code == 400, (url, value, r.text)
        assert error(r)["source"] == {"parameter": "filter"}
    r = client.get(f"{url}?page%5Bcursor%5D=%00", headers=headers)
    assert r.status_code == 400 and error(r)["source"] == {"parameter": "page[cursor]"}, r.text


def test_a_nul_in_company_id_is_a_400(client):
    r = client.post("/client/events?company_id=AB%00CD", headers={"revision": "2026-07-15"}, json={})
    assert r.status_code == 400 and error(r)["source"] == {"parameter": "company_id"}


@pytest.mark.parametrize("path, expected", [
    ("/api/profiles", {"GET", "HEAD", "POST"}),
    ("/api/profiles/01ABC", {"GET", "HEAD", "PATCH"}),
    ("/api/lists/Ab12Cd", {"GET", "HEAD", "PATCH", "DELETE"}),
    ("/api/lists/Ab12Cd/relationships/profiles", {"POST", "DELETE"}),
    ("/api/segments", {"GET", "HEAD", "POST"}),
    ("/api/events", {"GET", "HEAD", "POST"}),
])
def test_a_405_allows_every_method_the_path_serves(client, account, path, expected):
    r = client.request("PUT", path, headers=server_headers(account.private_key))
    assert r.status_code == 405
    assert set(r.headers["allow"].replace(" ", "").split(",")) >= expected, r.headers["allow"]
    for method in expected - {"HEAD"}:
        answered = client.request(method, path, headers=server_headers(account.private_key), content=b"{}")
        assert answered.status_code != 405, (method, path)


def test_options_on_a_server_route_names_get_and_post(client, account):
    r = client.options("/api/profiles", headers=server_headers(account.private_key))
    assert r.status_code == 405
    assert {"GET", "POST"} <= set(r.headers["allow"].replace(" ", "").split(","))


def _data(payload: dict) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize("route", ["track", "identify"])
def test_head_never_writes(client, account, stored, route):
    payload = {"token": account.public_key, "event": "Viewed Page",
               "customer_properties": {"$email": "head@example.com"}, "properties": {"$email": "head@example.com"}}
    for extra in ("", "&i=1", "&verbose=1"):
        r = client.head(f"/api/{route}?data={_data(payload)}{extra}")
        assert r.status_code == 200, r.text
    assert stored.events() == [] and stored.profiles() == []
    # the same request as a GET does write, so the HEAD above was the real thing
    assert client.get(f"/api/{route}?data={_data(payload)}").text == "1"
    assert stored.profiles()


def test_unknown_keys_are_counted_per_address_and_valid_traffic_goes_on(database_url):
    """Five unknown keys from one address, then 429 for any key it has not shown valid; the valid
    sender on that address, and other addresses, are answered as before."""
    import httpx

    from tests.servers import ServerThread, new_account, server_settings

    known = new_account(database_url, f"guard-{uuid4().hex[:8]}")
    unseen = new_account(database_url, f"guard-unseen-{uuid4().hex[:8]}")
    srv = ServerThread(server_settings(database_url=database_url, unknown_key_budget=5,
                                       unknown_key_window_seconds=60)).start()

    def track(c, token):
        return c.get(f"/api/track?data={_data({'token': token, 'event': 'E', 'customer_properties': {'$email': 'g@example.com'}})}")

    try:
        with httpx.Client(base_url=srv.url, timeout=30) as guesser, \
                httpx.Client(base_url=srv.url, timeout=30,
                             transport=httpx.HTTPTransport(local_address="127.0.0.2")) as elsewhere:
            assert track(guesser, known.public_key).text == "1"  # this address's valid keys, seen once
            assert guesser.get("/api/profiles", headers=server_headers(known.private_key)).status_code == 200
            for i in range(5):
                assert track(guesser, f"ZZZZ{i:02d}").status_code == 200
            blocked = track(guesser, "ZZZZ99")
            assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
            # a correct guess while blocked cannot be told from a wrong one
            assert track(guesser, unseen.public_key).status_code == 429
            r = guesser.get("/api/profiles", headers=server_headers("pk_guessed0000000000"))
            assert r.status_code == 429 and error(r)["code"] == "throttled"
            r = guesser.post("/client/events?company_id=QQQQQQ", headers={"revision": "2026-07-15"}, json={})
            assert r.status_code == 429
            # valid traffic is not slowed: the key this address used before, and other addresses
            for _ in range(20):
                assert track(guesser, known.public_key).text == "1"
            assert guesser.get("/api/profiles", headers=server_headers(known.private_key)).status_code == 200
            assert track(elsewhere, unseen.public_key).text == "1"
            assert track(elsewhere, "ZZZZ00").text == "0"
    finally:
        srv.stop()
