"""api/key_cache.TtlCache: while a known key's refresh runs its last answer is used (for
REFRESH_WAIT_SECONDS past its freshness), then requests wait for the refresh, as before."""

from __future__ import annotations

import asyncio
import time

from footfall.api import key_cache
from footfall.api.key_cache import TtlCache


def test_a_refreshing_key_answers_at_once_then_waits_for_the_refresh(monkeypatch):
    monkeypatch.setattr(key_cache, "REFRESH_WAIT_SECONDS", 0.2)

    async def scenario() -> list:
        answers = iter(["first", "second"])
        gate = asyncio.Event()
        gate.set()

        async def fetch(key: str) -> str:
            await gate.wait()
            return next(answers)

        cache = TtlCache(fetch, seconds=0.05)
        seen = [await cache.get("k")]
        gate.clear()  # the store is slow from now on
        await asyncio.sleep(0.06)  # past its freshness: a refresh starts
        began = time.monotonic()
        seen.append(await cache.get("k"))
        seen.append(time.monotonic() - began < 0.05)  # not kept waiting for the refresh
        await asyncio.sleep(0.2)  # past fresh until + REFRESH_WAIT_SECONDS: now a request waits
        waiting = asyncio.ensure_future(cache.get("k"))
        await asyncio.sleep(0.02)
        seen.append(waiting.done())
        gate.set()
        seen.append(await waiting)
        return seen

    assert asyncio.run(scenario()) == ["first", "first", True, False, "second"]
