"""Key lookups cached for less than a second, and last_used recorded without a write per request.

Why so short: a revoked key (or a deleted account) must stop working on every worker and every
host within one second, and the database is the only thing they share. A lookup per key per
half second per process is a handful of indexed reads a second; concurrent requests for the same
key while it is being looked up share that one read.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, Generic, TypeVar

from footfall import clock
from footfall.store.keys import LAST_USED_PRECISION_SECONDS, KeyGrant

CACHE_SECONDS = 0.5  # + one lookup's time: well inside the one second revocation promises
REFRESH_WAIT_SECONDS = 0.25  # how long a request waits for a known key's refresh before using its last answer
STALE_SECONDS = 30.0  # the longest a last answer is used while the store does not answer
V = TypeVar("V")


class TtlCache(Generic[V]):
    """key -> value for CACHE_SECONDS; misses (None) are never cached, so a new key works at once.

    A key seen before is refreshed when its time is up; for REFRESH_WAIT_SECONDS after that its last
    answer is used while the refresh runs, and a later request waits for the refresh only
    REFRESH_WAIT_SECONDS: if the store is stalled or down the last answer stands, for STALE_SECONDS
    at most. A revocation cannot commit while the store is away, so nothing revoked is served, and
    requests are answered (or refused with 503 by the pipeline) in the ack bound instead of hanging
    on a key lookup."""

    def __init__(self, fetch: Callable[[str], Awaitable[V | None]], seconds: float = CACHE_SECONDS) -> None:
        self._fetch = fetch
        self._seconds = seconds
        self._hits: dict[str, tuple[float, V]] = {}  # key -> (fresh until, value)
        self._pending: dict[str, asyncio.Future] = {}

    async def get(self, key: str) -> V | None:
        now = time.monotonic()
        hit = self._hits.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        task = self._pending.get(key)
        if task is None:
            task = asyncio.ensure_future(self._refresh(key))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved, even unawaited
            self._pending[key] = task
        if hit is not None and now < hit[0] + REFRESH_WAIT_SECONDS:
            # Refreshing a known key: its last answer meanwhile, no older than the one a request that
            # waited for a slow refresh got (fresh until + REFRESH_WAIT_SECONDS), so a revocation still
            # reaches every request within the second. The refresh usually ends within milliseconds; on
            # a busy loop each request in between paid for asyncio.wait_for (py-spy: 3-4% of a legacy
            # track request's CPU).
            return hit[1]
        if hit is None or hit[0] + STALE_SECONDS < now:
            return await asyncio.shield(task)
        try:
            return await asyncio.wait_for(asyncio.shield(task), REFRESH_WAIT_SECONDS)
        except Exception:  # the store is slow or down: its last answer stands
            return hit[1]

    async def _refresh(self, key: str) -> V | None:
        try:
            value = await self._fetch(key)
        finally:
            self._pending.pop(key, None)
        if value is None:
            self._hits.pop(key, None)
        else:
            if len(self._hits) > 10_000:  # a bound against a flood of distinct keys
                self._hits.clear()
            self._hits[key] = (time.monotonic() + self._seconds, value)
        return value


class LastUsed:
    """Which keys were used since the last flush, recorded only when the stored last_used is older than
    LAST_USED_PRECISION_SECONDS (so a busy key costs one write a minute, not one per request)."""

    def __init__(self) -> None:
        self._due: dict[tuple[str, str], float] = {}
        self._recorded: dict[tuple[str, str], float] = {}

    def saw(self, grant: KeyGrant) -> None:
        if not grant.key_id:
            return
        now = clock.now()
        ident = (grant.account_id, grant.key_id)
        last = max(grant.last_used or 0.0, self._recorded.get(ident, 0.0))
        if now - last > LAST_USED_PRECISION_SECONDS:
            self._due[ident] = now
            self._recorded[ident] = now

    def take(self) -> dict[tuple[str, str], float]:
        """What to write now (and forget); write it with store.keys.touch_last_used."""
        due, self._due = self._due, {}
        return due

    def put_back(self, due: dict[tuple[str, str], float]) -> None:
        """A flush that failed: these are due again."""
        for ident, when in due.items():
            self._due[ident] = max(when, self._due.get(ident, 0.0))
