"""Handlers hand operations to one writer thread, which commits them in groups and then answers.

The database work itself is a Committer's (footfall/ingest/committer.py): the server runs it in a
writer process of its own (footfall/ingest/writer_process.py), so the event loop answering
requests and the commits do not take turns on one interpreter lock.

An acknowledgement therefore means committed. The queue is bounded by items and bytes; when it is
full, or the store is unreachable, or the writer has died, submit() raises at once so the handler
can answer 503 with Retry-After instead of buffering without limit.

A handler never waits unboundedly either: if its commit has not been confirmed within
`ack_timeout` seconds (a stalled database: locked, paused, a hung socket), submit() raises
Unavailable. The operation may still commit later; that is safe because clients retry a 503 with
the same $event_id / unique_id and the store drops the duplicate (at-least-once + dedup). While
the writer has been stuck on one commit for over `stall_after` seconds, new work is refused at
once instead of being queued behind it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from footfall.ingest.committer import Committer
from footfall.failures import CommitFailed, StoreDown
from footfall.refusals import InternalError, Overloaded, StoreUnavailable, Unavailable

log = logging.getLogger("footfall.ingest")

RECONNECT_INTERVAL = 0.5
# Admit work only while it can be committed within this share of the ack timeout, at the drain rate.
WAIT_BUDGET = 0.5
# Batches smaller than this say little about the drain rate (fixed per-commit costs dominate).
DRAIN_SAMPLE_MIN = 20
# A batch is sized to commit within this share of stall_after at the drain rate, so that a commit
# outlasting stall_after means a stalled store, not a big batch on a busy machine.
COMMIT_SHARE = 0.25
LAG_TICK = 0.025  # seconds between two checks of how far the event loop runs behind (watch_loop)


@dataclass
class _Item:
    op: Any
    size: int
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    # Set on the event loop when the caller stopped waiting (answered 503): the writer then skips it
    # rather than spend commit time on work nobody will be told about.
    expired: bool = False


@dataclass
class Stats:
    committed_ops: int = 0
    commits: int = 0
    failed_batches: int = 0
    rejected_overload: int = 0
    rejected_unavailable: int = 0
    timed_out: int = 0
    last_error: str | None = None
    # Writes that failed since the last one that succeeded (a full disk, a read-only store, a trigger
    # refusing): the store answers reads, so only this says the server cannot store anything.
    write_failures: int = 0
    write_error: str | None = None
    extra: dict[str, int] = field(default_factory=dict)


class Pipeline:
    def __init__(
        self,
        committer: Committer,
        *,
        max_items: int = 20_000,
        max_bytes: int = 64 * 1024 * 1024,
        batch_max: int = 1000,
        retry_after: int = 1,
        ack_timeout: float = 5.0,
        stall_after: float = 2.0,
        lag_limit: float = 0.25,
    ) -> None:
        self._committer = committer
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._batch_max = batch_max
        self.retry_after = retry_after
        self.ack_timeout = ack_timeout
        self.stall_after = stall_after
        self.lag_limit = lag_limit
        self._busy_since: float | None = None  # monotonic start of the commit in flight
        self._drain_rate: float | None = None  # ops committed per second of commit time (EWMA)
        self._queue: deque[_Item] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._writer_waits = False  # the writer waits on _cond for work (read and set under its lock)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._running = False  # the writer thread is between start() and its end (read per request)
        self._deadlines: dict[asyncio.AbstractEventLoop, _Deadlines] = {}  # submits waiting, per event loop
        self.store_ok = False
        self.writer_error: str | None = None
        self.stats = Stats()
        self._listeners: list[Callable[[list[tuple[Any, Any]]], None]] = []
        self._first_attempt = threading.Event()
        self.loop_lag = 0.0  # seconds the event loop ran behind at its last check (watch_loop)
        # After each group commit, on the writer thread, once its callers are answered: (ops, seconds,
        # ops still queued, the committed (op, result) pairs); for metrics.
        self.on_commit_timing: Callable[[int, float, int, list[tuple[Any, Any]]], None] | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self, wait: float = 5.0) -> None:
        """Start the writer and wait (up to `wait` s) for its first connection attempt, so the first
        requests do not meet a writer that is still connecting and get a needless 503."""
        self._thread = threading.Thread(target=self._supervised, name="footfall-writer", daemon=True)
        self._running = True
        try:
            self._thread.start()
        except BaseException:
            self._running = False
            raise
        self._first_attempt.wait(wait)

    def watch_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Measure how far `loop` runs behind its timers, for admission (lag_limit; 0: not at all).

        When the event loop itself is the bottleneck (a heavy offer: the writer keeps up, parsing
        and answering does not), every request it admits costs more than the refusals it could
        answer instead, and answers come later and later. Refusing new work while it lags keeps the
        answers prompt; the work is retried by clients after Retry-After."""
        if self.lag_limit <= 0:
            return

        def tick(expected: float) -> None:
            now = loop.time()
            # A late tick is remembered, halving per tick: one timely tick between two stalls of a
            # saturated loop must not open the door to a burst.
            self.loop_lag = max(now - expected, self.loop_lag / 2)
            if not self._stopping:
                loop.call_at(now + LAG_TICK, tick, now + LAG_TICK)

        loop.call_soon(tick, loop.time())

    def stop(self, timeout: float = 30.0) -> int:
        """Stop taking work, commit what is queued, and end the writer; how many were queued."""
        with self._cond:
            self._stopping = True
            queued = len(self._queue)
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        return queued

    def add_listener(self, fn: Callable[[list[tuple[Any, Any]]], None]) -> None:
        """fn(committed) runs on the writer thread after each commit, with (op, result) pairs."""
        self._listeners.append(fn)

    @property
    def alive(self) -> bool:
        # A flag the writer thread clears as it ends, not Thread.is_alive(): that takes the thread's
        # lock, twice per request (admission is checked before parsing and again when queueing).
        return self._running and self.writer_error is None

    @property
    def stalled(self) -> bool:
        """The writer has been inside one commit for longer than stall_after seconds."""
        since = self._busy_since
        return since is not None and time.monotonic() - since > self.stall_after

    def health(self) -> dict[str, Any]:
        return {
            "writer": "running" if self.alive else f"dead: {self.writer_error or 'not started'}",
            "writer_pid": self._committer.pid,
            "stalled": self.stalled,
            "store": "ok" if self.store_ok else "unavailable",
            "writes": f"failing: {self.stats.write_error}" if self.writes_failing else "ok",
            "queued": len(self._queue),
            "queued_bytes": self._bytes,
            "committed": self.stats.committed_ops,
            "commits": self.stats.commits,
            "rejected_overload": self.stats.rejected_overload,
            "loop_lag_ms": round(self.loop_lag * 1000, 1),
            "rejected_unavailable": self.stats.rejected_unavailable,
            "timed_out": self.stats.timed_out,
            "last_error": self.stats.last_error,
        }

    # -- submit (event loop side) -----------------------------------------------------------------
    async def submit(self, op: Any, size: int = 0) -> Any:
        """Queue op; return its result once committed. Raises Overloaded / Unavailable at once."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        item = _Item(op, size, future, loop)
        self._put(item)
        return await self._bounded(future, [item])

    async def submit_many(self, ops: list[Any], size: int = 0) -> list[Any]:
        """Queue several ops as one unit of admission (all or none are queued)."""
        loop = asyncio.get_running_loop()
        items = [_Item(op, size // max(len(ops), 1), loop.create_future(), loop) for op in ops]
        self._put(*items)
        return list(await self._bounded(asyncio.gather(*(item.future for item in items)), items))

    async def _bounded(self, future: Any, items: list[_Item]) -> Any:
        """Await the commit for at most ack_timeout; on timeout the op may still commit later.

        The timeout fails the future (asyncio.wait_for costs twice as much per request: an extra
        waiter future and callbacks), and the loop's timeouts share one timer (_Deadlines) rather
        than one armed and cancelled per request; the writer skips futures already done."""
        loop = asyncio.get_running_loop()
        deadlines = self._deadlines.get(loop)
        if deadlines is None:
            deadlines = self._deadlines_for(loop)
        deadlines.add(loop.time() + self.ack_timeout, future, items)
        return await future

    def _deadlines_for(self, loop: asyncio.AbstractEventLoop) -> "_Deadlines":
        for closed in [other for other in self._deadlines if other.is_closed()]:
            del self._deadlines[closed]  # an event loop that ended with submits still waiting (a test's)
        deadlines = self._deadlines[loop] = _Deadlines(loop, self._expire)
        return deadlines

    def _expire(self, future: Any, items: list[_Item]) -> None:
        if future.done():
            return
        for item in items:
            item.expired = True
        self.stats.timed_out += 1
        future.set_exception(Unavailable(f"the database did not confirm the write within {self.ack_timeout:g}s; "
                                         "it may still be stored: retry with the same event id", self.retry_after))

    def check_admission(self) -> None:
        """Refuse at once, before a request is even parsed, when submit() would refuse it.

        Under overload most requests are refused; refusing them before decoding leaves the CPU to
        the writer. Read without the lock (a stale answer is harmless: _put checks again)."""
        self._admit(1, 0)

    def _admit(self, count: int, size: int) -> None:
        """Raise why `count` more items of `size` bytes cannot be queued now (NotAccepted), if so.

        Raised where made: a refusal held in a local while it propagates would make a reference
        cycle (traceback -> frame -> local) that keeps the request alive until the cyclic GC runs."""
        if not self.alive:
            self.stats.rejected_unavailable += 1
            raise Unavailable(f"the writer is not running ({self.writer_error or 'stopped'})", self.retry_after)
        if not self.store_ok:
            self.stats.rejected_unavailable += 1
            raise Unavailable("the database is unreachable; retry shortly", self.retry_after)
        if self.stalled:
            self.stats.rejected_unavailable += 1
            raise Unavailable("the database is not answering; retry shortly", self.retry_after)
        if self._stopping:
            raise Unavailable("the server is shutting down", self.retry_after)
        if self.loop_lag > self.lag_limit:  # loop_lag stays 0 unless watch_loop runs (lag_limit > 0)
            self.stats.rejected_overload += 1
            raise Overloaded("the server is too busy; retry shortly", self.retry_after)
        queued = len(self._queue) + count
        if (queued > self._max_items or self._bytes + size > self._max_bytes
                or self._expected_wait(queued) > self.ack_timeout * WAIT_BUDGET):
            self.stats.rejected_overload += 1
            raise Overloaded("the ingest queue is full; retry shortly", self.retry_after)

    def _put(self, *items: _Item) -> None:
        size = sum(item.size for item in items)
        with self._cond:
            # Checked under the lock: a writer dying now either sees these items (and fails them) or
            # has already said so, so nothing is left waiting in a queue nobody reads.
            self._admit(len(items), size)
            self._queue.extend(items)
            self._bytes += size
            if self._writer_waits:  # else it takes these after the commit it is in (Condition.notify: ~1 µs)
                self._cond.notify()

    # -- writer thread ----------------------------------------------------------------------------
    def _supervised(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # the writer must never die silently
            self.writer_error = f"{type(exc).__name__}: {exc}"
            log.exception("ingest writer died")
            self._fail_queued(Unavailable(f"the writer died ({self.writer_error})", self.retry_after))
        finally:
            self._first_attempt.set()
            try:
                self._committer.close()
            finally:
                self._running = False

    def _run(self) -> None:
        self._ensure_connection()
        self._first_attempt.set()
        while True:
            batch = self._take()
            if batch is None:
                return
            if not self._committer.connected and not self._ensure_connection():
                self._deliver(batch, [Unavailable("the database is unreachable; retry shortly", self.retry_after)] * len(batch))
                continue
            if batch:
                self._commit(batch)

    def _expected_wait(self, queued: int) -> float:
        """Seconds until the writer reaches the last of `queued` items, at its recent drain rate.

        Admitting work that would wait past the ack timeout only produces 503s after the fact (and
        commits nobody is told about), so it is refused at the door instead."""
        rate = self._drain_rate
        return queued / rate if rate else 0.0

    def _batch_limit(self) -> int:
        rate = self._drain_rate
        if not rate:
            return self._batch_max
        return max(DRAIN_SAMPLE_MIN, min(self._batch_max, int(rate * self.stall_after * COMMIT_SHARE)))

    def _take(self) -> list[_Item] | None:
        """Wait for work; return up to _batch_limit() items, [] to retry a connection, None to stop."""
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return None
                if not self._committer.connected:
                    return []  # reconnect now; a failed attempt waits RECONNECT_INTERVAL before the next
                self._writer_waits = True
                try:
                    self._cond.wait(1.0)
                finally:
                    self._writer_waits = False
            n = min(len(self._queue), self._batch_limit())
            batch = [self._queue.popleft() for _ in range(n)]
            self._bytes -= sum(item.size for item in batch)
        # Items whose callers already gave up (answered 503) are not stored: they will be retried.
        return [item for item in batch if not item.expired]

    def _ensure_connection(self) -> bool:
        if self._committer.connected:
            return True
        try:
            self._committer.connect()
        except StoreUnavailable as exc:
            self._mark_down(str(exc))
            time.sleep(RECONNECT_INTERVAL)
            return False
        if not self.store_ok:
            if self._first_attempt.is_set():
                log.warning("store reachable again: the ingest writer reconnected")
            else:
                log.info("ingest writer connected to the store")
        self.store_ok = True
        return True

    def _mark_down(self, reason: str) -> None:
        if self.store_ok or not self._first_attempt.is_set():
            log.error("store unavailable: %s", reason)
        self.store_ok = False
        self.stats.last_error = reason

    def _commit(self, batch: list[_Item]) -> None:
        ops = [item.op for item in batch]
        self._busy_since = time.monotonic()
        try:
            results = self._committer.commit(ops)
        except (StoreDown, CommitFailed) as exc:
            self._busy_since = None
            self.stats.failed_batches += 1
            if isinstance(exc, StoreDown):
                self._mark_down(str(exc))
                err = Unavailable("the database is unreachable; retry shortly", self.retry_after)
            else:
                self.stats.last_error = str(exc)
                err = Unavailable("the store refused the write; retry shortly", self.retry_after)
            self._note_writes(str(exc))
            self._deliver(batch, [err] * len(batch))
            return
        elapsed = time.monotonic() - self._busy_since
        self._busy_since = None
        self._note_drain(len(batch), elapsed)
        self.stats.commits += 1
        self.stats.committed_ops += len(batch)
        failed = [r for r in results if isinstance(r, InternalError)]
        self._note_writes(str(failed[0]) if results and len(failed) == len(results) else None)
        self._deliver(batch, results)
        committed = [(op, r) for op, r in zip(ops, results) if not isinstance(r, BaseException)]
        if self.on_commit_timing is not None:
            self.on_commit_timing(len(batch), elapsed, len(self._queue), committed)
        for listener in self._listeners:
            try:
                listener(committed)
            except Exception:
                log.exception("after-commit listener failed")

    def _note_writes(self, error: str | None) -> None:
        """A group's writes all failed (error), or at least one was stored (None)."""
        if error is None:
            self.stats.write_failures, self.stats.write_error = 0, None
            return
        if self.stats.write_failures == 0:
            log.error("writes are failing: %s", error)
        self.stats.write_failures += 1
        self.stats.write_error = error

    @property
    def writes_failing(self) -> bool:
        return self.stats.write_failures > 0

    def _note_drain(self, ops: int, seconds: float) -> None:
        """Exponentially weighted ops committed per second of commit time (for admission)."""
        if seconds <= 0 or ops < DRAIN_SAMPLE_MIN or seconds > self.stall_after:
            return  # a stalled commit measures the outage, not what the writer can drain
        rate = ops / seconds
        self._drain_rate = rate if self._drain_rate is None else 0.8 * self._drain_rate + 0.2 * rate

    def _deliver(self, batch: list[_Item], results: list[Any]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, Any]]] = {}
        for item, result in zip(batch, results):
            by_loop.setdefault(item.loop, []).append((item.future, result))
        for loop, pairs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, pairs)
            except RuntimeError:  # that event loop is closed; nobody is waiting any more
                pass

    def _fail_queued(self, error: Exception) -> None:
        with self._cond:
            items = list(self._queue)
            self._queue.clear()
            self._bytes = 0
        self._deliver(items, [error] * len(items))


class _Deadlines:
    """When the submits waiting on one event loop time out. Each waits ack_timeout, so they fall due
    in the order they were made: one timer, armed for the oldest still waiting, serves them all. It
    replaces a timer per request (armed, then cancelled, and left in the loop's heap until the loop
    sweeps it: ~3 µs a request). Commits answer in that order too, so the answered are dropped
    from the front as new submits arrive."""

    __slots__ = ("_loop", "_expire", "_waiting", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, expire: Callable[[Any, list[_Item]], None]) -> None:
        self._loop = loop
        self._expire = expire
        self._waiting: deque[tuple[float, Any, list[_Item]]] = deque()  # (due, future, items), oldest first
        self._timer: asyncio.TimerHandle | None = None

    def add(self, due: float, future: Any, items: list[_Item]) -> None:
        waiting = self._waiting
        while waiting and waiting[0][1].done():
            waiting.popleft()
        if waiting and due < waiting[-1][0]:  # the ack timeout was shortened meanwhile: a timer of its own
            self._loop.call_at(due, self._expire, future, items)
            return
        waiting.append((due, future, items))
        if self._timer is None:
            self._timer = self._loop.call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self._loop.time()
        waiting = self._waiting
        while waiting:
            due, future, items = waiting[0]
            if not future.done():
                if due > now:
                    self._timer = self._loop.call_at(due, self._fire)
                    return
                self._expire(future, items)
            waiting.popleft()


def _resolve(pairs: list[tuple[asyncio.Future, Any]]) -> None:
    for future, result in pairs:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
