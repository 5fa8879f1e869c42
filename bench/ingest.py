"""Ingest benchmark: Footfall under wrk, against references measured in the same run.

`make bench` / `python -m bench ingest [--quick] [--duration S] [--connections N] [--backend B]`.

Footfall runs as `footfall serve` (SQLite, then PostgreSQL on a fresh database created and dropped),
pinned to CPU 0; wrk runs pinned to CPU 1 with a Lua script that sends unique events for 10,000
distinct people. Each Footfall row splits the server's CPU per request into its HTTP process(es) and
its writer process(es) (footfall/ingest/writer_process.py). On SQLite, POST /api/track also runs on
`footfall serve --workers 2`. References (bench/reference_apps.py, bench/ceilings.py), on CPU 0 too:
  - do-nothing servers: a Starlette route and a bare ASGI app on uvicorn with the same server
    options, and a bare RSGI app on granian;
  - the minimal durable handler (granian RSGI + msgspec + a group-commit thread into SQLite's
    `events` table with Footfall's indexes, answering after the commit), under the same wrk script
    and route as Footfall's POST /api/track;
  - the plain batched insert ceiling (the same rows by executemany on SQLite, COPY + merge on
    PostgreSQL; no Footfall code, no HTTP) and the Footfall-writer ceiling (Footfall's store code,
    no HTTP), each the best of groups of 200 and 1000.
One table: req/s, events/s, p50/p99, server CPU and peak RSS, ratios to the references, the goals of
issue 17, and whether every acknowledged event is stored.
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

from bench import ceilings, wrk_script
from bench.crash import database, new_account
from bench.routes import IngestRoute, Keys, available
from bench.server_proc import Proc, footfall_serve, free_port

KIND_OF = {"track GET": "track_get", "track POST": "track_post", "client events": "client_event",
           "server events": "server_event"}
SERVER_CPU, CLIENT_CPU = 0, 1
LOAD_AT_START = "?"
GOALS = {"vs_starlette": 0.75, "vs_bare": 1.0, "vs_durable": 1.0, "vs_ceiling": 0.7, "p99_ms": 25.0,
         "rss_mb": 250.0, "http_us": 150.0, "writer_us": 60.0, "vs_one_worker": 1.0}
LABEL = 26  # width of the server column
TRACK_POST = "POST /api/track"  # the durable handler's route and the --workers 2 row's
# bench/reference_apps.py app -> (row label, methods measured under the track payload)
REFERENCES = {"starlette": ("ref: starlette no-op", ("GET", "POST")),
              "bare": ("ref: bare ASGI no-op", ("GET", "POST")),
              "granian": ("ref: granian RSGI no-op", ("GET", "POST")),
              "durable": ("ref: minimal durable", ("POST",))}
KIND_OF_METHOD = {"GET": "track_get", "POST": "track_post"}


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
    http_us: float | None = None  # of cpu_us: Footfall's HTTP process(es) (None: not a Footfall row)
    writer_us: float | None = None  # of cpu_us: Footfall's writer process(es)
    per_request: int = 1  # events per request

    @property
    def bulk(self) -> bool:
        return self.per_request > 1


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
            ids_dir: str = "", *, split: bool = False) -> Row:
    """Warm up briefly, then one wrk run with CPU and RSS of the server measured around it.
    With ids_dir, both runs log ids there (bench/wrk_script.py) and the row counts warm-up acks.
    With split, the CPU is also given per process kind (Footfall's HTTP side and its writer)."""
    warm = run_wrk(proc.url, kind, keys, duration=1, connections=args.connections, bulk=args.bulk_size, ids_dir=ids_dir)
    proc.start_sampling()
    (http0, writer0), t0 = proc.cpu_split(), time.monotonic()
    res = run_wrk(proc.url, kind, keys, duration=args.duration, connections=args.connections, bulk=args.bulk_size,
                  ids_dir=ids_dir)
    wall = time.monotonic() - t0
    http1, writer1 = proc.cpu_split()
    proc.stop_sampling()
    seconds = res["duration_us"] / 1e6
    rps = res["acked"] / seconds  # acknowledged requests per second (refusals are not throughput)
    errors = sum(res["errors"].values()) - res["errors"]["status"]
    per_ack = 1e6 / max(res["acked"], 1)
    http_us, writer_us = (http1 - http0) * per_ack, (writer1 - writer0) * per_ack
    return Row(label, route, rps, rps * per_request, res["p50_us"] / 1000, res["p99_us"] / 1000,
               (http1 + writer1 - http0 - writer0) / wall * 100, proc.peak_rss / 2**20, http_us + writer_us,
               res["acked"] * per_request, res["refused"], res["other"], errors,
               warm_acked=warm["acked"] * per_request, legacy=kind.startswith("track"),
               http_us=http_us if split else None, writer_us=writer_us if split else None, per_request=per_request)


# -- references -----------------------------------------------------------------------------------

def reference_rows(args, log_dir: str) -> dict[str, Row]:
    """"<reference> <method>" -> its row, every reference server under the track payload."""
    rows = {}
    dummy = Keys("AAAAAA", "pk_dummy")
    for app, (label, methods) in REFERENCES.items():
        extra = [os.path.join(log_dir, "durable.db")] if app == "durable" else []
        port = free_port()
        proc = Proc([sys.executable, "-m", "bench.reference_apps", app, str(port), *extra], port, cpu=SERVER_CPU,
                    health_path="/", env={"PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
                    log_path=os.path.join(log_dir, f"ref-{app}.log"))
        proc.start()
        try:
            for method in methods:
                row = measure(proc, label, f"{method} /api/track (track payload)", KIND_OF_METHOD[method], dummy,
                              args, 1)
                rows[f"{app} {method}"] = row
                print(_line(row), flush=True)
        finally:
            proc.stop()
    return rows


@dataclass
class Ceilings:
    plain: float  # events/s, plain batched insert, no Footfall code
    writer: float  # events/s, Footfall's store code


def measure_ceilings(backend: str, url: str, events: int) -> Ceilings:
    found = Ceilings(ceilings.plain_ceiling(url, events), ceilings.writer_ceiling(url, events))
    print(f"[bench] {backend}: plain batched insert ceiling {found.plain:,.0f} events/s, "
          f"Footfall-writer ceiling {found.writer:,.0f} events/s", flush=True)
    return found


# -- Footfall -------------------------------------------------------------------------------------

def footfall_rows(backend: str, args, log_dir: str) -> tuple[list[Row], Ceilings, str]:
    rows: list[Row] = []
    with database(backend) as url:
        found = measure_ceilings(backend, url, 5000 if args.quick else 20000)
        account = new_account(url)
        ids_dir = tempfile.mkdtemp(prefix="ids-", dir=log_dir)
        proc = _serve(url, backend, log_dir, 1)
        try:
            with httpx.Client(base_url=proc.url, timeout=10) as client:
                routes = available(client, account.keys, notice=lambda m: print("[bench]", m, flush=True))
            for route in routes:
                kind = "bulk" if route.per_request > 1 else KIND_OF[route.name]
                per = args.bulk_size if kind == "bulk" else 1
                rows.append(_footfall_row(proc, f"footfall {backend}", _route_label(route, per), kind, account, args,
                                          per, ids_dir))
        finally:
            proc.stop()
        if backend == "sqlite" and any(r.route == TRACK_POST for r in rows):
            # Several workers share SQLite's one write lock: measured against the one-worker row above.
            proc = _serve(url, backend, log_dir, 2)
            try:
                rows.append(_footfall_row(proc, f"footfall {backend} workers=2", TRACK_POST, "track_post", account,
                                          args, 1, ids_dir))
            finally:
                proc.stop()
        check = _check_stored(url, account.id, rows, ids_dir)
    return rows, found, check


def _serve(url: str, backend: str, log_dir: str, workers: int) -> Proc:
    # Rate limits off: the benchmark measures ingestion, not Klaviyo's per-account tiers.
    proc = footfall_serve(url, cpu=SERVER_CPU, env={"FOOTFALL_RATE_LIMITS": "off"}, workers=workers,
                          log_path=os.path.join(log_dir, f"footfall-{backend}-{workers}.log"))
    proc.start(timeout=60)
    return proc


def _footfall_row(proc: Proc, label: str, route: str, kind: str, account, args, per: int, ids_dir: str) -> Row:
    row = measure(proc, label, route, kind, account.keys, args, per, ids_dir, split=True)
    print(_line(row), flush=True)
    return row


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
            f"{'':{LABEL}} modern: acknowledged {modern_acked:,} events, stored {modern_stored:,} of {len(sent):,} sent ids "
            f"(per-id impossible: 202 has no body and wrk does not pair answers with requests)\n"
            f"{'':{LABEL}} all: stored {len(stored):,} events, every unique id once: {distinct} -> "
            + ("every acknowledged event stored, none twice" if ok else "MISMATCH"))


# -- output ---------------------------------------------------------------------------------------


def _line(r: Row) -> str:
    split = "" if r.http_us is None else f" = http {r.http_us:5.0f} + writer {r.writer_us:5.0f}"
    return (f"  {r.label:{LABEL}} {r.route:38} {r.rps:9,.0f} req/s {r.eps:9,.0f} ev/s  p50 {r.p50_ms:6.2f} ms  "
            f"p99 {r.p99_ms:6.2f} ms  cpu {r.cpu_pct:4.0f}% ({r.cpu_us:5.0f} us/req{split})  rss {r.rss_mb:5.0f} MB"
            + (f"  refused {r.refused}" if r.refused else "") + (f"  other {r.other}" if r.other else "")
            + (f"  socket errors {r.errors}" if r.errors else ""))


RATIO_HEADS = ("vs starlette", "vs bare", "vs granian", "vs durable", "vs plain ceil", "vs writer ceil")


def _ratios(r: Row, refs: dict[str, Row], found: Ceilings) -> dict[str, float | None]:
    """Same-run ratios of a Footfall row: req/s to the servers (single events only; the durable handler
    only for its own route), events/s to the ceilings."""
    method = r.route.split()[0]

    def to(ref: str) -> float | None:
        other = refs.get(f"{ref} {method}")
        return r.rps / other.rps if other and other.rps and not r.bulk else None

    return {"vs starlette": to("starlette"), "vs bare": to("bare"), "vs granian": to("granian"),
            "vs durable": to("durable") if r.route == TRACK_POST else None,
            "vs plain ceil": r.eps / found.plain if found.plain else None,
            "vs writer ceil": r.eps / found.writer if found.writer else None}


def table(refs: dict[str, Row], results: list[tuple[str, list[Row], Ceilings, str]], args) -> None:
    print(f"\nLoad average before the run {LOAD_AT_START}, after {os.getloadavg()[0]:.2f} (other processes share the CPUs)")
    print(f"\nIngest benchmark: {args.connections} connections, {args.duration:g}s per run, server on CPU "
          f"{SERVER_CPU}, wrk on CPU {CLIENT_CPU}, machine has {os.cpu_count()} CPUs")
    head = (f"{'server':{LABEL}} {'route':38} {'req/s':>9} {'events/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'cpu%':>5} "
            f"{'RSS MB':>6} {'cpu us/req':>10} {'http us/req':>11} {'writer us/req':>13}  "
            + " ".join(f"{h:>{len(h)}}" for h in RATIO_HEADS) + f"  {'cpu-cost ratio vs starlette/bare':>32}")
    print(head)
    print("-" * len(head))
    for r in refs.values():
        print(_cells(r))
    verdicts = []
    for backend, rows, found, check in results:
        print(f"{'plain ceiling ' + backend:{LABEL}} {_PLAIN_HOW[backend]:38} {'':>9} {found.plain:10,.0f}")
        print(f"{'writer ceiling ' + backend:{LABEL}} {'Footfall writer code, 200/1000, no HTTP':38} {'':>9} "
              f"{found.writer:10,.0f}")
        one_worker = next((r for r in rows if r.route == TRACK_POST and "workers" not in r.label), None)
        for r in rows:
            ratios = _ratios(r, refs, found)
            print(_cells(r) + "  " + " ".join(f"{_ratio(ratios[h]):>{len(h)}}" for h in RATIO_HEADS)
                  + f"  {_costs(refs, r):>32}")
            verdicts += _goals(f"{backend} {r.route}" + (" workers=2" if "workers" in r.label else ""), r, ratios,
                               one_worker if "workers" in r.label else None)
        print(f"{'':{LABEL}} {check}")
    print("\nGoals (issue 17):")
    for v in verdicts:
        print("  " + v)


_PLAIN_HOW = {"sqlite": "executemany, groups 200/1000, no Footfall", "postgres": "COPY+merge, groups 200/1000, no Footfall"}


def _cells(r: Row) -> str:
    split = ("", "") if r.http_us is None else (f"{r.http_us:.0f}", f"{r.writer_us:.0f}")
    return (f"{r.label:{LABEL}} {r.route:38} {r.rps:9,.0f} {r.eps:10,.0f} {r.p50_ms:7.2f} {r.p99_ms:7.2f} "
            f"{r.cpu_pct:5.0f} {r.rss_mb:6.0f} {r.cpu_us:10.0f} {split[0]:>11} {split[1]:>13}")


def _goals(name: str, r: Row, ratios: dict[str, float | None], one_worker: Row | None) -> list[str]:
    """The goals of issue 17 that apply to this row, each with what was measured."""
    found = [_goal(f"{name} p99 {r.p99_ms:.1f} ms <= {GOALS['p99_ms']:g} ms", r.p99_ms <= GOALS["p99_ms"]),
             _goal(f"{name} RSS {r.rss_mb:.0f} MB <= {GOALS['rss_mb']:g} MB", r.rss_mb <= GOALS["rss_mb"])]
    if r.bulk:
        return [_ratio_goal(f"{name} bulk >= {GOALS['vs_ceiling']}x plain batched insert ceiling",
                            ratios["vs plain ceil"], GOALS["vs_ceiling"])] + found
    found += [_ratio_goal(f"{name} >= {GOALS['vs_starlette']}x starlette no-op", ratios["vs starlette"], GOALS["vs_starlette"]),
              _ratio_goal(f"{name} >= {GOALS['vs_bare']}x bare ASGI no-op (moonshot)", ratios["vs bare"], GOALS["vs_bare"])]
    if r.route == TRACK_POST:
        found.append(_ratio_goal(f"{name} single event >= {GOALS['vs_durable']}x minimal durable handler",
                                 ratios["vs durable"], GOALS["vs_durable"]))
    if r.http_us is not None:
        found += [_goal(f"{name} HTTP CPU {r.http_us:.0f} us/request <= {GOALS['http_us']:g} us", r.http_us <= GOALS["http_us"]),
                  _goal(f"{name} writer CPU {r.writer_us:.0f} us/event <= {GOALS['writer_us']:g} us",
                        r.writer_us <= GOALS["writer_us"])]
    if one_worker is not None:
        found += [_ratio_goal(f"{name} never slower than one worker", r.rps / one_worker.rps if one_worker.rps else None,
                              GOALS["vs_one_worker"]),
                  _goal(f"{name} p99 {r.p99_ms:.1f} ms never worse than one worker's {one_worker.p99_ms:.1f} ms",
                        r.p99_ms <= one_worker.p99_ms)]
    return found


def _costs(refs: dict[str, Row], r: Row) -> str:
    """Throughput ratios implied by CPU cost per request (ref µs / our µs) to the Starlette and bare
    no-ops: what the ratios would be if both had a whole core, which the shared machine does not always give."""
    method = r.route.split()[0]
    found = [refs.get(f"{ref} {method}") for ref in ("starlette", "bare")]
    if r.bulk or not r.cpu_us or None in found:
        return ""
    return " / ".join(f"{ref.cpu_us / r.cpu_us:.2f}x" for ref in found)


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def _goal(text: str, ok: bool) -> str:
    return f"[{'met ' if ok else 'MISS'}] {text}"


def _ratio_goal(text: str, value: float | None, need: float) -> str:
    if value is None:
        return f"[n/a ] {text}"
    return _goal(f"{text} (measured {value:.2f}x)", value >= need)


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
        refs = reference_rows(args, log_dir)
        results = [(backend, *footfall_rows(backend, args, log_dir)) for backend in backends]
        table(refs, results, args)
