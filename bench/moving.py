"""`python -m bench moving`: the data-moving drills and their throughput.

- import drill: `footfall import events` of N events (the export's format) killed with SIGKILL at
  random moments, then run again until it finishes; every event must be stored exactly once.
- import rate: an uninterrupted import against the bulk API (POST /api/event-bulk-create-jobs,
  1,000 events a request, 4 senders) on the same backend: events/s of each and their ratio.
- copy drill: `footfall db copy` of a SQLite database holding N events into PostgreSQL; the exports
  of both must be byte-identical. Rows/s of the copy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.crash import database, new_account
from bench.server_proc import FOOTFALL, footfall_serve

T0 = 1_700_000_000
EVENTS_PER_PROFILE = 50


def generate(directory: Path, n_events: int) -> tuple[Path, Path]:
    """profiles.jsonl and events.jsonl in `footfall export`'s format, with ids of their own."""
    n_profiles = max(1, n_events // EVENTS_PER_PROFILE)
    profiles, events = directory / "profiles.jsonl", directory / "events.jsonl"
    with open(profiles, "w") as f:
        for p in range(n_profiles):
            f.write(json.dumps({
                "id": f"P{p:025d}", "email": f"p{p}@example.com", "phone_number": None, "external_id": f"c{p}",
                "anonymous_id": None, "first_name": f"F{p}", "last_name": None, "organization": None, "title": None,
                "locale": None, "image": None, "location": {"city": "Oslo"}, "properties": {"plan": p % 3},
                "consent": {}, "created": "2023-11-14T22:13:20+00:00", "updated": "2023-11-14T22:13:20+00:00",
            }) + "\n")
    with open(events, "w") as f:
        for e in range(n_events):
            f.write(json.dumps({
                "id": f"E{e:025d}", "metric": "Placed Order" if e % 3 else "Viewed Page",
                "profile_id": f"P{e % n_profiles:025d}", "time": None, "timestamp": T0 + e, "value": float(e % 100),
                "value_currency": None, "unique_id": f"u{e}", "properties": {"sku": f"s{e % 500}", "n": e},
            }) + "\n")
    return profiles, events


def _import_argv(kind: str, path: Path, key: str, url: str) -> list[str]:
    return [FOOTFALL, "import", kind, str(path), "--account", key, "--database", url, "--quiet", "--json"]


def _count(url: str, account_id: str) -> tuple[int, int]:
    from footfall.store import db

    conn = db.connect(url)
    try:
        return conn.one("SELECT COUNT(*), COUNT(DISTINCT unique_id) FROM events WHERE account_id = ?", (account_id,))
    finally:
        conn.close()


@dataclass
class ImportDrill:
    backend: str
    events: int
    kills: int
    stored: int
    distinct: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.stored == self.events == self.distinct

    def report(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        return (f"import drill [{self.backend}]: {self.events:,} events, {self.kills} x kill -9, "
                f"stored {self.stored:,} ({self.distinct:,} distinct) in {self.seconds:.1f} s: {verdict}")


def import_drill(backend: str, n_events: int, kills: int, *, seed: int | None = None) -> ImportDrill:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="footfall-import-") as tmp, database(backend) as url:
        profiles, events = generate(Path(tmp), n_events)
        account = new_account(url)
        subprocess.run(_import_argv("profiles", profiles, account.keys.public_key, url), check=True, capture_output=True)
        started = time.monotonic()
        # A first uninterrupted second tells how long a whole run takes, so kills land inside it.
        done_kills = 0
        while done_kills < kills:
            proc = subprocess.Popen(_import_argv("events", events, account.keys.public_key, url),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.5, 3.0))
            if proc.poll() is not None:
                break  # finished before the kill: nothing left to interrupt
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            done_kills += 1
        final = subprocess.run(_import_argv("events", events, account.keys.public_key, url), capture_output=True,
                               text=True)
        seconds = time.monotonic() - started
        if final.returncode != 0:
            print(final.stderr, file=sys.stderr)
        stored, distinct = _count(url, account.id)
    return ImportDrill(backend, n_events, done_kills, stored, distinct, seconds)


@dataclass
class Rate:
    """events per second of wall time, and per CPU second of the processes doing the storing (the import;
    the server and its writer process): on a machine shared with other work the second is the steadier."""

    per_second: float
    per_cpu_second: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def import_rate(backend: str, n_events: int) -> Rate:
    """One uninterrupted `footfall import events` (profiles imported first)."""
    with tempfile.TemporaryDirectory(prefix="footfall-import-") as tmp, database(backend) as url:
        profiles, events = generate(Path(tmp), n_events)
        account = new_account(url)
        subprocess.run(_import_argv("profiles", profiles, account.keys.public_key, url), check=True, capture_output=True)
        started, cpu = time.monotonic(), _children_cpu()
        subprocess.run(_import_argv("events", events, account.keys.public_key, url), check=True, capture_output=True)
        return Rate(n_events / (time.monotonic() - started), n_events / (_children_cpu() - cpu))


def bulk_api_rate(backend: str, n_events: int, senders: int = 4) -> Rate:
    """POST /api/event-bulk-create-jobs: 20 profiles x 50 events a request (CPU: the server's processes)."""
    with database(backend) as url:
        account = new_account(url)
        server = footfall_serve(url, env={"FOOTFALL_RATE_LIMITS": "off"})
        server.start()
        try:
            requests = max(1, n_events // 1000)
            headers = {"Authorization": f"Klaviyo-API-Key {account.keys.private_key}", "revision": "2026-07-15",
                       "Content-Type": "application/vnd.api+json"}
            queue = list(range(requests))
            lock = threading.Lock()

            def body(r: int) -> dict:
                entries = [{"type": "event-bulk-create", "attributes": {
                    "profile": {"data": {"type": "profile", "attributes": {"email": f"r{r}p{p}@example.com"}}},
                    "events": {"data": [{"type": "event", "attributes": {
                        "properties": {"sku": f"s{e}", "n": e}, "unique_id": f"{r}-{p}-{e}",
                        "time": "2023-11-14T22:13:20Z", "value": float(e),
                        "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}}}}
                        for e in range(50)]}}} for p in range(20)]
                return {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": entries}}}}

            def send() -> None:
                with httpx.Client(base_url=server.url, timeout=60, headers=headers) as client:
                    while True:
                        with lock:
                            if not queue:
                                return
                            r = queue.pop()
                        while client.post("/api/event-bulk-create-jobs", json=body(r)).status_code != 202:
                            time.sleep(0.1)  # 503 under load: retry (same unique ids, so never twice)

            started, cpu = time.monotonic(), server.cpu_seconds()
            threads = [threading.Thread(target=send) for _ in range(senders)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return Rate(requests * 1000 / (time.monotonic() - started), requests * 1000 / (server.cpu_seconds() - cpu))
        finally:
            server.stop()


@dataclass
class CopyDrill:
    events: int
    rows: int
    seconds: float
    identical: bool
    verified: bool

    @property
    def ok(self) -> bool:
        return self.identical and self.verified

    def report(self) -> str:
        return (f"copy drill: SQLite with {self.events:,} events -> PostgreSQL, {self.rows:,} rows in "
                f"{self.seconds:.1f} s ({self.rows / self.seconds:,.0f} rows/s, {self.events / self.seconds:,.0f} "
                f"events/s); verified={self.verified}; exports byte-identical={self.identical}: "
                + ("PASS" if self.ok else "FAIL"))


def copy_drill(n_events: int) -> CopyDrill:
    from footfall.transfer import dbcopy

    with tempfile.TemporaryDirectory(prefix="footfall-copy-") as tmp, database("sqlite") as src, \
            database("postgres") as pg:
        profiles, events = generate(Path(tmp), n_events)
        account = new_account(src)
        for kind, path in (("profiles", profiles), ("events", events)):
            subprocess.run(_import_argv(kind, path, account.keys.public_key, src), check=True, capture_output=True)
        # `database()` migrated the target already: empty tables, as `db copy` wants them.
        started = time.monotonic()
        report = dbcopy.copy(src, pg)
        seconds = time.monotonic() - started
        identical = True
        for kind in ("events", "profiles"):
            outputs = []
            for url in (src, pg):
                out = Path(tmp) / f"{kind}-{uuid.uuid4().hex[:6]}.jsonl"
                subprocess.run([FOOTFALL, "export", kind, "--account", account.keys.public_key, "--database", url,
                                "-o", str(out), "--quiet"], check=True, capture_output=True)
                outputs.append(out.read_bytes())
            identical = identical and outputs[0] == outputs[1] and len(outputs[0]) > 0
    return CopyDrill(n_events, report.total_rows, seconds, identical, report.verified)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench moving", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in each drill (default 1,000,000)")
    parser.add_argument("--kills", type=int, default=3, help="kill -9 during the import drill (default 3)")
    parser.add_argument("--rate-events", type=int, default=100_000, help="events for the rate comparison")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="20,000 events, 2 kills")
    args = parser.parse_args(argv)
    n = 20_000 if args.quick else args.events
    rate_n = min(n, 20_000) if args.quick else args.rate_events
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    failures = 0
    for backend in backends:
        drill = import_drill(backend, n, 2 if args.quick else args.kills)
        print(drill.report(), flush=True)
        failures += not drill.ok
        imported, bulk = import_rate(backend, rate_n), bulk_api_rate(backend, rate_n)
        print(f"import rate [{backend}]: footfall import {imported.per_second:,.0f} events/s, bulk API "
              f"{bulk.per_second:,.0f} events/s, ratio {imported.per_second / bulk.per_second:.2f} (goal >= 0.7); "
              f"per CPU second {imported.per_cpu_second:,.0f} vs {bulk.per_cpu_second:,.0f}, ratio "
              f"{imported.per_cpu_second / bulk.per_cpu_second:.2f}", flush=True)
    copy = copy_drill(n)
    print(copy.report(), flush=True)
    failures += not copy.ok
    print("moving drills:", "PASS" if not failures else f"FAIL ({failures})")
    if failures:
        raise SystemExit(1)
