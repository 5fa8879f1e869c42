"""Per-account rate limits on /api and /client: headers, 429s, windows, accounts, Redis shared by servers.

Servers here get tiny limits (every tier: 2 per 1 s burst, 3 per 2 s steady window) so windows can be
watched passing. The limiter does not depend on the database, so these run on SQLite only, once with
counters in process memory and once in Redis (127.0.0.1:6379).
"""

from __future__ import annotations

import base64
import json
import math
import time
import uuid

import httpx
import pytest

from footfall.config import Settings, from_env
from footfall.domain.rate_limit_tiers import TIERS, Limit, RateLimitSettings, tier_for
from tests.conftest import make_sqlite_database
from tests.servers import ServerThread, new_account

pytestmark = pytest.mark.serial  # timing-bound: make test runs it after the parallel part

REDIS_URL = "redis://127.0.0.1:6379/0"
TINY = RateLimitSettings(overrides={tier: Limit(2, 3) for tier in TIERS}, burst_window=1, steady_window=2)
RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


def require_redis() -> None:
    """Redis must answer in CI; elsewhere its tests are skipped with a notice when it does not."""
    import os

    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI but unavailable: {exc}")
        pytest.skip(f"Redis unavailable at {REDIS_URL} ({exc}); Redis tests skipped")


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory) -> str:
    return make_sqlite_database(tmp_path_factory.mktemp("ratelimit"))


@pytest.fixture(scope="module", params=["memory", "redis"])
def limited(request, sqlite_url):
    redis_url = REDIS_URL if request.param == "redis" else None
    if redis_url:
        require_redis()
    srv = ServerThread(Settings(database_url=sqlite_url, rate_limits=TINY, redis_url=redis_url)).start()
    yield srv
    srv.stop()


def fresh_account(sqlite_url):
    return new_account(sqlite_url, f"rl-{uuid.uuid4().hex[:10]}")


def call(url: str, account) -> httpx.Response:
    """A metric-aggregates query for a metric that does not exist: answered 404, counted all the same."""
    body = {"data": {"type": "metric-aggregate", "attributes": {
        "metric_id": "NoSuch", "measurements": ["count"],
        "filter": ["greater-or-equal(datetime,2025-01-01)", "less-than(datetime,2025-01-02)"]}}}
    return httpx.post(f"{url}/api/metric-aggregates", json=body, timeout=10,
                      headers={"revision": "2026-07-15", "Authorization": f"Klaviyo-API-Key {account.private_key}"})


def start_of_window(seconds: int) -> None:
    """Sleep until just after the next multiple of `seconds` since the epoch (windows are aligned so)."""
    now = time.time()
    time.sleep(math.floor(now / seconds) * seconds + seconds - now + 0.02)


def assert_throttled(r: httpx.Response, seconds: int = 1) -> None:
    assert r.status_code == 429
    assert r.headers["retry-after"] == str(seconds)
    assert not any(h in r.headers for h in RATE_HEADERS)
    [error] = r.json()["errors"]
    assert error["status"] == 429 and error["code"] == "throttled"
    assert error["title"] == "Request was throttled."
    plural = "" if seconds == 1 else "s"
    assert error["detail"] == f"Request was throttled. Expected available in {seconds} second{plural}."
    assert error["id"]


def test_headers_burst_and_steady_windows(limited, sqlite_url):
    account = fresh_account(sqlite_url)
    start_of_window(2)  # the start of a steady window, which is also the start of a burst window
    first, second, third = (call(limited.url, account) for _ in range(3))
    assert first.status_code == 404 and first.headers["ratelimit-limit"] == "3"
    assert first.headers["ratelimit-remaining"] == "2" and first.headers["ratelimit-reset"] in ("1", "2")
    assert second.status_code == 404 and second.headers["ratelimit-remaining"] == "1"
    assert_throttled(third)                      # 2 per second: the burst window is full
    start_of_window(1)                           # next burst window, same steady window
    fourth, fifth = call(limited.url, account), call(limited.url, account)
    assert fourth.status_code == 404 and fourth.headers["ratelimit-remaining"] == "0"
    assert_throttled(fifth)                      # 3 per 2 s: the steady window is full
    start_of_window(2)
    assert call(limited.url, account).headers["ratelimit-remaining"] == "2"  # a new steady window


def test_accounts_are_limited_separately(limited, sqlite_url):
    a, b = fresh_account(sqlite_url), fresh_account(sqlite_url)
    start_of_window(1)
    assert [call(limited.url, a).status_code for _ in range(3)] == [404, 404, 429]
    assert call(limited.url, b).status_code == 404


def test_fast_path_ingest_routes_are_limited(limited, sqlite_url):
    """POST /client/events and /api/events are answered ahead of Starlette's router, and limited the
    same way: headers on answers and on errors (which count too), then 429 (with CORS on /client)."""
    account = fresh_account(sqlite_url)
    good = {"data": {"type": "event", "attributes": {
        "properties": {}, "metric": {"data": {"type": "metric", "attributes": {"name": "Limited"}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": "rl@example.com"}}}}}}
    client = {"params": {"company_id": account.public_key},
              "headers": {"revision": "2026-07-15", "Origin": "https://shop.example"}}
    server = {"headers": {"revision": "2026-07-15", "Authorization": f"Klaviyo-API-Key {account.private_key}"}}
    start_of_window(2)
    for path, how in (("/client/events", client), ("/api/events", server)):
        first = httpx.post(f"{limited.url}{path}", json=good, timeout=10, **how)
        assert first.status_code == 202 and first.headers["ratelimit-limit"] == "3", first.text
        assert first.headers["ratelimit-remaining"] == "2" and first.headers["ratelimit-reset"] in ("1", "2")
        second = httpx.post(f"{limited.url}{path}", content=b"{bad", timeout=10, **how)
        assert second.status_code == 400 and second.headers["ratelimit-remaining"] == "1"
        third = httpx.post(f"{limited.url}{path}", json=good, timeout=10, **how)
        assert_throttled(third)
        if path.startswith("/client"):
            assert third.headers["access-control-allow-origin"] == "*" and second.headers["vary"] == "Origin"


def test_legacy_track_is_not_limited(limited, sqlite_url):
    account = fresh_account(sqlite_url)
    payload = {"token": account.public_key, "event": "Viewed", "customer_properties": {"$email": "x@example.com"}}
    data = base64.b64encode(json.dumps(payload).encode()).decode()
    answers = [httpx.get(f"{limited.url}/api/track", params={"data": data}) for _ in range(5)]
    assert [r.text for r in answers] == ["1"] * 5
    assert not any(h in r.headers for r in answers for h in RATE_HEADERS)


def test_redis_counters_are_shared_by_two_servers(sqlite_url):
    require_redis()
    one = ServerThread(Settings(database_url=sqlite_url, rate_limits=TINY, redis_url=REDIS_URL)).start()
    two = ServerThread(Settings(database_url=sqlite_url, rate_limits=TINY, redis_url=REDIS_URL)).start()
    try:
        account = fresh_account(sqlite_url)
        start_of_window(1)
        assert call(one.url, account).status_code == 404
        assert call(two.url, account).headers["ratelimit-remaining"] == "1"
        assert_throttled(call(one.url, account))
    finally:
        one.stop()
        two.stop()


def test_unreachable_redis_lets_requests_through(sqlite_url):
    srv = ServerThread(Settings(database_url=sqlite_url, rate_limits=TINY, redis_url="redis://127.0.0.1:1/0")).start()
    try:
        account = fresh_account(sqlite_url)
        answers = [call(srv.url, account) for _ in range(4)]
        assert [r.status_code for r in answers] == [404] * 4
        assert not any(h in r.headers for r in answers for h in RATE_HEADERS)
    finally:
        srv.stop()


def test_disabled_limits_send_no_headers(sqlite_url):
    srv = ServerThread(Settings(database_url=sqlite_url, rate_limits=RateLimitSettings(enabled=False))).start()
    try:
        account = fresh_account(sqlite_url)
        answers = [call(srv.url, account) for _ in range(5)]
        assert [r.status_code for r in answers] == [404] * 5
        assert "ratelimit-limit" not in answers[0].headers
    finally:
        srv.stop()


def test_settings_from_environment():
    config = from_env({"FOOTFALL_RATE_LIMIT_MULTIPLIER": "2", "FOOTFALL_RATE_LIMIT_TIERS": "xs=5/50, M=20/300",
                       "FOOTFALL_REDIS_URL": REDIS_URL})
    assert config.redis_url == REDIS_URL
    limits = config.rate_limits
    assert limits.enabled and limits.limit("XS") == Limit(5, 50) and limits.limit("M") == Limit(20, 300)
    assert limits.limit("S") == Limit(6, 120)  # Klaviyo's S tier (3/s, 60/m) doubled
    assert not from_env({"FOOTFALL_RATE_LIMITS": "off"}).rate_limits.enabled
    assert from_env({}).rate_limits.limit("L") == Limit(75, 700)
    with pytest.raises(ValueError, match="TIER=BURST/STEADY"):
        from_env({"FOOTFALL_RATE_LIMIT_TIERS": "huge=1/2"})


def test_a_tiers_limit_is_worked_out_once_per_settings():
    """limit() is asked on every rate-limited request: the same answer each time, worked out once."""
    import dataclasses

    settings = RateLimitSettings(multiplier=2, overrides={"M": Limit(20, 300)})
    assert settings.limit("S") is settings.limit("S") and settings.limit("S") == Limit(6, 120)
    assert settings.limit("M") == Limit(20, 300)
    changed = dataclasses.replace(settings, multiplier=3)  # other settings: their own limits
    assert changed.limit("S") == Limit(9, 180) and settings.limit("S") == Limit(6, 120)
    assert changed == RateLimitSettings(multiplier=3, overrides={"M": Limit(20, 300)})  # the cache is no field
    with pytest.raises(KeyError):
        settings.limit("XXL")


def test_route_tiers_follow_klaviyo():
    assert tier_for("POST", "/api/metric-aggregates") == "S"
    assert tier_for("POST", "/api/metric-aggregates/") == "S"
    assert tier_for("GET", "/api/profiles/{profile_id}/segments") == "S"
    assert tier_for("POST", "/api/segments") == "XS"
    assert tier_for("POST", "/client/events") == "XL"
    assert tier_for("GET", "/api/somewhere-new") == "L" and tier_for("POST", "/api/somewhere-new") == "M"
