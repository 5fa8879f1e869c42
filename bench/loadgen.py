"""A Python load client that remembers which event ids the server acknowledged.

Threads send events with unique ids over the given routes. An event whose request failed (no
answer, 503, 429) is retried later with the same id, as an SDK would, so a commit that happened
just before a crash but was never acknowledged tests deduplication. Acknowledged ids must all be
stored, each once.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench.routes import IngestRoute, Keys, Sent, random_event, send


@dataclass
class LoadStats:
    acked: set[str] = field(default_factory=set)
    sent_requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    connection_errors: int = 0
    connection_error_kinds: Counter = field(default_factory=Counter)  # exception name and text -> how many
    connection_error_times: list[float] = field(default_factory=list)  # monotonic time of each
    refused_without_retry_after: int = 0
    unexpected: list[str] = field(default_factory=list)  # 5xx other than 503, or answers we cannot explain
    refusal_latencies: list[float] = field(default_factory=list)  # seconds to a 503/429 answer
    ack_times: list[float] = field(default_factory=list)  # monotonic time of each acknowledgement
    max_latency: float = 0.0


class Load:
    """Run `threads` senders until stop(); stats are merged across threads."""

    def __init__(self, base_url: str, keys: Keys, routes: list[IngestRoute], *, threads: int = 8,
                 timeout: float = 30.0, pause: float = 0.0, retries: int = 20, seed: int | None = None,
                 backoff: float = 0.05) -> None:
        self.base_url = base_url
        self.keys = keys
        self.routes = routes
        self.threads = threads
        self.timeout = timeout
        self.pause = pause
        self.retries = retries
        self.backoff = backoff  # fraction of Retry-After to wait after a 503/429 (0: hammer)
        self.stats = LoadStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._rng = random.Random(seed)

    def start(self) -> "Load":
        for n in range(self.threads):
            t = threading.Thread(target=self._run, args=(n,), daemon=True, name=f"load-{n}")
            t.start()
            self._workers.append(t)
        return self

    def stop(self) -> LoadStats:
        self._stop.set()
        for t in self._workers:
            t.join(self.timeout + 5)
        return self.stats

    def _run(self, n: int) -> None:
        rng = random.Random(self._rng.random())
        pending: list[tuple[IngestRoute, list[Sent], int]] = []
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            while not self._stop.is_set():
                if pending:
                    route, events, tries = pending.pop(0)
                else:
                    route = rng.choice(self.routes)
                    events = [random_event(uuid.uuid4().hex, rng=rng) for _ in range(route.per_request)]
                    tries = 0
                if not self._send_once(client, route, events) and tries < self.retries:
                    pending.append((route, events, tries + 1))
                if self.pause:
                    time.sleep(self.pause)

    def _send_once(self, client: httpx.Client, route: IngestRoute, events: list[Sent]) -> bool:
        began = time.monotonic()
        try:
            r = send(client, route, self.keys, events)
        except httpx.HTTPError as exc:
            with self._lock:
                self.stats.sent_requests += 1
                self.stats.connection_errors += 1
                self.stats.connection_error_kinds[f"{type(exc).__name__}: {str(exc)[:70]}"] += 1
                self.stats.connection_error_times.append(time.monotonic())
            time.sleep(0.02)  # the server is down: do not spin
            return False
        elapsed = time.monotonic() - began
        ok = route.acked(r.status_code, r.content)
        with self._lock:
            s = self.stats
            s.sent_requests += 1
            s.statuses[r.status_code] += 1
            s.max_latency = max(s.max_latency, elapsed)
            if ok:
                s.acked.update(ev.event_id for ev in events)
                s.ack_times.append(time.monotonic())
            elif r.status_code in (429, 503):
                s.refusal_latencies.append(elapsed)
                if not r.headers.get("retry-after", "").isdigit():
                    s.refused_without_retry_after += 1
            else:
                s.unexpected.append(f"{route.name}: {r.status_code} {r.text[:200]}")
        if not ok and r.status_code in (429, 503) and self.backoff:
            time.sleep(min(float(r.headers.get("retry-after", "1") or 1), 1.0) * self.backoff)
        return ok

    def acks_between(self, t0: float, t1: float) -> int:
        with self._lock:
            return sum(1 for t in self.stats.ack_times if t0 <= t < t1)
