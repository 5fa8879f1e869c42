"""The browser harness itself: Debian's Chromium opens a page Footfall serves, and requests are recorded."""

from tests.browser import other_origins, screenshot


def test_chromium_opens_a_page_served_by_footfall(page, server):
    response = page.goto(server.url + "/healthz")
    assert response is not None and response.status == 200
    assert '"status"' in page.content()
    assert screenshot(page, "harness-healthz").stat().st_size > 0
    assert other_origins(page, server.url) == []
