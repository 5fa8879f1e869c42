"""Webhooks: the kill -9 drill and the benchmark.

`python -m bench webhooks [--quick] [--backend B] [--rounds N]`: deliveries/s to a local receiver, ack -> webhook
received and ack -> stream latency (p50/p95), and ingest throughput with 3 webhooks subscribed against
none, measured in the same run (server pinned to CPU 0, load on CPU 1, as bench/ingest.py does),
with the CPU per event of each process (worker, writer, deliverer, PostgreSQL backends, this one).
The deliverer process inherits CPU 0: there it takes its CPU from ingest; `--deliverer-cpu 1` puts
it on the other core (shared with the load and the receivers on a 2-core machine), as a free core would.

`python -m bench crashtest` (`make crashtest`) also runs `drill`: under load, kill -9 the server N times
while deliveries run; every committed event and every segment join must reach the receiver at least
once, and a message received twice must be the same message (same id, same content).
tests/test_webhooks_crash.py runs a short form.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.crash import NO_RATE_LIMITS, database, ingest_routes, new_account
from bench.loadgen import Load
from bench.routes import METRICS, REVISION
from bench.server_proc import cpu_seconds, footfall_serve, postgres_backends
from footfall.domain import topics
from footfall.store import db
from tests.receivers import Receiver

SECRET = "bench-webhook-secret-0123456789"
DRILL_ENV = {**NO_RATE_LIMITS, "FOOTFALL_WEBHOOK_ALLOW": "127.0.0.1", "FOOTFALL_WEBHOOK_POLL_SECONDS": "0.2",
             "FOOTFALL_WEBHOOK_LEASE_SECONDS": "2", "FOOTFALL_WEBHOOK_RETRY_SCHEDULE": "0,0.5,1,1,1,1,1,1,1,1,1,1"}
EVENT_TOPICS = [topics.event_topic(m) for m in METRICS]


def _headers(key: str) -> dict[str, str]:
    return {"revision": REVISION, "content-type": "application/json", "authorization": f"Klaviyo-API-Key {key}"}


def create_webhook(base: str, key: str, url: str, topic_ids: list[str]) -> str:
    doc = {"data": {"type": "webhook", "attributes": {"name": "bench", "endpoint_url": url, "secret_key": SECRET},
                    "relationships": {"webhook-topics": {"data": [{"type": "webhook-topic", "id": t}
                                                                  for t in topic_ids]}}}}
    for _ in range(50):  # right after a load run the queue may still be refusing work (503)
        r = httpx.post(f"{base}/api/webhooks", json=doc, headers=_headers(key), timeout=10)
        if r.status_code != 503:
            break
        time.sleep(0.2)
    r.raise_for_status()
    return r.json()["data"]["id"]


def create_segment(base: str, key: str, database_url: str, account_id: str, metric: str) -> str:
    conn = db.connect(database_url)
    try:
        (metric_id,) = conn.one("SELECT id FROM metrics WHERE account_id = ? AND name = ?", (account_id, metric))
    finally:
        conn.close()
    definition = {"condition_groups": [{"conditions": [{
        "type": "profile-metric", "metric_id": metric_id, "measurement": "count",
        "measurement_filter": {"type": "numeric", "operator": "greater-than-or-equal", "value": 1},
        "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": 1, "unit": "day"}}]}]}
    r = httpx.post(f"{base}/api/segments", json={"data": {"type": "segment", "attributes": {
        "name": "bench", "definition": definition}}}, headers=_headers(key), timeout=10)
    r.raise_for_status()
    return r.json()["data"]["id"]


def seed(base: str, public_key: str) -> None:
    for metric in METRICS:
        r = httpx.post(f"{base}/api/track", json={"token": public_key, "event": metric,
                                                  "customer_properties": {"$email": "seed@example.com"},
                                                  "properties": {"$event_id": uuid.uuid4().hex}}, timeout=10)
        assert r.text == "1", r.text


def committed(database_url: str, account_id: str) -> tuple[set[str], set[str]]:
    """(ids of every stored event, ids of every segment:joined message in the outbox), but the seed
    person's: committed before the webhook existed, so never to be delivered to it."""
    conn = db.connect(database_url)
    try:
        seeded = conn.one("SELECT profile_id FROM profile_identifiers WHERE account_id = ? AND kind = 'email' "
                          "AND value = 'seed@example.com'", (account_id,))[0]
        events = {r[0] for r in conn.all("SELECT id FROM events WHERE account_id = ? AND profile_id <> ?",
                                         (account_id, seeded))}
        joins = {r[0] for r in conn.all("SELECT id FROM outbox WHERE account_id = ? AND topic = ? AND profile_id <> ?",
                                        (account_id, topics.SEGMENT_JOINED, seeded))}
    finally:
        conn.close()
    return events, joins


@dataclass
class DrillResult:
    backend: str
    kills: int
    events: int
    joins: int
    missing_events: list[str]
    missing_joins: list[str]
    requests: int
    received: int
    duplicates: int
    inconsistent: list[str] = field(default_factory=list)  # one message id with different contents, or one
    # join with two message ids

    @property
    def ok(self) -> bool:
        return not self.missing_events and not self.missing_joins and not self.inconsistent and self.events > 0

    def report(self) -> str:
        return (f"[webhooks-crash/{self.backend}] {self.kills} x kill -9 while delivering: committed events "
                f"{self.events}, segment joins {self.joins}; missing at the receiver: events "
                f"{len(self.missing_events)}, joins {len(self.missing_joins)}; {self.requests} requests, "
                f"{self.received} messages received, {self.duplicates} duplicates (same id, same content), "
                f"inconsistent {len(self.inconsistent)} -> {'PASS' if self.ok else 'FAIL'}")


def drill(backend: str, url: str, *, kills: int, up_between: tuple[float, float] = (1.0, 2.5),
          threads: int = 4, drain_timeout: float = 90.0, seed_value: int | None = None,
          log_path: str | None = None) -> DrillResult:
    rng = random.Random(seed_value)
    account = new_account(url)
    with Receiver() as rx:
        server = footfall_serve(url, env=DRILL_ENV, log_path=log_path)
        server.start()
        try:
            seed(server.url, account.keys.public_key)
            create_segment(server.url, account.keys.private_key, url, account.id, METRICS[0])
            create_webhook(server.url, account.keys.private_key, rx.url, [*EVENT_TOPICS, topics.SEGMENT_JOINED])
            routes = ingest_routes(server.url, account.keys, notice=lambda m: None)
            load = Load(server.url, account.keys, routes, threads=threads, timeout=10, seed=seed_value).start()
            for _ in range(kills):
                time.sleep(rng.uniform(*up_between))
                server.kill9()
                time.sleep(rng.uniform(0.0, 0.2))
                server.start(timeout=20)
            time.sleep(1.0)
            load.stop()
            events, joins = committed(url, account.id)
            deadline = time.monotonic() + drain_timeout
            while time.monotonic() < deadline:
                got = {m["external_id"] for m in rx.messages()}
                if events <= got and joins <= got:
                    break
                time.sleep(0.25)
                events, joins = committed(url, account.id)  # the segment worker may still be joining
        finally:
            server.stop()
        messages = rx.messages()
        requests = len(rx.received)
    got = {m["external_id"] for m in messages}
    contents: dict[str, set[str]] = defaultdict(set)
    join_ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for m in messages:
        contents[m["external_id"]].add(repr((m["topic"], m["payload"].get("id"), m["payload"].get("profile_id"))))
        if m["topic"] == topics.SEGMENT_JOINED:
            join_ids[(m["payload"]["id"], m["payload"]["profile_id"])].add(m["external_id"])
    inconsistent = [k for k, v in contents.items() if len(v) > 1]
    inconsistent += [f"join {k} under {sorted(v)}" for k, v in join_ids.items() if len(v) > 1]
    return DrillResult(backend, kills, len(events), len(joins), sorted(events - got), sorted(joins - got),
                       requests, len(messages), len(messages) - len(got), inconsistent)


# -- the benchmark ----------------------------------------------------------------------------------

def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _roles(server, database_url: str) -> dict[str, list[int]]:
    """The processes whose CPU the figures are read with: the server's worker, writer and deliverer
    processes, the PostgreSQL backends of its database, and this one (load generator and receivers)."""
    roles: dict[str, list[int]] = defaultdict(list)
    for pid in server.server_pids():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        role = ("writer" if b"writer_process" in cmd or b"shared_writer" in cmd else "deliverer" if b"deliverer_process" in cmd
                else "worker" if b"serve" in cmd else "other")
        roles[role].append(pid)
    if database_url.startswith("postgresql"):
        roles["postgres"] = postgres_backends(database_url)
    roles["bench (load + receivers)"] = [os.getpid()]
    return dict(roles)


class CpuPerEvent(dict):
    """CPU microseconds per acknowledged event, by role (_roles)."""

    def server(self) -> float:
        """What the server costs per event: every role but the bench process itself."""
        return sum(v for k, v in self.items() if not k.startswith("bench"))

    def __str__(self) -> str:
        return "CPU us/event: " + ", ".join(f"{k} {v:,.0f}" for k, v in self.items())


def _ingest_rate(base: str, keys, seconds: float, threads: int, server, database_url: str) -> tuple[float, CpuPerEvent]:
    """Events/s acknowledged, and the CPU per event of each process over the same window."""
    routes = [r for r in ingest_routes(base, keys, notice=lambda m: None) if r.per_request == 1][:1]
    load = Load(base, keys, routes, threads=threads, timeout=10).start()
    time.sleep(1.0)  # warm up
    roles = _roles(server, database_url)
    cpu0 = {k: cpu_seconds(v) for k, v in roles.items()}
    before, t0 = len(load.stats.acked), time.monotonic()
    time.sleep(seconds)
    done, t1 = len(load.stats.acked), time.monotonic()
    cpu = {k: cpu_seconds(v) - cpu0[k] for k, v in roles.items()}
    load.stop()
    n = max(1, done - before)
    return (done - before) / (t1 - t0), CpuPerEvent({k: v / n * 1e6 for k, v in cpu.items()})


def _latencies(base: str, keys, rx: Receiver, n: int) -> tuple[list[float], list[float]]:
    """ack -> webhook received and ack -> stream, one event at a time (the stream read in a thread)."""
    from tests.sse import SseReader

    hook_lat, stream_lat = [], []
    with SseReader(f"{base}/api/stream", _headers(keys.private_key), {"topic": EVENT_TOPICS[1]}) as sse:
        with httpx.Client(base_url=base, timeout=10) as client:
            for i in range(n):
                start_rx, start_sse = len(rx.received), len(sse.events)
                r = client.post("/api/track", json={"token": keys.public_key, "event": METRICS[1],
                                                    "customer_properties": {"$email": f"lat{i}@example.com"},
                                                    "properties": {"$event_id": uuid.uuid4().hex}})
                acked = time.time()
                assert r.text == "1"
                deadline = time.monotonic() + 5
                while (len(rx.received) <= start_rx or len(sse.events) <= start_sse) and time.monotonic() < deadline:
                    time.sleep(0.001)
                if len(rx.received) > start_rx:
                    hook_lat.append(rx.received[start_rx].at - acked)
                if len(sse.events) > start_sse:
                    stream_lat.append(sse.events[start_sse].at - acked)
    return hook_lat, stream_lat


def bench(backend: str, *, seconds: float, threads: int, samples: int, log_dir: str,
          deliverer_cpu: int | None = None, rounds: int = 1) -> list[str]:
    """rounds 1: ingest with no webhooks, then with 3 subscribed (on another account). rounds N > 1:
    the 3 webhooks exist from the start and N pairs of runs alternate (none, 3, 3, none, ...), so a
    shared machine's drift falls on both sides; each pair's ratio is reported, and their median."""
    lines = []
    with database(backend) as url:
        env = {**DRILL_ENV, "FOOTFALL_WEBHOOK_LEASE_SECONDS": "10"}
        server = footfall_serve(url, cpu=0, env=env, log_path=os.path.join(log_dir, f"webhooks-{backend}.log"))
        server.start()
        if deliverer_cpu is not None:  # the server's deliverer process on a core of its own (it inherits CPU 0)
            for pid in _roles(server, url).get("deliverer", []):
                os.sched_setaffinity(pid, {deliverer_cpu})
        try:
            plain = new_account(url)
            if rounds == 1:
                rate_none, cpu_none = _ingest_rate(server.url, plain.keys, seconds, threads, server, url)
            hooked = new_account(url)
            with Receiver() as r1, Receiver() as r2, Receiver() as r3:
                for rx in (r1, r2, r3):
                    create_webhook(server.url, hooked.keys.private_key, rx.url,
                                   [*EVENT_TOPICS, topics.PROFILE_CREATED])
                pairs: list[tuple[float, float]] = []
                cpu_ratios: list[float] = []  # server CPU per event, none / 3 webhooks
                for i in range(rounds):
                    if rounds > 1 and i % 2 == 0:
                        rate_none, cpu_none = _ingest_rate(server.url, plain.keys, seconds, threads, server, url)
                    delivered_before = sum(len(r.messages()) for r in (r1, r2, r3))
                    t0 = time.monotonic()
                    rate_three, cpu_three = _ingest_rate(server.url, hooked.keys, seconds, threads, server, url)
                    load_end = time.monotonic()
                    delivered0 = sum(len(r.messages()) for r in (r1, r2, r3))
                    if rounds > 1 and i % 2 == 1:
                        rate_none, cpu_none = _ingest_rate(server.url, plain.keys, seconds, threads, server, url)
                    pairs.append((rate_none, rate_three))
                    cpu_ratios.append(cpu_none.server() / cpu_three.server())
                time.sleep(2.0)
                t1 = time.monotonic()
                delivered = sum(len(r.messages()) for r in (r1, r2, r3))
                drain_rate = (delivered - delivered0) / (t1 - load_end)
                during = (delivered0 - delivered_before) / (load_end - t0)
                hook_lat, stream_lat = _latencies(server.url, hooked.keys, r1, samples)
            ratios = [three / none if none else float("nan") for none, three in pairs]
            ratio = statistics.median(ratios)
            placed = "" if deliverer_cpu is None else f", deliverer process on CPU {deliverer_cpu}"
            if rounds > 1:
                lines.append(f"[webhooks/{backend}] {rounds} interleaved rounds (webhooks subscribed throughout): "
                             + "; ".join(f"{none:,.0f} vs {three:,.0f} -> {three / none:.2f}x" for none, three in pairs))
                rate_none, rate_three = (statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs))
            median = "median of the rounds' ratios " if rounds > 1 else ""
            lines.append(f"[webhooks/{backend}] ingest (1 event per request, {threads} client threads{placed}): "
                         f"no webhooks {rate_none:,.0f} events/s, 3 webhooks subscribed {rate_three:,.0f} events/s "
                         f"-> {median}{ratio:.2f}x (goal >= 0.90: {'PASS' if ratio >= 0.9 else 'FAIL'})")
            last = " (the last round)" if rounds > 1 else ""
            lines.append(f"[webhooks/{backend}] no webhooks{last}: {cpu_none}")
            lines.append(f"[webhooks/{backend}] 3 webhooks{last}: {cpu_three}")
            lines.append(f"[webhooks/{backend}] server CPU per event (all but the bench process), no webhooks / 3 "
                         f"webhooks: {', '.join(f'{r:.2f}' for r in cpu_ratios)} (what the ratio would be with the "
                         f"server's core saturated; a latency-bound run's events/s ratio can be above it)")
            lines.append(f"[webhooks/{backend}] deliveries to 3 local receivers: {during:,.0f} messages/s during "
                         f"the{' last' if rounds > 1 else ''} ingest run, {drain_rate:,.0f} messages/s draining after it")
            lines.append(f"[webhooks/{backend}] ack -> webhook received: p50 {_pct(hook_lat, .5) * 1000:.1f} ms, "
                         f"p95 {_pct(hook_lat, .95) * 1000:.1f} ms (n={len(hook_lat)}; goal p95 <= 1000 ms: "
                         f"{'PASS' if _pct(hook_lat, .95) <= 1.0 else 'FAIL'})")
            lines.append(f"[webhooks/{backend}] ack -> stream: p50 {_pct(stream_lat, .5) * 1000:.1f} ms, "
                         f"p95 {_pct(stream_lat, .95) * 1000:.1f} ms (n={len(stream_lat)}; goal p95 <= 100 ms: "
                         f"{'PASS' if _pct(stream_lat, .95) <= 0.1 else 'FAIL'})")
        finally:
            server.stop()
    return lines


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench webhooks", description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument("--duration", type=float, default=None, help="seconds per ingest run (default 10, quick 4)")
    parser.add_argument("--threads", type=int, default=8, help="load threads")
    parser.add_argument("--deliverer-cpu", type=int, default=None,
                        help="pin the deliverer process to this CPU instead of the server's (what a free core gives)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="interleaved pairs of ingest runs (none / 3 webhooks), their median ratio reported")
    parser.add_argument("--crash", type=int, default=0, help="run the kill -9 drill with this many kills instead")
    args, _ = parser.parse_known_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if args.crash:
        failures = 0
        for backend in backends:
            with database(backend) as url:
                result = drill(backend, url, kills=args.crash)
            print(result.report(), flush=True)
            failures += not result.ok
        if failures:
            raise SystemExit(1)
        return
    seconds = args.duration or (4.0 if args.quick else 10.0)
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as log_dir:
        for backend in backends:
            for line in bench(backend, seconds=seconds, threads=args.threads, samples=50 if args.quick else 200,
                              deliverer_cpu=args.deliverer_cpu, rounds=max(1, args.rounds),
                              log_dir=log_dir):
                print(line, flush=True)
