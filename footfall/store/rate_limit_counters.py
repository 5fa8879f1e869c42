"""Fixed-window request counters: in process memory (one process) or in Redis (every process).

Both count the same way: a request is admitted when neither its burst window nor its steady window
is full, and only admitted requests are counted, so a client that keeps retrying while throttled is
let in again as soon as the window it hit resets. Windows are aligned to multiples of their length
since the epoch; the Redis limiter reads Redis's clock so that every API host agrees on them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Protocol

from footfall.domain.rate_limit_tiers import Decision, Limit

log = logging.getLogger("footfall.ratelimit")


class Limiter(Protocol):
    async def hit(self, key: str, limit: Limit, burst_window: int, steady_window: int) -> Decision: ...

    async def close(self) -> None: ...


def _decide(now: float, burst_used: int, steady_used: int, limit: Limit,
            burst_window: int, steady_window: int) -> Decision:
    """The decision for counts read before this request (not yet including it)."""
    burst_reset = (math.floor(now / burst_window) + 1) * burst_window - now
    steady_reset = (math.floor(now / steady_window) + 1) * steady_window - now
    wait = 0.0
    if burst_used >= limit.burst:
        wait = burst_reset
    if steady_used >= limit.steady:
        wait = max(wait, steady_reset)
    if wait:
        return Decision(False, limit.steady, max(0, limit.steady - steady_used), math.ceil(steady_reset),
                        max(1, math.ceil(wait)))
    return Decision(True, limit.steady, limit.steady - steady_used - 1, math.ceil(steady_reset), 0)


class MemoryLimiter:
    """Counters in this process: right for one process (the SQLite default), not for several."""

    shared = False  # seen by this process only

    def __init__(self, clock=time.time) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, int, int], int] = {}
        self._lock = threading.Lock()
        self._next_prune = 0.0

    async def hit(self, key: str, limit: Limit, burst_window: int, steady_window: int) -> Decision:
        now = self._clock()
        burst_key = (key, burst_window, math.floor(now / burst_window))
        steady_key = (key, steady_window, math.floor(now / steady_window))
        with self._lock:
            if now >= self._next_prune:
                self._prune(now, steady_window)
            counts = self._counts
            burst_used, steady_used = counts.get(burst_key, 0), counts.get(steady_key, 0)
            decision = _decide(now, burst_used, steady_used, limit, burst_window, steady_window)
            if decision.allowed:
                counts[burst_key] = burst_used + 1
                counts[steady_key] = steady_used + 1
        return decision

    def _prune(self, now: float, steady_window: int) -> None:
        """Drop counters of windows that have ended (at most once per steady window)."""
        if now < self._next_prune:
            return
        self._next_prune = now + steady_window
        self._counts = {k: v for k, v in self._counts.items() if (k[2] + 1) * k[1] > now}

    async def close(self) -> None:
        self._counts.clear()


# Reads both windows, admits and counts atomically; returns {admitted, steady used, now} with Redis's clock.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local bw, sw = tonumber(ARGV[3]), tonumber(ARGV[4])
local bkey = KEYS[1] .. ':b' .. bw .. ':' .. math.floor(now / bw)
local skey = KEYS[1] .. ':s' .. sw .. ':' .. math.floor(now / sw)
local b = tonumber(redis.call('GET', bkey) or '0')
local s = tonumber(redis.call('GET', skey) or '0')
if b >= tonumber(ARGV[1]) or s >= tonumber(ARGV[2]) then
  return {0, b, s, t[1], t[2]}
end
redis.call('INCR', bkey)
redis.call('EXPIRE', bkey, bw + 1)
redis.call('INCR', skey)
redis.call('EXPIRE', skey, sw + 1)
return {1, b, s, t[1], t[2]}
"""


class RedisLimiter:
    """Counters in Redis, shared by every worker and host that uses the same Redis."""

    shared = True

    def __init__(self, url: str, prefix: str = "footfall:rl:") -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self._client.register_script(_SCRIPT)
        self._prefix = prefix

    async def hit(self, key: str, limit: Limit, burst_window: int, steady_window: int) -> Decision:
        _, burst_used, steady_used, sec, usec = await self._script(
            keys=[self._prefix + key], args=[limit.burst, limit.steady, burst_window, steady_window])
        now = int(sec) + int(usec) / 1_000_000
        return _decide(now, int(burst_used), int(steady_used), limit, burst_window, steady_window)

    async def close(self) -> None:
        await self._client.aclose()


def make_limiter(redis_url: str | None) -> Limiter:
    return RedisLimiter(redis_url) if redis_url else MemoryLimiter()
