"""The onsite script in headless Chromium, on the demo shop (docs/examples/shop.html) served from another
origin than Footfall (http://localhost:<port> against http://127.0.0.1:<port>), so every request is a real
cross-origin one with its CORS preflight."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import re
import threading
import time
from email.utils import parsedate_to_datetime
import uuid
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest

from footfall.store import db
from tests.browser import screenshot
from tests.modern import profile_data, server_headers
from tests.servers import free_port

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


class _Shop(http.server.SimpleHTTPRequestHandler):
    """docs/examples, and the test pages a test puts in `pages` (path -> HTML). A page fulfilled by
    Playwright instead would count as a public address, which Chromium does not let reach a loopback one."""
    pages: dict[str, str] = {}

    def do_GET(self) -> None:
        html = self.pages.get(self.path.split("?")[0])
        if html is None:
            super().do_GET()
            return
        body = html.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # the test output is not an access log
        pass


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    """docs/examples served over HTTP on its own port: the shop's origin."""
    port = free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Shop, directory=str(EXAMPLES)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{port}"
    httpd.shutdown()


class _Busy(http.server.BaseHTTPRequestHandler):
    """An API that answers every POST 503 (Retry-After: 0, readable cross-origin) and counts them."""
    posts: list[str] = []

    def _cors(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Access-Control-Allow-Methods", "POST")
        self.send_header("Access-Control-Expose-Headers", "Retry-After")

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self._cors()
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).posts.append(self.path)
        self.send_response(503)
        self._cors()
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


# document.cookie writes as the page makes them (the browser shortens long expiries when it stores them)
RECORD_COOKIE_WRITES = """
  const jar = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
  window.__cookieWrites = [];
  Object.defineProperty(Document.prototype, 'cookie', {configurable: true, get() { return jar.get.call(this); },
    set(value) { window.__cookieWrites.push(value); jar.set.call(this, value); }});
"""


def until(check: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> object:
    """Poll `check` until it returns something truthy (the machine is loaded: generous timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def shop_url(shop: str, server, account, query: str = "") -> str:
    return f"{shop}/shop.html?footfall={server.url}&key={account.public_key}" + (f"&{query}" if query else "")


def loaded(page) -> None:
    page.wait_for_function("window.klaviyoModulesObject !== undefined && window._learnq._loaded === true")


def cookie(page, name: str = "__kla_id") -> dict | None:
    for c in page.context.cookies():
        if c["name"] == name:
            return c
    return None


def decoded(value: str) -> dict:
    """What Klaviyo's code reads from __kla_id: URL-decoded, base64, UTF-8 JSON."""
    from urllib.parse import unquote
    return json.loads(base64.b64decode(unquote(value)).decode())


def exchange_ids(database_url: str, account_id: str) -> dict[str, list[str]]:
    conn = db.connect(database_url)
    try:
        rows = conn.all("SELECT profile_id, value FROM profile_identifiers WHERE account_id = ? AND kind = ?",
                        (account_id, "exchange_id"))
    finally:
        conn.close()
    out: dict[str, list[str]] = {}
    for profile_id, value in rows:
        out.setdefault(profile_id, []).append(value)
    return out


def api_requests(page, server) -> list[str]:
    return [u for u in page.footfall_requests if u.startswith(server.url + "/client/")]


def script_errors(page) -> list[str]:
    """Console errors other than the browser's own note that a request failed (which a page cannot silence)."""
    return [m for m in page.footfall_console_errors if not m.startswith("Failed to load resource")]


@pytest.fixture
def errors_of(page) -> list[str]:
    page.footfall_page_errors = []
    page.on("pageerror", lambda exc: page.footfall_page_errors.append(str(exc)))
    return page.footfall_page_errors


# -- the visit ----------------------------------------------------------------------------------------------

def test_anonymous_browse_then_identify_gives_one_profile_with_everything(page, server, account, stored, shop,
                                                                          errors_of, database_url):
    page.add_init_script(RECORD_COOKIE_WRITES)
    page.goto(shop_url(shop, server, account))
    loaded(page)
    assert page.evaluate("klaviyo.isIdentified()") is False
    page.click("#link-tent-2p")
    loaded(page)
    page.click("#link-pack-45")
    loaded(page)
    page.click("#add")
    page.wait_for_function("document.getElementById('state').textContent.includes('held until you sign up')")
    # nothing was sent while the visitor was anonymous: events are held until identify
    assert api_requests(page, server) == [] and stored.events() == []
    page.fill("#email", "hiker@example.com")
    page.click("#signup button")
    page.wait_for_function("document.getElementById('signed').textContent.includes('hiker@example.com')")

    events = until(lambda: len(stored.events()) >= 6 and stored.events(), what="the six held events")
    assert sorted(e["metric"] for e in events) == ["Active on Site"] * 3 + ["Added to Cart"] + ["Viewed Product"] * 2
    profile = until(lambda: (p := stored.profiles()) and "$viewed_items" in p[0]["properties"] and p[0],
                    what="the identify")
    [only] = stored.profiles()
    assert only["email"] == "hiker@example.com"
    assert {e["profile_id"] for e in events} == {profile["id"]}
    viewed = profile["properties"]["$viewed_items"]
    assert [(v["ItemId"], v["Views"]) for v in viewed] == [("pack-45", 1), ("tent-2p", 1)]
    assert set(profile["properties"]) == {"$viewed_items", "$referrer", "$last_referrer"}
    assert profile["location"]["ip"] == "127.0.0.1"  # $use_ip on the events
    cart = next(e for e in events if e["metric"] == "Added to Cart")
    assert cart["value"] == 179 and cart["properties"]["ProductID"] == "pack-45"
    assert cart["properties"]["$use_ip"] is True and cart["properties"]["$is_session_activity"] is True
    activity = {e["properties"].get("product"): e["properties"] for e in events if e["metric"] == "Active on Site"}
    assert set(activity) == {None, "tent-2p", "pack-45"}  # one per page, the page's query parameters copied
    assert activity[None]["page"] == f"{shop}/shop.html?footfall={server.url}&key={account.public_key}"
    assert activity[None]["footfall"] == server.url and activity["tent-2p"]["page"] == f"{shop}/shop.html?product=tent-2p"
    assert activity["tent-2p"]["browser"] == "Chrome" and activity["tent-2p"]["os"] == "Linux"
    assert activity["tent-2p"]["initial_page_path"] == "/shop.html"

    # the cookie decodes to what Klaviyo's would hold: a client id, and the exchange id once identified
    [kx] = exchange_ids(database_url, account.id)[profile["id"]]
    until(lambda: "$exchange_id" in decoded(cookie(page)["value"]), what="the exchange id in the cookie")
    jar = cookie(page)
    value = decoded(jar["value"])
    assert value == {"cid": value["cid"], "$exchange_id": kx}
    assert uuid.UUID(base64.b64decode(value["cid"]).decode())
    # written for 730 days, as Klaviyo's; Chromium keeps no cookie longer than 400 days
    written = [w for w in page.evaluate("window.__cookieWrites") if w.startswith("__kla_id=")][-1]
    expires = parsedate_to_datetime(re.search(r"expires=([^;]+)", written).group(1)).timestamp()
    assert 729 * 86400 < expires - time.time() <= 730 * 86400 + 60
    assert "; path=/; SameSite=Lax" in written and "domain=" not in written
    assert 399 * 86400 < jar["expires"] - time.time() and jar["path"] == "/" and jar["domain"] == "localhost"
    screenshot(page, "onsite-shop-identified")

    # a second page load keeps the identity: its activity is sent at once, to the same profile
    before = len(events)
    page.goto(f"{shop}/shop.html")
    loaded(page)
    assert page.evaluate("klaviyo.isIdentified()") is True
    later = until(lambda: len(stored.events()) > before and stored.events(), what="the second page's activity")
    assert {e["profile_id"] for e in later} == {profile["id"]} and len(stored.profiles()) == 1
    assert decoded(cookie(page)["value"]) == value
    # every request went to the shop or to Footfall, and answered without a script error
    assert all(u.startswith((shop, server.url)) for u in page.footfall_requests)
    assert errors_of == [] and script_errors(page) == []
    screenshot(page, "onsite-shop-second-visit")


def test_a_visitor_arriving_with_kx_is_identified_without_typing(page, server, account, stored, shop, client,
                                                                 errors_of):
    made = client.post("/api/profiles", headers=server_headers(account.private_key),
                       json=profile_data(email="reader@example.com"))
    profile_id = made.json()["data"]["id"]
    kx = client.post(f"/api/profiles/{profile_id}/exchange-id",
                     headers=server_headers(account.private_key)).json()["data"]["id"]
    page.goto(shop_url(shop, server, account, f"utm_source=newsletter&_kx={kx}"))
    loaded(page)
    assert page.evaluate("klaviyo.isIdentified()") is True
    [event] = until(lambda: stored.events(), what="the activity event")
    assert event["metric"] == "Active on Site" and event["profile_id"] == profile_id
    assert event["properties"]["kx_present"] is True and event["properties"]["utm_source"] == "newsletter"
    assert kx not in json.dumps(event["properties"])  # the exchange id is not copied into the event
    assert decoded(cookie(page)["value"])["$exchange_id"] == kx
    assert len(stored.profiles()) == 1 and errors_of == []
    screenshot(page, "onsite-shop-kx")


def test_utm_email_identifies_the_visitor(page, server, account, stored, shop):
    page.goto(shop_url(shop, server, account, "utm_email=utm%40example.com"))
    loaded(page)
    [event] = until(lambda: stored.events(), what="the activity event")
    [profile] = stored.profiles()
    assert profile["email"] == "utm@example.com" and event["profile_id"] == profile["id"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_kla_off_sends_nothing(page, server, account, stored, shop, errors_of):
    page.context.add_cookies([{"name": "__kla_off", "value": "true", "url": shop}])
    page.goto(shop_url(shop, server, account, "product=tent-2p"))
    loaded(page)
    page.click("#add")
    page.fill("#email", "private@example.com")
    page.click("#signup button")
    page.wait_for_function("document.getElementById('signed').textContent.includes('private@example.com')")
    page.wait_for_timeout(1000)  # past the identify debounce
    page.goto(f"{shop}/shop.html")
    loaded(page)
    page.wait_for_timeout(500)
    assert api_requests(page, server) == [] and stored.events() == [] and stored.profiles() == []
    assert cookie(page) is None  # nothing written either
    assert errors_of == []


# -- the page-side API --------------------------------------------------------------------------------------

def _blank(page, shop: str, server, account, before_load: str, script_attrs: str = "") -> None:
    """A page of the shop's origin that runs `before_load` and then loads the script."""
    html = (f"<!doctype html><html><head><script>{before_load}</script>"
            f"<script async src='{server.url}/onsite/js/{account.public_key}/klaviyo.js' {script_attrs}></script>"
            "</head><body>test page</body></html>")
    name = f"/test-{uuid.uuid4().hex[:8]}.html"
    _Shop.pages[name] = html
    page.goto(f"{shop}{name}")
    loaded(page)


def _bodies(page, server) -> list[tuple[str, dict]]:
    page.wait_for_timeout(50)  # the sync API delivers the page's request events only inside its own calls
    return [(r["url"].split("?")[0].removeprefix(server.url), json.loads(r["body"])) for r in page.footfall_posts]


@pytest.fixture
def posts(page) -> list:
    page.footfall_posts = []
    page.on("request", lambda r: r.method == "POST" and page.footfall_posts.append(
        {"url": r.url, "body": r.post_data, "headers": r.headers}))
    return page.footfall_posts


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_learnq_queue_runs_account_and_identify_first_then_in_order(page, server, account, stored, shop, posts):
    _blank(page, shop, server, account, """
      var _learnq = window._learnq = [];
      window.calls = [];
      _learnq.push(['track', 'First', {n: 1}]);
      _learnq.push(function (tracker) { window.calls.push(['fn', tracker.isIdentified()]); });
      _learnq.push(['noSuchMethod', 1]);
      _learnq.push(['identify', {$email: 'queue@example.com', $first_name: 'Q'}]);
      _learnq.push(['track', 'Second', {n: 2}, function (sent) { window.calls.push(['cb', sent]); }]);
      _learnq.push(['account', 'IGNORED']);
      window._klOnsite = [['track', 'Third', {n: 3}]];
    """)
    assert page.evaluate("window.calls") == [["fn", True], ["cb", True]]
    assert page.evaluate("window.__klKey") == account.public_key  # the key of the script's URL wins
    until(lambda: len(stored.events()) == 4, what="four events")
    until(lambda: stored.profiles() and stored.profiles()[0]["first_name"] == "Q", what="the identify")
    events = [(u, b) for u, b in _bodies(page, server) if u == "/client/events/"]
    names = [b["data"]["attributes"]["metric"]["data"]["attributes"]["name"] for _, b in events]
    assert names == ["First", "Second", "Third", "__activity__"]  # identify ran first: none were held
    attrs = events[0][1]["data"]["attributes"]
    assert attrs["profile"]["data"]["attributes"] == {"email": "queue@example.com"}
    assert attrs["metric"]["data"]["attributes"]["service"] == "api"
    assert attrs["properties"] == {"n": 1, "$use_ip": True, "$is_session_activity": True}
    [post] = [p for p in posts if "/client/profiles/" in p["url"]]
    assert post["headers"]["revision"] == "2024-10-15" and post["headers"]["x-klaviyo-onsite"] == "1"
    assert post["url"] == f"{server.url}/client/profiles/?company_id={account.public_key}"
    assert {p["headers"]["revision"] for p in posts if "/client/events/" in p["url"]} == {"2026-07-15"}
    assert {p["headers"]["x-klaviyo-js-url"] for p in posts} == {page.evaluate("location.pathname") + "|"}
    # after load, push and the direct methods run at once
    assert page.evaluate("_learnq.push(['track', 'Fourth']) === 0 && _learnq.track('Fifth')") is True
    until(lambda: len(stored.events()) == 6, what="six events")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_identify_is_debounced_merged_and_sent_only_when_changed(page, server, account, stored, shop, posts):
    _blank(page, shop, server, account, "")
    assert page.evaluate("klaviyo.track('Held', {a: 1})") is False  # anonymous: held
    who = page.evaluate("""(async () => {
        klaviyo.identify({$email: 'deb@example.com'});
        klaviyo.identify({$first_name: 'Deb'});
        return await klaviyo.identify({plan: 'gold'});
    })()""")
    assert who == {"$email": "deb@example.com", "$first_name": "Deb", "plan": "gold"}  # no exchange id
    until(lambda: stored.profiles() and stored.profiles()[0]["properties"].get("plan") == "gold", what="identify")
    page.wait_for_timeout(800)
    profile_posts = [b for u, b in _bodies(page, server) if u == "/client/profiles/"]
    assert len(profile_posts) == 1, profile_posts  # three calls within 300 ms: one request
    attributes = profile_posts[0]["data"]["attributes"]
    assert attributes["email"] == "deb@example.com" and attributes["first_name"] == "Deb"
    assert attributes["properties"]["plan"] == "gold"
    # the same identity again: nothing is sent; a change is
    page.evaluate("klaviyo.identify({$email: 'deb@example.com', plan: 'gold'})")
    page.wait_for_timeout(800)
    assert len([u for u, _ in _bodies(page, server) if u == "/client/profiles/"]) == 1
    page.evaluate("klaviyo.identify({plan: 'platinum'})")
    until(lambda: stored.profiles()[0]["properties"]["plan"] == "platinum", what="the changed identify")
    assert len([u for u, _ in _bodies(page, server) if u == "/client/profiles/"]) == 2
    assert page.evaluate("klaviyo.track('Sent', {b: 2})") is True
    until(lambda: sorted(e["metric"] for e in stored.events()) == ["Active on Site", "Held", "Sent"],
          what="the held event, the activity and the sent one")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_retries_are_bounded_when_the_api_is_busy(page, server, account, stored, shop, errors_of):
    _Busy.posts = []
    port = free_port()
    busy = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Busy)
    threading.Thread(target=busy.serve_forever, daemon=True).start()
    try:
        _blank(page, shop, server, account, "window._learnq = [['identify', {$email: 'busy@example.com'}]];",
               f"data-api-host='http://127.0.0.1:{port}'")
        # the activity event: 1 try + 5 retries, then dropped; the identify likewise
        until(lambda: len(_Busy.posts) >= 12, what="twelve attempts")
        page.wait_for_timeout(1500)
        assert sorted(_Busy.posts) == [f"/client/events/?company_id={account.public_key}"] * 6 + [
            f"/client/profiles/?company_id={account.public_key}"] * 6
        assert page.evaluate("JSON.parse(localStorage.getItem('__kla_outbox'))") == []
    finally:
        busy.shutdown()
    assert errors_of == [] and script_errors(page) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_script_errors_when_the_server_is_down(page, server, account, shop, errors_of):
    closed = free_port()
    _blank(page, shop, server, account, "window._learnq = [['identify', {$email: 'down@example.com'}]];",
           f"data-api-host='http://127.0.0.1:{closed}'")
    assert page.evaluate("klaviyo.track('While down', {x: 1})") is True
    page.evaluate("klaviyo.trackViewedItem({Title: 'T', ItemId: 't'})")
    page.wait_for_timeout(2500)
    assert errors_of == [] and script_errors(page) == []
    # what was not delivered waits in the outbox (bounded tries) for the next page
    assert len(page.evaluate("JSON.parse(localStorage.getItem('__kla_outbox'))")) >= 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_track_once_sends_once_per_profile(page, server, account, stored, shop):
    _blank(page, shop, server, account, "window._learnq = [['identify', {$email: 'once@example.com'}]];")
    page.evaluate("""klaviyo.trackOnce('Started Checkout', {step: 1});
                     klaviyo.trackOnce('Started Checkout', {step: 2});
                     klaviyo.track('Viewed Product', {$event_id: 'v-1', $value: '12.5'})""")
    until(lambda: len(stored.events()) == 3, what="activity, the first checkout and the view")
    page.wait_for_timeout(500)
    events = {e["metric"]: e for e in stored.events()}
    assert events["Started Checkout"]["properties"]["step"] == 1
    assert events["Viewed Product"]["unique_id"] == "v-1" and events["Viewed Product"]["value"] == 12.5
