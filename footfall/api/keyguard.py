"""Key guessing: unknown keys are counted per client address, and an address over its budget gets
429 for any key it has not already shown to be valid, until its window ends.

A public key is 6 characters (36^6): unthrottled, a client can try hundreds a second and tell a valid
one from an invalid one by the answer. Counting only failures, per address, leaves valid traffic
alone (a dict lookup, no sleeping), and a sender whose key worked before the block keeps working
(its key is remembered for the address), so a guesser behind the same address cannot confirm a
guess while blocked. Addresses are the TCP peer: behind a proxy, every client shares its address
(unless the proxy is trusted, FOOTFALL_TRUSTED_PROXIES). Counted per worker process (in memory),
and with Redis also for all workers and hosts: each failure is counted there too, and a worker that
finds the address over the shared budget blocks it at once, so N hosts do not give a guesser N
budgets (each answers at most one more guess before it learns).
"""

from __future__ import annotations

import time
from typing import Awaitable, Callable, TypeVar

from footfall.domain.rate_limit_tiers import Limit
from footfall.observability.requests import note_account
from footfall.api.fastpath import Incoming
from footfall.refusals import KeysThrottled

T = TypeVar("T")
_MAX_ADDRESSES = 50_000  # memory bound: expired windows are pruned beyond this
_GOOD_KEYS_PER_ADDRESS = 32


class KeyGuard:
    def __init__(self, budget: int, window: float) -> None:
        self.budget = budget
        self.window = window
        self._failures: dict[str, list[float]] = {}  # address -> [window start, unknown keys in it]
        self._good: dict[str, set[str]] = {}

    def refusal(self, address: str, key: str, now: float | None = None) -> int | None:
        """Seconds to wait if this address may not try this key now, else None."""
        entry = self._failures.get(address)
        if entry is None:
            return None
        now = time.monotonic() if now is None else now
        if now - entry[0] >= self.window:
            del self._failures[address]
            return None
        if entry[1] < self.budget or key in self._good.get(address, ()):
            return None
        return max(1, int(entry[0] + self.window - now + 0.999))

    def record(self, address: str, key: str, valid: bool, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if valid:
            good = self._good.setdefault(address, set())
            if len(good) < _GOOD_KEYS_PER_ADDRESS:
                good.add(key)
            return
        entry = self._failures.get(address)
        if entry is None or now - entry[0] >= self.window:
            if len(self._failures) >= _MAX_ADDRESSES:
                self._prune(now)
            self._failures[address] = [now, 1]
        else:
            entry[1] += 1

    def block(self, address: str, now: float | None = None) -> None:
        """The address is over its budget elsewhere (another worker or host): refuse it here too."""
        self._failures[address] = [time.monotonic() if now is None else now, self.budget]

    def _prune(self, now: float) -> None:
        for address in [a for a, e in self._failures.items() if now - e[0] >= self.window]:
            del self._failures[address]
        if len(self._good) >= _MAX_ADDRESSES:
            self._good.clear()


async def checked_lookup(request: Incoming, key: str, lookup: Callable[[str], Awaitable[T | None]]) -> T | None:
    """lookup(key), counted against the caller's address; KeysThrottled when it is over budget."""
    guard: KeyGuard | None = getattr(request.scope["app"].state, "key_guard", None)
    if guard is None:
        return _noted(request, await lookup(key))
    client = request.scope.get("client")
    address = client[0] if client else "?"
    wait = guard.refusal(address, key)
    if wait is not None:
        raise KeysThrottled(wait)
    found = await lookup(key)
    guard.record(address, key, found is not None)
    if found is None:
        await _count_shared(request, guard, address)
    return _noted(request, found)


async def _count_shared(request: Incoming, guard: KeyGuard, address: str) -> None:
    """Count a failure in the shared counters (Redis), if there are any; over budget there, block here."""
    services = getattr(request.scope["app"].state, "services", None)
    limiter = getattr(services, "limiter", None)
    if not getattr(limiter, "shared", False):
        return
    window = max(1, round(guard.window))
    try:
        decision = await limiter.hit(f"unknown-keys:{address}", Limit(guard.budget, guard.budget), window, window)
    except Exception:  # Redis is away: this worker's own count still holds
        return
    if not decision.allowed:
        guard.block(address)


def _noted(request: Incoming, found: T | None) -> T | None:
    """Every key lookup passes here: the account it found is whose request this is (access log)."""
    if found is not None:
        note_account(request.scope, getattr(found, "account_id", None) or getattr(found, "id", None))
    return found
