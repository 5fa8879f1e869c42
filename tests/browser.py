"""Headless Chromium for browser tests: Debian's `chromium` driven by Playwright (no browser download).

Fixtures (registered by tests/conftest.py): `browser` (one Chromium per session) and `page` (a new
context per test, 1280x800, every request recorded in `page.footfall_requests`). `screenshot(page,
name)` writes a PNG under test-artefacts/ (FOOTFALL_ARTEFACTS overrides) for a person to look at.
Without Chromium the tests skip locally and fail in CI (CI=true), like the PostgreSQL ones.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = Path(os.environ.get("FOOTFALL_CHROMIUM", "/usr/bin/chromium"))
ARTEFACTS = Path(os.environ.get("FOOTFALL_ARTEFACTS", Path(__file__).resolve().parent.parent / "test-artefacts"))
# The machine's network is closed: without these flags Chromium keeps trying to reach its vendor's hosts.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Chromium is required in CI but unavailable: {reason}")
    pytest.skip(f"Chromium unavailable ({reason}); browser tests skipped")


# Module scope, not session: Playwright's sync API keeps an event loop running in the main thread
# while it is open, and tests elsewhere that call asyncio.run() would then fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        _unavailable(str(exc))
    if not CHROMIUM.exists():
        _unavailable(f"no {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request) -> Iterator[object]:
    """A fresh page (own cookies) whose requests are all recorded, for the no-other-origin checks."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.footfall_requests = []  # type: ignore[attr-defined]
    page.footfall_console_errors = []  # type: ignore[attr-defined]
    page.on("request", lambda r: page.footfall_requests.append(r.url))
    page.on("console", lambda m: m.type == "error" and page.footfall_console_errors.append(m.text))
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG as a test artefact and return its path."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name) + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path


def other_origins(page, *allowed_origins: str) -> list[str]:
    """The recorded request URLs whose origin is none of `allowed_origins` (data: and blob: aside)."""
    def origin(url: str) -> str:
        m = re.match(r"^([a-z]+://[^/]+)", url)
        return m.group(1) if m else url
    return [u for u in page.footfall_requests
            if not u.startswith(("data:", "blob:")) and origin(u) not in allowed_origins]
