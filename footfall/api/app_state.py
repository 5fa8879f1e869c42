"""What every route needs, built once per process by the app's lifespan."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from starlette.concurrency import run_in_threadpool

from footfall.api.fastpath import Incoming
from footfall.api.key_cache import LastUsed, TtlCache
from footfall.config import Settings
from footfall.ingest.pipeline import Pipeline
from footfall.store import accounts, keys
from footfall.store.accounts import Account, KeyGrant
from footfall.store.conn import Conn
from footfall.store.rate_limit_counters import Limiter
from footfall.store.reader import Readers

T = TypeVar("T")
log = logging.getLogger("footfall.keys")


@dataclass
class Services:
    settings: Settings
    pipeline: Pipeline
    readers: Readers
    limiter: Limiter | None = None  # None: rate limits are off
    last_used: LastUsed = field(default_factory=LastUsed)

    def __post_init__(self) -> None:
        # Cached for under a second (api/key_cache.py): revocation and account deletion reach every worker.
        self._public = TtlCache(lambda key: self.read(lambda conn: accounts.by_public_key(conn, key)))
        self._private = TtlCache(lambda key: self.read(lambda conn: keys.by_private_key(conn, key)))
        self._write = TtlCache(lambda key: self.read(lambda conn: keys.by_write_key(conn, key)))

    async def read(self, fn: Callable[[Conn], T]) -> T:
        """Run fn(conn) on a read connection in the thread pool."""

        def run() -> T:
            with self.readers.connection() as conn:
                return fn(conn)

        return await run_in_threadpool(run)

    async def account_for_public_key(self, key: str) -> Account | None:
        """The account of a public key; cached briefly so the hot path rarely queries."""
        if not (0 < len(key) <= 16 and key.isascii() and key.isalnum()):
            return None  # not a key we issue; never sent to the database (PostgreSQL refuses NUL bytes)
        return await self._public.get(key)

    async def grant_for_private_key(self, key: str) -> KeyGrant | None:
        """The grant of a live private key (None: unknown, revoked, or a write key)."""
        grant = await self._private.get(key)
        if grant is not None:
            self.last_used.saw(grant)
        return grant

    async def grant_for_write_key(self, key: str) -> KeyGrant | None:
        """The account (grant.account_id) and source (grant.key_id, grant.name) of a live write key,
        the Segment / PostHog source key; None: unknown, revoked, or a private key."""
        if not (0 < len(key) <= 128 and key.isascii() and key.isprintable()):
            return None
        grant = await self._write.get(key)
        if grant is not None:
            self.last_used.saw(grant)
        return grant

    async def flush_last_used(self) -> None:
        """Write the keys' last_used times that are due (called every few seconds by the lifespan)."""
        due = self.last_used.take()
        if not due:
            return
        try:
            await self.read(lambda conn: keys.touch_last_used(conn, due))
        except Exception as exc:  # the store may be down: last_used is a convenience, try again later
            self.last_used.put_back(due)
            log.warning("could not record when %d key(s) were last used: %s", len(due), exc)


_SERVICES = "footfall.services"


def services(request: Incoming) -> Services:
    """The app's Services, kept in the request's scope once looked up: Starlette's app.state answers
    through a __getattr__ after a failed attribute lookup (0.7 µs), and a request asks several times."""
    scope = request.scope
    found = scope.get(_SERVICES)
    if found is None:
        found = scope[_SERVICES] = scope["app"].state.services
    return found


def services_if_any(request: Incoming) -> Services | None:
    """services(request), or None in an app without them (one built for a test)."""
    found = request.scope.get(_SERVICES)
    if found is None:
        found = getattr(request.scope["app"].state, "services", None)
        if found is not None:
            request.scope[_SERVICES] = found
    return found
