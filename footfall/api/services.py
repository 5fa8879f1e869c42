"""What every route needs, built once per process by the app's lifespan."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from starlette.concurrency import run_in_threadpool

from footfall.api.fastpath import Incoming
from footfall.config import Settings
from footfall.ingest.pipeline import Pipeline
from footfall.store import accounts
from footfall.store.accounts import Account, KeyGrant
from footfall.store.db import Conn
from footfall.store.ratelimit import Limiter
from footfall.store.reader import Readers

T = TypeVar("T")
KEY_CACHE_SECONDS = 30.0


@dataclass
class Services:
    settings: Settings
    pipeline: Pipeline
    readers: Readers
    limiter: Limiter | None = None  # None: rate limits are off
    _public: dict[str, tuple[float, Account]] = field(default_factory=dict)
    _private: dict[str, tuple[float, KeyGrant]] = field(default_factory=dict)

    async def read(self, fn: Callable[[Conn], T]) -> T:
        """Run fn(conn) on a read connection in the thread pool."""

        def run() -> T:
            with self.readers.connection() as conn:
                return fn(conn)

        return await run_in_threadpool(run)

    async def account_for_public_key(self, key: str) -> Account | None:
        """Cached for a short time so the hot path does not query; unknown keys are never cached."""
        if not (0 < len(key) <= 16 and key.isascii() and key.isalnum()):
            return None  # not a key we issue; never sent to the database (PostgreSQL refuses NUL bytes)
        hit = self._public.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        account = await self.read(lambda conn: accounts.by_public_key(conn, key))
        if account is not None:
            self._public[key] = (time.monotonic() + KEY_CACHE_SECONDS, account)
        return account

    async def grant_for_private_key(self, key: str) -> KeyGrant | None:
        hit = self._private.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        grant = await self.read(lambda conn: accounts.by_private_key(conn, key))
        if grant is not None:
            self._private[key] = (time.monotonic() + KEY_CACHE_SECONDS, grant)
        return grant


def services(request: Incoming) -> Services:
    return request.scope["app"].state.services
