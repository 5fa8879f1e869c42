"""Prometheus metrics: one definition of each, and the /metrics exposition.

prometheus_client is imported only when metrics are switched on (FOOTFALL_METRICS, default on) and
the first one is recorded, so `import footfall.app` does not pay for it. Under `footfall serve`
PROMETHEUS_MULTIPROC_DIR points into the run directory serve owns (footfall/observability/rundir.py):
every worker and every writer process writes its own files there and /metrics adds them up, so the
answer is the server's, whichever worker gives it.

Labels are bounded: `route` is a route template (or "other" for paths no route serves), `method`
one of a fixed set, `status` an HTTP status, `reason` a refusal code from the code base, `outcome`
a webhook verdict kind. Never an account, a key, a path or a query.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections import deque
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Request latency buckets (seconds): ingest answers in ~1 ms, reads and bulk writes take longer.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
FLUSH_SECONDS = 1.0  # request counts reach the shared files this often (and before every scrape)
# Group commits counted but not yet flushed past which the writer thread flushes them itself (the
# event loop's flush is not running: an app without its lifespan's flushing task).
COMMITS_PENDING_MAX = 10_000


class Metrics:
    """Every Footfall metric, created once per process (get())."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter("footfall_http_requests", "HTTP requests answered, by route template, method and status.",
                                ["route", "method", "status"])
        self.latency = Histogram("footfall_http_request_duration_seconds", "Time to answer an HTTP request.",
                                 ["route", "method"], buckets=LATENCY_BUCKETS)
        self.response_bytes = Counter("footfall_http_response_body_bytes", "Response body bytes sent, by route template.",
                                      ["route"])
        self.rate_limited = Counter("footfall_rate_limited_requests", "Requests answered 429 (rate limit or key guessing).",
                                    ["route"])
        self.ingested = Counter("footfall_events_ingested", "Events stored (committed).")
        self.deduplicated = Counter("footfall_events_deduplicated", "Events acknowledged but already stored (same dedup key).")
        self.refused = Counter("footfall_events_refused", "Ingest requests refused, by reason.", ["reason"])
        self.queue_depth = Gauge("footfall_ingest_queue_depth", "Operations waiting for the writer.",
                                 multiprocess_mode="livesum")
        self.commit_size = Histogram("footfall_group_commit_size", "Operations per group commit.", buckets=SIZE_BUCKETS)
        self.commit_latency = Histogram("footfall_group_commit_duration_seconds",
                                        "Time of one group commit, as the server's writer thread waits for it.",
                                        buckets=LATENCY_BUCKETS)
        self.store_transaction = Histogram("footfall_store_transaction_duration_seconds",
                                           "Time of one group's database transaction, in the writer process.",
                                           buckets=LATENCY_BUCKETS)
        self.writer_restarts = Counter("footfall_writer_restarts", "Writer processes started again after one ended.")
        self.deliverer_restarts = Counter("footfall_deliverer_restarts",
                                          "Webhook deliverer processes started again after one ended.")
        self.segment_recheck = Histogram("footfall_segment_recheck_duration_seconds",
                                         "Time to re-check segment membership after commits.", buckets=LATENCY_BUCKETS)
        self.segment_touches = Counter("footfall_segment_rechecked_writes",
                                       "Committed writes whose profile was re-checked for segment membership.")
        self.segment_full_evaluations = Counter("footfall_segment_full_evaluations",
                                                "Segments evaluated in full (a new or changed definition).")
        self.segment_sweeps = Counter("footfall_segment_sweeps",
                                      "Time-relative segments re-checked for time passing (one worker of a cluster does each).")
        self.webhook_attempts = Counter("footfall_webhook_delivery_attempts", "Webhook delivery attempts, by outcome.",
                                        ["outcome"])
        self.webhook_messages = Counter("footfall_webhook_messages_delivered", "Messages delivered to webhooks.")
        # Per request only plain counting here (in multiprocess mode each inc / observe is a locked
        # write into a memory-mapped file, several per request); flush() hands the sums over.
        self._pending: dict[tuple[str, str, int], list[Any]] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        # Group commits the same way, from the pipeline's writer thread: a deque, whose append and
        # popleft are atomic, so that a flush on the event loop loses none (swapping a dict would
        # lose an update made between the writer's read of it and its write). Recording them at once
        # cost ~55k instructions per commit (two histograms, a gauge and a counter, each locked).
        self._commits: deque[tuple[int, float, int, int, int]] = deque()

    def group_committed(self, size: int, seconds: float, queued: int, stored: int, duplicate: int) -> None:
        """One group commit: its ops, seconds, ops still queued, events stored and events already stored."""
        commits = self._commits
        commits.append((size, seconds, queued, stored, duplicate))
        if len(commits) > COMMITS_PENDING_MAX:
            self._flush_commits()

    def request(self, route: str, method: str, status: int, seconds: float, size: int) -> None:
        """One answered request, counted in process until the next flush()."""
        key = (route, method, status)
        acc = self._pending.get(key)
        if acc is None:
            acc = self._pending[key] = [0, 0.0, [0] * (len(LATENCY_BUCKETS) + 1), 0]
        acc[0] += 1
        acc[1] += seconds
        acc[2][bisect_left(LATENCY_BUCKETS, seconds)] += 1  # Prometheus' bucket: the first bound >= seconds
        acc[3] += size

    def flush(self) -> None:
        """Add the requests and commits counted since the last flush to the metrics (the event loop's thread)."""
        self._flush_commits()
        pending, self._pending = self._pending, {}
        for key, (count, total, buckets, size) in pending.items():
            children = self._children.get(key)
            if children is None:
                route, method, status = key
                m = method if method in METHODS else "OTHER"
                children = self._children[key] = (self.requests.labels(route, m, str(status)),
                                                  self.latency.labels(route, m), self.response_bytes.labels(route))
            counter, histogram, sent = children
            counter.inc(count)
            # Histogram.observe takes one value; these are its own bucket and sum values (pinned 0.26.0).
            for i, n in enumerate(buckets):
                if n:
                    histogram._buckets[i].inc(n)
            histogram._sum.inc(total)
            if size:
                sent.inc(size)

    def _flush_commits(self) -> None:
        """The group commits counted so far, into the metrics (from any thread: each is taken once)."""
        commits = self._commits
        if not commits:
            return
        sizes = [0] * (len(SIZE_BUCKETS) + 1)
        latencies = [0] * (len(LATENCY_BUCKETS) + 1)
        size_sum = seconds_sum = 0.0
        stored = duplicate = 0
        queued = None
        while True:
            try:
                size, seconds, queued, s, d = commits.popleft()
            except IndexError:
                break
            sizes[bisect_left(SIZE_BUCKETS, size)] += 1
            latencies[bisect_left(LATENCY_BUCKETS, seconds)] += 1
            size_sum += size
            seconds_sum += seconds
            stored += s
            duplicate += d
        if queued is None:  # another thread took them meanwhile
            return
        for histogram, buckets, total in ((self.commit_size, sizes, size_sum), (self.commit_latency, latencies, seconds_sum)):
            for i, n in enumerate(buckets):
                if n:
                    histogram._buckets[i].inc(n)
            histogram._sum.inc(total)
        self.queue_depth.set(queued)  # as the latest of these commits left it
        if stored:
            self.ingested.inc(stored)
        if duplicate:
            self.deduplicated.inc(duplicate)


_metrics: Metrics | None = None
_enabled: bool | None = None


def configure(enabled: bool) -> None:
    """Switch metrics on or off for this process (the app's settings; FOOTFALL_METRICS)."""
    global _enabled
    _enabled = enabled


def get() -> Metrics | None:
    """This process's metrics (None: switched off)."""
    global _metrics, _enabled
    if _metrics is not None:
        return _metrics
    if _enabled is None:  # a process that never read settings (the writer process): the environment's
        from footfall.config import _env_switch

        _enabled = _env_switch(os.environ, "FOOTFALL_METRICS", True)
    if not _enabled:
        return None
    _metrics = Metrics()
    return _metrics


def exposition() -> tuple[bytes, str]:
    """The text exposition of every process's metrics (multiprocess mode) or of this one's."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    m = get()
    if m is not None:
        m.flush()  # this process's latest; the others flush every FLUSH_SECONDS
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_ended(pid: int) -> None:
    """A process's live gauges (queue depth) stop counting once it ends."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def serve_port(host: str, port: int) -> None:
    """/metrics on a port of its own, from a thread of `footfall serve` (any path answers)."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, os.environ[MULTIPROC_ENV])
    start_http_server(port, addr=host, registry=registry)
