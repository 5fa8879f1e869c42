"""Open-loop load: requests leave on a fixed schedule, whatever the server answers.

A closed-loop client (bench/loadgen.py) waits for each answer before sending the next, so when the
server slows down the offered rate collapses and "3x overload" never happens. Here a scheduler
releases requests at `rate` per second; each goes out on an idle keep-alive connection or a new
one. The only brake is a cap on requests in flight (a safety valve for the client's own sockets and
memory): a request due while the cap is reached is counted as offered but not sent, so the report
says how much of the offer really reached the server.

Every request carries fresh event ids (no retries: this measures the server, not a client's retry
policy). Per second of the run it records offered / sent / not sent, answers by status, and
acknowledged events; a sampler records the server's RSS (/proc) and ingest queue (/healthz).
Runs end by themselves: the schedule is finite and in-flight requests have a timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

from bench import rawhttp
from bench.routes import IngestRoute, Keys, Sent, random_event


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    rate: float  # requests per second offered
    on_start: Callable[[], None] | None = None  # e.g. SIGSTOP / SIGCONT the store


@dataclass
class Sample:
    t: float
    rss: int  # bytes, server processes
    queued: int | None  # ingest queue length from /healthz (None: no answer within the timeout)


@dataclass
class Record:
    """What happened, by whole second since the start of the run."""

    seconds: defaultdict[int, Counter] = field(default_factory=lambda: defaultdict(Counter))
    statuses: Counter = field(default_factory=Counter)
    acked: set[str] = field(default_factory=set)
    refused_without_retry_after: int = 0
    unexpected: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    phase_starts: dict[str, float] = field(default_factory=dict)
    max_in_flight: int = 0
    error_kinds: Counter = field(default_factory=Counter)  # connection errors by exception type

    def count(self, t: float, key: str, n: int = 1) -> None:
        self.seconds[int(t)][key] += n

    def total(self, key: str, t0: float = 0.0, t1: float = float("inf")) -> int:
        return sum(c[key] for s, c in self.seconds.items() if t0 <= s < t1)


class Requests:
    """Fresh single-event requests, round-robin over the routes, pre-encoded for the wire."""

    def __init__(self, routes: list[IngestRoute], keys: Keys, port: int) -> None:
        # Bulk routes carry many events per request; leaving them out keeps "rate" meaning one event.
        self.routes = itertools.cycle([r for r in routes if r.per_request == 1])
        self.keys = keys
        self.port = port

    def next(self) -> tuple[IngestRoute, Sent, bytes]:
        route = next(self.routes)
        event = random_event(uuid.uuid4().hex)
        return route, event, rawhttp.encode(route.build(self.keys, [event]), self.port)


class OpenLoop:
    def __init__(self, base_url: str, keys: Keys, routes: list[IngestRoute], *, max_in_flight: int = 1000,
                 timeout: float = 10.0, rss: Callable[[], int] = lambda: 0, sample_every: float = 0.25) -> None:
        self.port = rawhttp.loopback_port(base_url)
        self.requests = Requests(routes, keys, self.port)
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.rss = rss
        self.sample_every = sample_every
        self.record = Record()
        self._idle: list[rawhttp.Connection] = []
        self._in_flight = 0
        self._t0 = 0.0

    def now(self) -> float:
        return time.monotonic() - self._t0

    # -- open loop --------------------------------------------------------------------------------
    def run(self, phases: list[Phase]) -> Record:
        return _run(self._open(phases))

    async def _open(self, phases: list[Phase]) -> Record:
        self._t0 = time.monotonic()
        sampler = asyncio.create_task(self._sample())
        tasks: set[asyncio.Task] = set()
        start = 0.0
        for phase in phases:
            self.record.phase_starts[phase.name] = self.now()
            if phase.on_start:
                phase.on_start()
            start = self.now()
            released = 0
            while (elapsed := self.now() - start) < phase.seconds:
                due = int(elapsed * phase.rate)
                for _ in range(due - released):
                    self._release(tasks)
                released = max(released, due)
                await asyncio.sleep(0.002)
        self.record.phase_starts["end"] = self.now()
        if tasks:  # bounded: every request has a timeout
            await asyncio.wait(tasks, timeout=self.timeout + 2)
        sampler.cancel()
        self._close_all()
        return self.record

    def _release(self, tasks: set[asyncio.Task]) -> None:
        t = self.now()
        self.record.count(t, "offered")
        if self._in_flight >= self.max_in_flight:
            self.record.count(t, "not_sent")
            return
        self.record.count(t, "sent")
        self._in_flight += 1
        self.record.max_in_flight = max(self.record.max_in_flight, self._in_flight)
        task = asyncio.create_task(self._one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _one(self) -> bool:
        route, event, raw = self.requests.next()
        conn: rawhttp.Connection | None = None
        try:
            conn = self._idle.pop() if self._idle else await rawhttp.Connection.open(self.port)
            answer = await asyncio.wait_for(conn.exchange(raw), self.timeout)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ValueError) as exc:
            if conn:
                conn.close()
            self.record.count(self.now(), "timeout" if isinstance(exc, asyncio.TimeoutError) else "error")
            self.record.error_kinds[type(exc).__name__] += 1
            return False
        finally:
            self._in_flight -= 1
        if conn.reusable:
            self._idle.append(conn)
        else:
            conn.close()
        return self._note(route, event, answer)

    def _note(self, route: IngestRoute, event: Sent, answer: rawhttp.Answer) -> bool:
        t, rec = self.now(), self.record
        rec.statuses[answer.status] += 1
        rec.count(t, str(answer.status))
        if route.acked(answer.status, answer.body):
            rec.acked.add(event.event_id)
            rec.count(t, "acked")
            return True
        if answer.status in (429, 503):
            if not answer.headers.get("retry-after", "").isdigit():
                rec.refused_without_retry_after += 1
        else:
            rec.unexpected.append(f"{route.name}: {answer.status} {answer.body[:200]!r}")
        return False

    # -- closed loop (the sustainable rate) -------------------------------------------------------
    def sustainable_rate(self, seconds: float = 3.0, concurrency: int = 16, warmup: float = 1.0) -> float:
        """Acknowledged requests/s of `concurrency` back-to-back senders against the healthy server,
        measured with this same client so that its CPU cost is the same as in the open loop."""
        return _run(self._closed(seconds, concurrency, warmup))

    async def _closed(self, seconds: float, concurrency: int, warmup: float) -> float:
        self._t0 = time.monotonic()
        acks: list[float] = []

        async def sender() -> None:
            while self.now() < warmup + seconds:
                self._in_flight += 1
                if await self._one():
                    acks.append(self.now())

        await asyncio.gather(*(sender() for _ in range(concurrency)))
        self._close_all()
        return sum(1 for t in acks if t >= warmup) / seconds

    # -- server readings --------------------------------------------------------------------------
    async def _sample(self) -> None:
        health = rawhttp.encode(rawhttp.Request("GET", "/healthz", {}, {}, None), self.port)
        conn: rawhttp.Connection | None = None
        while True:
            queued = None
            try:
                conn = conn if conn and conn.reusable else await rawhttp.Connection.open(self.port)
                answer = await asyncio.wait_for(conn.exchange(health), 1.0)
                queued = int(json.loads(answer.body)["queued"])
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, KeyError, ValueError):
                if conn:
                    conn.close()
                conn = None
            self.record.samples.append(Sample(self.now(), self.rss(), queued))
            await asyncio.sleep(self.sample_every)

    def _close_all(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()


def _run(coro):
    """Run on uvloop when it is installed (it comes with uvicorn[standard]): the client shares the
    machine with the server, and every microsecond it spends per request is taken from the server."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)
