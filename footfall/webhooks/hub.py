"""Wake-ups within one server process (and on to its deliverer process, forward_to): "account A has new outbox messages" (or "webhook W has a
delivery to retry now"), from the writer thread and the membership worker to the deliverer's lanes
and the open streams. Only a hint: readers also poll (FOOTFALL_WEBHOOK_POLL_SECONDS), which is how
commits of other workers and hosts are noticed.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Callable, Iterable


class Hub:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._forward: list[Callable[[list[str]], None]] = []
        self._notified: dict[str, float] = {}  # key -> time.monotonic() its last notice woke the loop
        self.on_new_key: Callable[[], None] | None = None  # called (on the loop) when a key gets its first listener

    def forward_to(self, send: Callable[[list[str]], None]) -> None:
        """Pass every notice on to send (from the notifying thread), e.g. to another process's hub."""
        self._forward.append(send)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def notify(self, keys: Iterable[str]) -> None:
        """From any thread."""
        loop = self._loop
        wanted = set(keys)
        for send in self._forward:
            send(sorted(wanted))
        if loop is None or not wanted:
            return
        now = time.monotonic()
        for key in wanted:
            self._notified[key] = now
        # The loop is woken only when someone here listens for one of these keys: the writer thread
        # notifies after every commit, and waking an idle loop for nobody cost ~40k instructions per
        # commit. Nothing is missed: a listener registers (listen) before it reads, so one that
        # registers after this look reads what the commit wrote.
        waiters = self._waiters
        if not any(key in waiters for key in wanted):
            return
        try:
            loop.call_soon_threadsafe(self._wake, wanted)
        except RuntimeError:  # the loop is closed: nobody is waiting
            pass

    def notified_at(self, key: str) -> float:
        """When (time.monotonic()) the last notice for key came (notify); 0.0: none yet. Noted as it
        comes, before the loop wakes: a read begun after that already sees what the notice is about."""
        return self._notified.get(key, 0.0)

    def _wake(self, keys: set[str]) -> None:
        for key in keys:
            for event in self._waiters.get(key, ()):
                event.set()

    def listen(self, *keys: str) -> "Listener":
        """A standing registration: clear() it before reading, then wait() — a notify arriving while
        the read runs is not missed. On the event loop only; close() when done."""
        listener = Listener(self, keys)
        new = False
        for key in keys:
            new = new or key not in self._waiters
            self._waiters[key].add(listener.event)
        if new and self.on_new_key is not None:
            self.on_new_key()
        return listener

    def keys(self) -> list[str]:
        """The keys someone here listens for."""
        return sorted(self._waiters)

    def _drop(self, listener: "Listener") -> None:
        for key in listener.keys:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(listener.event)
                if not waiters:
                    del self._waiters[key]


class Listener:
    def __init__(self, hub: Hub, keys: tuple[str, ...]) -> None:
        self.hub = hub
        self.keys = keys
        self.event = asyncio.Event()

    def clear(self) -> None:
        self.event.clear()

    async def wait(self, timeout: float) -> bool:
        """Until notified (since the last clear()) or `timeout` seconds; True if notified."""
        if timeout <= 0:
            return self.event.is_set()
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def close(self) -> None:
        self.hub._drop(self)
