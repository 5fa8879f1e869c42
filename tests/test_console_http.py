"""The console's routes over plain HTTP: sessions, CSRF, scopes, isolation and hostile input (never a 500)."""

from __future__ import annotations

import re
import time
from contextlib import closing

import httpx
import pytest

from tests.console_helpers import metric_id, private_headers, read_only_key, track
from tests.servers import new_account
from tests.sse import SseReader

PAGES = ["/", "/console/metrics", "/console/profiles", "/console/segments", "/console/lists",
         "/console/segments/new"]


def signed_in(server, key: str) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=server.url, timeout=30)
    r = c.post("/console/signin", data={"key": key})
    assert r.status_code == 303, r.text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/").text).group(1)
    return c, csrf


def test_every_page_needs_a_session(client):
    for path in PAGES + ["/console/metrics/abc", "/console/profiles/abc", "/console/segments/abc"]:
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/console/signin", path
    assert client.get("/console/feed", headers={"Accept": "application/json"}).status_code == 401
    assert client.get("/console/stream", headers={"Accept": "text/event-stream"}).status_code == 401
    assert client.post("/console/lists", data={"name": "x"}).status_code == 303
    with httpx.Client(base_url=str(client.base_url), cookies={"footfall_console": "01ABC.notasecret"}) as forged:
        assert forged.get("/").status_code == 303


def test_signin_refuses_non_keys_without_echoing_them(client, account):
    for key in ["", "pk_nope", "x" * 5000, "pk_\x00abc", account.public_key]:
        r = client.post("/console/signin", data={"key": key})
        assert r.status_code in (400, 401) and "footfall_console" not in r.headers.get("set-cookie", "")
        if key:
            assert key not in r.text
    assert client.post("/console/signin", content=b"key=" + b"a" * 300_000,
                       headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 413
    assert client.post("/console/signin", json={"key": account.private_key}).status_code == 415
    r = client.post("/console/signin", data={"key": account.private_key})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert account.private_key not in cookie


def test_pages_render_with_security_headers(server, account, client):
    track(client, account, "h@example.com", "Viewed")
    c, _ = signed_in(server, account.private_key)
    with closing(c):
        for path in PAGES + [f"/console/metrics/{metric_id(client, account, 'Viewed')}"]:
            r = c.get(path)
            assert r.status_code == 200, (path, r.text[:300])
            assert r.headers["x-frame-options"] == "DENY"
            assert "script-src 'self'" in r.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert "<script>" not in r.text and 'style="' not in r.text
        static = c.get("/console/static/vendor/uPlot.iife.min.js")
        assert static.status_code == 200 and "max-age=31536000" in static.headers["cache-control"]


def test_writes_need_the_csrf_token(server, account):
    c, csrf = signed_in(server, account.private_key)
    with closing(c):
        assert c.post("/console/lists", data={"name": "No token"}).status_code == 403
        assert c.post("/console/lists", data={"name": "Bad token", "csrf": "x" + csrf}).status_code == 403
        assert c.post("/console/signout", data={"csrf": ""}).status_code == 403
        assert c.post("/console/segments/count", json={"definition": {}}).status_code == 403
        assert c.get("/console/lists").text.count("No token") == 0
        assert c.post("/console/lists", data={"name": "Token", "csrf": csrf}).status_code == 303


def test_read_only_key_cannot_write(server, account, database_url):
    c, csrf = signed_in(server, read_only_key(database_url, account))
    with closing(c):
        assert c.post("/console/lists", data={"name": "Nope", "csrf": csrf}).status_code == 403
        assert c.post("/console/segments", data={"name": "Nope", "csrf": csrf,
                                                 "definition": '{"condition_groups": []}'}).status_code == 403
        assert c.get("/console/segments/new").status_code == 403
        assert c.get("/console/lists").text.count('name="csrf"') == 1  # only the sign-out form


def test_accounts_never_see_each_other(server, account, client, database_url):
    other = new_account(database_url, f"other-{account.name}")
    track(client, other, "secret@example.com", "Other Metric")
    other_metric = metric_id(client, other, "Other Metric")
    profile_id = client.get("/api/profiles", headers=private_headers(other.private_key)).json()["data"][0]["id"]
    c, csrf = signed_in(server, account.private_key)
    with closing(c):
        assert c.get(f"/console/metrics/{other_metric}").status_code == 404
        assert c.get(f"/console/profiles/{profile_id}").status_code == 404
        assert "0 results" in c.get("/console/profiles?q=secret@example.com").text
        assert "secret@example.com" not in c.get("/").text
        assert c.get("/console/feed", headers={"Accept": "application/json"}).json()["events"] == []
        r = c.post("/console/segments/count", headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
                   json={"definition": {"condition_groups": [{"conditions": [
                       {"type": "profile-metric", "metric_id": other_metric,
                        "measurement_filter": {"type": "numeric", "operator": "greater-than", "value": 0}}]}]}})
        assert r.status_code == 400 and "does not exist" in r.json()["errors"][0]["detail"]


@pytest.mark.parametrize("path", [
    "/console/metrics/x?interval=year", "/console/metrics/x?tz=Mars/Base", "/console/metrics/x?measure=max",
    "/console/metrics/x?by=%22", "/console/profiles?q=" + "a" * 600, "/console/profiles?q=%00",
    "/console/profiles/x?cursor=garbage", "/console/segments/x?after=nope", "/console/feed?after=%27%3B--",
    "/console/profiles?q=bad%22name%3Dx", "/console/metrics/" + "x" * 300, "/console/profiles/" + "x" * 300,
])
def test_hostile_parameters_are_refused_not_crashed(server, account, path):
    c, _ = signed_in(server, account.private_key)
    with closing(c):
        r = c.get(path)
        assert r.status_code in (200, 400, 404), (path, r.status_code, r.text[:300])


def test_hostile_definitions_get_inline_errors(server, account):
    c, csrf = signed_in(server, account.private_key)
    headers = {"X-CSRF-Token": csrf, "Accept": "application/json", "Content-Type": "application/json"}
    with closing(c):
        for body in [b"", b"[", b"null", b'{"definition": 3}', b'{"definition": {"condition_groups": "x"}}',
                     b'{"definition": {"condition_groups": [{"conditions": [{"type": "nope"}]}]}}',
                     b'{"definition": {"x": "\\u0000"}}', b"[" * 100_000, b'{"definition": ' + b"[" * 5000 + b"]" * 5000 + b"}"]:
            r = c.post("/console/segments/count", content=body, headers=headers)
            assert r.status_code == 400, (body[:40], r.status_code, r.text[:200])
            assert r.json()["errors"][0]["detail"]
        big = b'{"definition": "' + b"a" * 300_000 + b'"}'
        assert c.post("/console/segments/count", content=big, headers=headers).status_code == 400
        r = c.post("/console/segments", data={"csrf": csrf, "name": "Bad", "definition": "{not json"})
        assert r.status_code == 400 and "not JSON" in r.text
        r = c.post("/console/segments", data={"csrf": csrf, "name": "Bad", "definition":
                   '{"condition_groups": [{"conditions": [{"type": "profile-metric", "metric_id": "nope1"}]}]}'})
        assert r.status_code == 400 and "condition_groups/0/conditions/0" in r.text
        assert "Bad" not in c.get("/console/segments").text


def test_pages_need_the_scope_the_api_needs(server, account, database_url):
    from footfall.store import accounts as account_store, db

    conn = db.connect(database_url)
    try:
        key = account_store.create_key(conn, account.id, "profiles only", ("profiles:read",))
    finally:
        conn.close()
    c, _ = signed_in_anywhere(server, key)
    with closing(c):
        assert c.get("/console/profiles").status_code == 200
        for path in ["/", "/console/metrics", "/console/segments", "/console/lists", "/console/keys"]:
            assert c.get(path).status_code == 403, path


def signed_in_anywhere(server, key: str) -> tuple[httpx.Client, None]:
    """Signed in, without reading the overview (the key may not read events)."""
    c = httpx.Client(base_url=server.url, timeout=30)
    assert c.post("/console/signin", data={"key": key}).status_code == 303
    return c, None


def test_the_live_stream_carries_only_this_accounts_events(server, account, client, database_url):
    other = new_account(database_url, f"other-{account.name}")
    c, _ = signed_in(server, account.private_key)
    with closing(c):
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
        with SseReader(f"{server.url}/console/stream", {"Cookie": cookie, "Accept": "text/event-stream"}) as sse:
            assert sse.status == 200
            track(client, other, "theirs@example.com", "Other Metric")
            track(client, account, "mine@example.com", "Mine")
            deadline = time.monotonic() + 5
            while not sse.events and time.monotonic() < deadline:
                time.sleep(0.02)
    assert [e.data["topic"] for e in sse.events] == ["event:mine"]
    assert all(e.event == "message" for e in sse.events)  # unnamed: a browser's onmessage gets each one


def test_the_accounts_time_zone_sets_where_today_begins_and_the_charts_zone(server, account, client, database_url):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from footfall.store import accounts, db

    zone = "Pacific/Kiritimati"  # UTC+14: its midnight is never UTC's
    conn = db.connect(database_url)
    try:
        accounts.set_timezone(conn, account.id, zone)
    finally:
        conn.close()
    local_today = datetime.now(ZoneInfo(zone)).date()
    midnight = int(datetime(local_today.year, local_today.month, local_today.day, tzinfo=ZoneInfo(zone)).timestamp())
    track(client, account, "late@example.com", "Zoned", when=midnight - 60)  # yesterday, there
    track(client, account, "early@example.com", "Zoned", when=midnight + 60)  # today, there
    c, _ = signed_in(server, account.private_key)
    with closing(c):
        today = re.search(r'class="events-1">([\d,]+)<', c.get("/").text).group(1)
        assert today == "1"
        page = c.get(f"/console/metrics/{metric_id(client, account, 'Zoned')}").text
        assert f'<option value="{zone}" selected>' in page and f"({zone})" in page
        picked = c.get(f"/console/metrics/{metric_id(client, account, 'Zoned')}?tz=UTC").text
        assert '<option value="UTC" selected>' in picked
