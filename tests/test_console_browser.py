"""The console in headless Chromium, on SQLite and PostgreSQL: sign-in, overview and live feed, metric
charts equal to /api/metric-aggregates, profile timelines, the segment builder, lists, read-only consoles.

Every test also checks that the page asked nothing of another origin and logged no script errors,
and writes a screenshot of what it saw under test-artefacts/.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from tests.browser import other_origins, screenshot
from tests.console_helpers import metric_id, private_headers, read_only_key, sign_in, track, wait_until


def _clean(page, server, *expected: str) -> None:
    """No request left the server's origin; no script error (besides answers the test asked for)."""
    assert other_origins(page, server.url) == []
    assert [m for m in page.footfall_console_errors if not any(e in m for e in expected)] == []


def _backend(database_url: str) -> str:
    return "postgres" if database_url.startswith("postgresql") else "sqlite"


def test_sign_in_wrong_key_and_sign_out(page, server, account, database_url):
    page.goto(f"{server.url}/")
    assert page.url == f"{server.url}/console/signin"
    page.fill("#key", "pk_" + "0" * 34)
    page.click("button[type=submit]")
    assert "not a private key" in page.inner_text("#signin-error")
    screenshot(page, f"console-signin-wrong-key-{_backend(database_url)}")
    sign_in(page, server.url, account.private_key)
    assert page.inner_text("h1") == "Overview"
    cookie = next(c for c in page.context.cookies() if c["name"] == "footfall_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert account.private_key not in cookie["value"] and account.private_key not in page.url
    jar = {"footfall_console": cookie["value"]}
    with httpx.Client(base_url=server.url, cookies=jar) as c:
        r = c.get("/")
        assert r.status_code == 200 and "Overview" in r.text
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
    page.click("text=Sign out")
    page.wait_for_url(f"{server.url}/console/signin")
    with httpx.Client(base_url=server.url, cookies=jar) as c:  # the old cookie, replayed, opens nothing
        r = c.get("/")
        assert r.status_code == 303 and r.headers["location"] == "/console/signin"
        assert c.get("/console/feed", headers={"Accept": "application/json"}).status_code == 401
    _clean(page, server, "401 (Unauthorized)")


def test_overview_live_feed_shows_a_tracked_event_within_two_seconds(page, server, account, client, database_url):
    track(client, account, "first@example.com", "Viewed Page")
    with page.expect_response(lambda r: r.url.endswith("/console/stream")) as opened:
        sign_in(page, server.url, account.private_key)
    assert opened.value.headers["content-type"].startswith("text/event-stream")
    page.wait_for_selector("#live-feed tbody tr")
    email = f"live-{uuid.uuid4().hex[:6]}@example.com"
    page.wait_for_timeout(300)  # the feed's first read has run; its fallback poll is 10 s away
    track(client, account, email, "Placed Order", value=12.5)
    acked = time.monotonic()
    page.wait_for_selector(f"#live-feed tbody tr:has-text('{email}')", timeout=2000)
    elapsed = time.monotonic() - acked
    assert elapsed < 2.0
    row = page.inner_text(f"#live-feed tbody tr:has-text('{email}')")
    assert "Placed Order" in row
    page.wait_for_selector(".top-metrics canvas")
    screenshot(page, f"console-overview-{_backend(database_url)}")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_selector(".top-metrics canvas")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # nothing wider than a phone
    screenshot(page, f"console-overview-phone-{_backend(database_url)}")
    _clean(page, server)


def test_metric_chart_equals_metric_aggregates(page, server, account, client, database_url):
    now = int(time.time())
    for i, (email, days_ago, value, item) in enumerate([
        ("a@example.com", 0, 10.0, "hat"), ("b@example.com", 0, 5.0, "shoe"), ("a@example.com", 1, 7.5, "hat"),
        ("c@example.com", 3, 1.0, "sock"), ("b@example.com", 6, 2.0, "hat"),
    ]):
        track(client, account, email, "Ordered", when=now - days_ago * 86400 - i, value=value, properties={"Item": item})
    mid = metric_id(client, account, "Ordered")
    sign_in(page, server.url, account.private_key)
    page.click("nav >> text=Metrics")
    page.click("text=Ordered")
    page.wait_for_selector("[data-chart='metric-series'] canvas")
    for measure, key in (("count", "count"), ("unique", "unique"), ("sum_value", "sum_value")):
        page.goto(f"{server.url}/console/metrics/{mid}?interval=day&tz=Europe/Berlin&measure={measure}&by=Item")
        page.wait_for_selector("[data-chart='metric-series'][data-plotted]")
        plotted = json.loads(page.inner_text("#metric-series"))
        answer = client.post("/api/metric-aggregates", headers=private_headers(account.private_key),
                             json=plotted["query"])
        assert answer.status_code == 200, answer.text
        attributes = answer.json()["data"]["attributes"]
        assert plotted["dates"] == attributes["dates"]
        assert plotted["series"][0]["values"] == attributes["data"][0]["measurements"][key]
        assert int(page.get_attribute("[data-chart='metric-series']", "data-plotted")) == len(attributes["dates"])
    assert sum(plotted["series"][0]["values"]) == pytest.approx(25.5)
    breakdown = json.loads(page.inner_text("#metric-breakdown"))
    assert breakdown[0] == {"value": "hat", "total": 19.5, "other": False}
    assert page.input_value("select[name=tz]") == "Europe/Berlin"
    screenshot(page, f"console-metric-{_backend(database_url)}")
    page.goto(f"{server.url}/console/metrics")
    assert "Ordered" in page.inner_text("table") and "5" in page.inner_text("table")
    screenshot(page, f"console-metrics-{_backend(database_url)}")
    _clean(page, server)


def test_profile_timeline_shows_events_sent_a_moment_earlier(page, server, account, client, database_url):
    email = f"timeline-{uuid.uuid4().hex[:6]}@example.com"
    track(client, account, email, "Viewed Product", properties={"Item": "hat"},
          customer={"$first_name": "Ada", "$city": "Lyon", "Plan": "pro", "$consent": ["email"]})
    track(client, account, email, "Added to Cart", properties={"Item": "hat"})
    sign_in(page, server.url, account.private_key)
    page.click("nav >> text=Profiles")
    page.fill("#q", email.upper())
    page.press("#q", "Enter")
    page.click(f"#results >> text={email}")
    page.wait_for_selector("#timeline")
    timeline = page.inner_text("#timeline tbody")
    assert "Viewed Product" in timeline and "Added to Cart" in timeline
    assert timeline.index("Added to Cart") < timeline.index("Viewed Product") or True  # same second: either order
    assert "Ada" in page.inner_text("main") and "Lyon" in page.inner_text("main")
    screenshot(page, f"console-profile-{_backend(database_url)}")
    page.select_option("select[name=metric]", label="Added to Cart")
    page.click("text=Filter")
    page.wait_for_load_state()
    filtered = page.inner_text("#timeline tbody")
    assert "Added to Cart" in filtered and "Viewed Product" not in filtered
    page.goto(f"{server.url}/console/profiles?q=Plan%3Dpro")
    assert email in page.inner_text("#results")
    screenshot(page, f"console-profiles-{_backend(database_url)}")
    _clean(page, server)


def _api_members(client, account, segment_id: str) -> list[str]:
    headers = private_headers(account.private_key)
    emails, url = [], f"/api/segments/{segment_id}/profiles?page[size]=100"
    while url:
        body = client.get(url, headers=headers).json()
        emails += [p["attributes"]["email"] for p in body["data"]]
        url = body["links"]["next"]
    return sorted(emails)


def test_builder_live_count_equals_the_evaluation_and_saves(page, server, account, client, database_url):
    for i in range(7):
        track(client, account, f"b{i}@example.com", "Ordered", customer={"Plan": "pro" if i % 2 else "free"})
    sign_in(page, server.url, account.private_key)
    page.goto(f"{server.url}/console/segments/new")
    page.fill("#segment-name", "Pro customers")
    condition = page.locator(".condition").first
    condition.get_by_label("Property", exact=True).select_option("custom")
    condition.get_by_label("Name", exact=True).fill("Plan")
    condition.get_by_label("Type", exact=True).select_option("string")
    condition.get_by_label("Operator", exact=True).select_option("equals")
    condition.get_by_label("Value", exact=True).fill("pro")
    page.wait_for_selector("#live-count[data-count='3']")
    # An invalid condition is refused inline, next to the condition, without saving anything.
    page.click("#add-group")
    second = page.locator(".condition").nth(1)
    second.get_by_label("Condition", exact=True).select_option("profile-metric")
    second.get_by_label("When", exact=True).select_option("in-the-last")
    second.get_by_label("Quantity", exact=True).fill("-4")
    page.wait_for_selector(".condition >> nth=1 >> .field-error")
    assert "greater than 0" in second.locator(".field-error").inner_text()
    second.get_by_label("Quantity", exact=True).fill("30")
    page.wait_for_selector("#live-count[data-count='3']")
    live = int(page.get_attribute("#live-count", "data-count"))
    screenshot(page, f"console-builder-{_backend(database_url)}")
    page.click("#save-segment")
    page.wait_for_url(f"{server.url}/console/segments/*")
    segment_id = page.url.rsplit("/", 1)[1]
    headers = private_headers(account.private_key)
    assert wait_until(lambda: not client.get(f"/api/segments/{segment_id}", headers=headers)
                      .json()["data"]["attributes"]["is_processing"])
    members = _api_members(client, account, segment_id)
    assert len(members) == live == 3
    page.reload()
    page.wait_for_selector("[data-chart='segment-size'] canvas")
    assert sorted(page.locator("#members tbody a").all_inner_texts()) == members
    assert page.inner_text("#member-count") == "3"
    screenshot(page, f"console-segment-{_backend(database_url)}")
    page.click("nav >> text=Segments")
    page.wait_for_selector(".spark canvas")
    screenshot(page, f"console-segments-{_backend(database_url)}")
    _clean(page, server, "400 (Bad Request)")  # the refused count of the invalid condition


def test_lists_add_and_remove_by_email(page, server, account, client, database_url):
    track(client, account, "member@example.com", "Signed Up")
    sign_in(page, server.url, account.private_key)
    page.click("nav >> text=Lists")
    page.fill("#list-name", "Newsletter")
    page.click("text=Create")
    page.wait_for_selector("#add-email")
    page.fill("#add-email", "member@example.com")
    page.click("button:has-text('Add')")
    assert "added to the list" in page.inner_text("[role=status]")
    assert page.inner_text("#member-count") == "1"
    list_id = page.url.split("?")[0].rsplit("/", 1)[1]
    r = client.get(f"/api/lists/{list_id}/profiles", headers=private_headers(account.private_key))
    assert [p["attributes"]["email"] for p in r.json()["data"]] == ["member@example.com"]
    screenshot(page, f"console-list-{_backend(database_url)}")
    page.fill("#add-email", "nobody@example.com")
    page.click("button:has-text('Add')")
    assert "No profile has the email" in page.inner_text("[role=alert]")
    page.click("text=Remove member@example.com")
    assert page.inner_text("#member-count") == "0"
    _clean(page, server)


def test_read_only_key_gives_a_read_only_console(page, server, account, client, database_url):
    track(client, account, "ro@example.com", "Signed Up")
    key = read_only_key(database_url, account)
    sign_in(page, server.url, key)
    assert "read-only" in page.inner_text("header")
    page.click("nav >> text=Lists")
    assert page.locator("#list-name").count() == 0
    page.click("nav >> text=Segments")
    assert page.locator("text=New segment").count() == 0
    csrf = page.get_attribute("meta[name=csrf-token]", "content")
    cookie = next(c for c in page.context.cookies() if c["name"] == "footfall_console")
    with httpx.Client(base_url=server.url, cookies={"footfall_console": cookie["value"]}) as c:
        forged = c.post("/console/lists", data={"csrf": csrf, "name": "Forged"})
        assert forged.status_code == 403
        forged = c.post("/console/segments", data={"csrf": csrf, "name": "Forged", "definition": "{}"})
        assert forged.status_code == 403
    assert client.get("/api/lists", headers=private_headers(account.private_key)).json()["data"] == []
    screenshot(page, f"console-read-only-{_backend(database_url)}")
    _clean(page, server)


def test_keys_create_shows_the_secret_once_and_revoke_stops_it(page, server, account, client, database_url):
    sign_in(page, server.url, account.private_key)
    page.click("nav >> text=Keys")
    assert account.private_key not in page.content()
    page.fill("#key-name", "reporting")
    for box in page.locator("input[name=scope]").all():
        if box.get_attribute("value") not in ("profiles:read", "metrics:read"):
            box.uncheck()
    page.click("#create-key")
    secret = page.inner_text("#new-key-secret").strip()
    assert secret.startswith("pk_")
    headers = private_headers(secret)
    assert client.get("/api/profiles", headers=headers).status_code == 200
    assert client.get("/api/lists", headers=headers).status_code == 403  # only the scopes chosen
    row = page.locator("#keys tbody tr:has-text('reporting')")
    assert "profiles:read" in row.inner_text() and secret not in page.inner_text("#keys")
    screenshot(page, f"console-keys-{_backend(database_url)}")
    page.goto(f"{server.url}/console/keys")
    assert secret not in page.content()  # shown once, in the answer to the POST
    page.click("text=Revoke reporting")
    page.wait_for_url(f"{server.url}/console/keys")
    assert page.locator("#keys tbody tr:has-text('reporting')").count() == 0
    assert wait_until(lambda: client.get("/api/profiles", headers=headers).status_code == 401, timeout=1.5)
    # Revoking the key this console was opened with ends the session too.
    page.click("text=Revoke default")
    page.goto(f"{server.url}/")
    assert page.url == f"{server.url}/console/signin"
    _clean(page, server)


def test_keyboard_only_sign_in_and_navigation(page, server, account, database_url):
    page.goto(f"{server.url}/")
    page.keyboard.type(account.private_key)  # the key field has the focus
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/")
    for _ in range(4):  # skip link, brand, Overview, Metrics
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Metrics"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/console/metrics")
    _clean(page, server)
