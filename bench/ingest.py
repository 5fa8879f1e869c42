"""Ingest benchmark: Footfall under wrk, against do-nothing references measured in the same run.

`make bench` / `python -m bench ingest [--quick] [--duration S] [--connections N] [--backend B]`.

Footfall runs as `footfall serve` (SQLite, then PostgreSQL on a fresh database created and dropped),
pinned to CPU 0; wrk runs pinned to CPU 1 with a Lua script that sends unique events for 10,000
distinct people. References: a do-nothing Starlette route and a do-nothing bare ASGI app on uvicorn
with the same server options, and the store's batched insert ceiling (footfall's store code, the
best of groups of 200 and 1000, no HTTP). One table: req/s, events/s, p50/p99, server CPU and peak RSS, ratios to the
references, and whether every acknowledged event is stored.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import wrk_script
from bench.crash import database, new_account
from bench.routes import ROUTES, IngestRoute, Keys, available
from bench.server_proc import Proc, footfall_serve, free_port

KIND_OF = {"track GET": "track_get", "track POST": "track_post", "client events": "client_event",
           "server events": "server_event"}
SERVER_CPU, CLIENT_CPU = 0, 1
LOAD_AT_START = "?"
GOALS = {"vs_starlette": 0.75, "vs_bare": 1.0, "vs_store": 0.7, "p99_ms": 25.0, "rss_mb": 250.0}


@dataclass
class Row:
    label: str
    route: str
    rps: float
    eps: float
    p50_ms: float
    p99_ms: float
    cpu_pct: float
    rss_mb: float
    cpu_us: float = 0.0  # server CPU microseconds per acknowledged request (robust to a shared machine)
    acked: int = 0  # acknowledged events
    refused: int = 0
    other: int = 0
    errors: int = 0
    notes: list[str] = field(default_factory=list)
    warm_acked: int = 0  # acknowledged events in the warm-up run before the measured one
    legacy: bool = False  # acknowledged ids known per event (verbose answers), not only counted


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("[bench] wrk missing: apt-get install -y wrk", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is required: install it (Debian/Ubuntu: sudo apt-get install -y wrk) and rerun")
    return found


def run_wrk(url: str, kind: str, keys: Keys, *, duration: float, connections: int, bulk: int,
            ids_dir: str = "") -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(wrk_script.script(kind, keys.public_key, keys.private_key, bulk=bulk, ids_dir=ids_dir))
    try:
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(int(duration), 1)}s", "--timeout", "10s", "-s", f.name, url]
        if shutil.which("taskset"):
            argv = ["taskset", "-c", str(CLIENT_CPU), *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
        return wrk_script.parse(done.stdout + done.stderr)
    finally:
        os.unlink(f.name)


def measure(proc: Proc, label: str, route: str, kind: str, keys: Keys, args, per_request: int,
            ids_dir: str = "") -> Row:
    """Warm up briefly, then one wrk run with CPU and RSS of the server measured around it.
    With ids_dir, both runs log ids there (bench/wrk_script.py) and the row counts warm-up acks."""
    warm = run_wrk(proc.url, kind, keys, duration=1, connections=args.connections, bulk=args.bulk_size, ids_dir=ids_dir)
    proc.start_sampling()
    cpu0, t0 = proc.cpu_seconds(), time.monotonic()
    res = run_wrk(proc.url, kind, keys, duration=args.duration, connections=args.connections, bulk=args.bulk_size,
                  ids_dir=ids_dir)
    wall = time.monotonic() - t0
    cpu = (proc.cpu_seconds() - cpu0) / wall * 100
    proc.stop_sampling()
    seconds = res["duration_us"] / 1e6
    rps = res["acked"] / seconds  # acknowledged requests per second (refusals are not throughput)
    errors = sum(res["errors"].values()) - res["errors"]["status"]
    cpu_us = (proc.cpu_seconds() - cpu0) * 1e6 / max(res["acked"], 1)
    return Row(label, route, rps, rps * per_request, res["p50_us"] / 1000, res["p99_us"] / 1000, cpu,
               proc.peak_rss / 2**20, cpu_us, res["acked"] * per_request, res["refused"], res["other"], errors,
               warm_acked=warm["acked"] * per_request, legacy=kind.startswith("track"))


# -- references -----------------------------------------------------------------------------------

def reference_rows(args) -> dict[str, Row]:
    rows = {}
    dummy = Keys("AAAAAA", "pk_dummy")
    for app in ("starlette", "bare"):
        port = free_port()
        proc = Proc([sys.executable, "-m", "bench.reference_apps", app, str(port)], port, cpu=SERVER_CPU,
                    health_path="/", env={"PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        proc.start()
        try:
            for kind, name in (("track_get", "GET"), ("track_post", "POST")):
                row = measure(proc, f"ref: {app} no-op", f"{name} (track payload)", kind, dummy, args, 1)
                rows[f"{app} {name}"] = row
                print(_line(row), flush=True)
        finally:
            proc.stop()
    return rows


CEILING_BATCHES = (200, 1000)  # group sizes tried; the ceiling is the best (PostgreSQL peaks near 200)


def store_ceiling(url: str, events: int) -> float:
    """Events/s through footfall's own ingest transaction code, no HTTP: the best of the group sizes
    in CEILING_BATCHES, `events` new events for each."""
    return max(_store_rate(url, events, size) for size in CEILING_BATCHES)


def _store_rate(url: str, events: int, size: int) -> float:
    import uuid

    from bench.routes import legacy_payload, random_event
    from footfall import clock
    from footfall.domain.limits import Limits
    from footfall.store import batch, db
    from footfall.wire import legacy

    account = new_account(url, f"ceiling-{uuid.uuid4().hex[:6]}")
    limits = Limits()
    ops = [legacy.parse_track(legacy_payload(account.keys, random_event(uuid.uuid4().hex)), account.id, limits,
                              clock.now())[0] for _ in range(events)]
    conn = db.connect(url)
    try:
        began = time.perf_counter()
        for i in range(0, len(ops), size):
            conn.begin()
            batch.apply_batch(conn, ops[i:i + size], limits)
            conn.commit()
        return events / (time.perf_counter() - began)
    finally:
        conn.close()


# -- Footfall -------------------------------------------------------------------------------------

def footfall_rows(backend: str, args, log_dir: str) -> tuple[list[Row], float, str]:
    rows: list[Row] = []
    with database(backend) as url:
        ceiling = store_ceiling(url, 5000 if args.quick else 20000)
        print(f"[bench] {backend}: store batched insert ceiling {ceiling:,.0f} events/s", flush=True)
        account = new_account(url)
        # Rate limits off: the benchmark measures ingestion, not Klaviyo's per-account tiers.
        proc = footfall_serve(url, cpu=SERVER_CPU, env={"FOOTFALL_RATE_LIMITS": "off"},
                              log_path=os.path.join(log_dir, f"footfall-{backend}.log"))
        proc.start()
        try:
            with httpx.Client(base_url=proc.url, timeout=10) as client:
                routes = available(client, account.keys, notice=lambda m: print("[bench]", m, flush=True))
            ids_dir = tempfile.mkdtemp(prefix="ids-", dir=log_dir)
            for route in routes:
                kind = "bulk" if route.per_request > 1 else KIND_OF[route.name]
                per = args.bulk_size if kind == "bulk" else 1
                row = measure(proc, f"footfall {backend}", _route_label(route, per), kind, account.keys, args, per,
                              ids_dir)
                rows.append(row)
                print(_line(row), flush=True)
            proc.stop()
            check = _check_stored(url, account.id, rows, ids_dir)
        finally:
            proc.stop()
    return rows, ceiling, check


def _route_label(route: IngestRoute, per: int) -> str:
    return f"{route.method} {route.path}" + (f" x{per}" if per > 1 else "")


def _read_ids(ids_dir: str, prefix: str) -> list[str]:
    found: list[str] = []
    for path in sorted(Path(ids_dir).glob(f"{prefix}-*.txt")):
        found += path.read_text().split()
    return found


def _check_stored(url: str, account_id: str, rows: list[Row], ids_dir: str) -> str:
    """Every acknowledged event stored once, by id where the answers say which (bench/wrk_script.py).

    Legacy (verbose answers): every acknowledged event id is a stored row, no row acknowledged twice.
    Modern (202, empty body; wrk cannot match answers to requests): of the unique ids the scripts
    sent, at least as many are stored as were acknowledged. Overall: no unique id stored twice.
    Warm-up runs are included (their ids are logged too)."""
    from footfall.store import db

    conn = db.connect(url)
    try:
        stored = conn.all("SELECT id, unique_id FROM events WHERE account_id = ?", (account_id,))
    finally:
        conn.close()
    row_ids = {r[0] for r in stored}
    unique_ids = [r[1] for r in stored]
    distinct = len(set(unique_ids)) == len(unique_ids)

    acked_ids = _read_ids(ids_dir, "acked")
    legacy_acked = sum(r.acked + r.warm_acked for r in rows if r.legacy)
    missing = [i for i in acked_ids if i not in row_ids]
    twice = len(acked_ids) - len(set(acked_ids))
    legacy_ok = not missing and not twice and len(acked_ids) == legacy_acked

    sent = set(_read_ids(ids_dir, "sent"))
    modern_acked = sum(r.acked + r.warm_acked for r in rows if not r.legacy)
    modern_stored = sum(1 for u in unique_ids if u in sent)
    modern_ok = modern_stored >= modern_acked

    ok = legacy_ok and modern_ok and distinct
    return (f"legacy: {len(acked_ids):,} acknowledged event ids logged (answers counted {legacy_acked:,}), "
            f"missing from the store {len(missing)}, acknowledged twice {twice}\n"
            f"{'':22} modern: acknowledged {modern_acked:,} events, stored {modern_stored:,} of {len(sent):,} sent ids "
            f"(per-id impossible: 202 has no body and wrk does not pair answers with requests)\n"
            f"{'':22} all: stored {len(stored):,} events, every unique id once: {distinct} -> "
            + ("every acknowledged event stored, none twice" if ok else "MISMATCH"))


# -- output ---------------------------------------------------------------------------------------

def _line(r: Row) -> str:
    return (f"  {r.label:22} {r.route:38} {r.rps:9,.0f} req/s {r.eps:9,.0f} ev/s  p50 {r.p50_ms:6.2f} ms  "
            f"p99 {r.p99_ms:6.2f} ms  cpu {r.cpu_pct:4.0f}% ({r.cpu_us:5.0f} us/req)  rss {r.rss_mb:5.0f} MB"
            + (f"  refused {r.refused}" if r.refused else "") + (f"  other {r.other}" if r.other else "")
            + (f"  socket errors {r.errors}" if r.errors else ""))


def table(refs: dict[str, Row], results: list[tuple[str, list[Row], float, str]], args) -> None:
    print(f"\nLoad average before the run {LOAD_AT_START}, after {os.getloadavg()[0]:.2f} (other processes share the CPUs)")
    print(f"\nIngest benchmark: {args.connections} connections, {args.duration:g}s per run, server on CPU "
          f"{SERVER_CPU}, wrk on CPU {CLIENT_CPU}, machine has {os.cpu_count()} CPUs")
    head = (f"{'server':22} {'route':38} {'req/s':>9} {'events/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'cpu%':>5} "
            f"{'RSS MB':>6} {'cpu us/req':>10}  {'vs starlette':>12} {'vs bare':>8} {'vs store':>8}  {'cpu-cost ratio vs starlette/bare':>32}")
    print(head)
    print("-" * len(head))
    for r in refs.values():
        print(f"{r.label:22} {r.route:38} {r.rps:9,.0f} {r.eps:10,.0f} {r.p50_ms:7.2f} {r.p99_ms:7.2f} {r.cpu_pct:5.0f} "
              f"{r.rss_mb:6.0f} {r.cpu_us:10.0f}")
    verdicts = []
    for backend, rows, ceiling, check in results:
        print(f"{'store ceiling ' + backend:22} {'best of batches of 200 / 1000, no HTTP':38} {'':>9} {ceiling:10,.0f}")
        for r in rows:
            method = "GET" if r.route.startswith("GET") else "POST"
            star, bare = refs.get(f"starlette {method}"), refs.get(f"bare {method}")
            bulk = " x" in r.route
            vs_star = r.rps / star.rps if star and not bulk else None
            vs_bare = r.rps / bare.rps if bare and not bulk else None
            vs_store = r.eps / ceiling if ceiling else None
            print(f"{r.label:22} {r.route:38} {r.rps:9,.0f} {r.eps:10,.0f} {r.p50_ms:7.2f} {r.p99_ms:7.2f} "
                  f"{r.cpu_pct:5.0f} {r.rss_mb:6.0f} {r.cpu_us:10.0f}  {_ratio(vs_star):>12} {_ratio(vs_bare):>8} "
                  f"{_ratio(vs_store):>8}  {_cost(star, r, bulk)} / {_cost(bare, r, bulk)}")
            if bulk:
                verdicts.append(_goal(f"{backend} {r.route} bulk >= {GOALS['vs_store']}x store", vs_store, GOALS["vs_store"]))
            else:
                verdicts.append(_goal(f"{backend} {r.route} >= {GOALS['vs_starlette']}x starlette no-op", vs_star, GOALS["vs_starlette"]))
                verdicts.append(_goal(f"{backend} {r.route} >= {GOALS['vs_bare']}x bare ASGI no-op", vs_bare, GOALS["vs_bare"]))
            verdicts.append(_goal(f"{backend} {r.route} p99 {r.p99_ms:.1f} ms <= {GOALS['p99_ms']:g} ms",
                                  GOALS["p99_ms"] / max(r.p99_ms, 1e-9), 1.0))
            verdicts.append(_goal(f"{backend} {r.route} RSS {r.rss_mb:.0f} MB <= {GOALS['rss_mb']:g} MB",
                                  GOALS["rss_mb"] / max(r.rss_mb, 1e-9), 1.0))
        print(f"{'':22} {check}")
    print("\nGoals:")
    for v in verdicts:
        print("  " + v)


def _cost(ref: Row | None, r: Row, bulk: bool) -> str:
    """Throughput ratio implied by CPU cost per request (ref µs / our µs): what the ratio would be
    if both had a whole core, which the shared machine does not always give."""
    if ref is None or bulk or not r.cpu_us:
        return ""
    return f"{ref.cpu_us / r.cpu_us:.2f}x"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def _goal(text: str, value: float | None, need: float) -> str:
    if value is None:
        return f"[n/a ] {text}"
    return f"[{'met ' if value >= need else 'MISS'}] {text}" + (f" (measured {value:.2f}x)" if "x " in text or text.endswith("no-op") or "store" in text else "")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs for a smoke test")
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk run (default 10, quick 3)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--bulk-size", type=int, default=100, help="events per bulk-create request")
    args = parser.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    ensure_wrk()
    global LOAD_AT_START
    LOAD_AT_START = f"{os.getloadavg()[0]:.2f}"
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="footfall-bench-") as log_dir:
        refs = reference_rows(args)
        results = []
        for backend in backends:
            rows, ceiling, check = footfall_rows(backend, args, log_dir)
            results.append((backend, rows, ceiling, check))
        table(refs, results, args)
