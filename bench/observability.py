"""What access logs and metrics cost: single-event ingest with them off and on, same run.

`python -m bench observability [--duration S] [--rounds N] [--backend sqlite|postgres]` (part of
`make bench`). `footfall serve` runs pinned to CPU 0, wrk on CPU 1 (as bench/ingest.py). "off":
FOOTFALL_METRICS=0, no access log. "on": FOOTFALL_ACCESS_LOG=1 with FOOTFALL_LOG_FORMAT=json
(written to a file) and metrics on (multiprocess files, as `footfall serve` always has them).
The two alternate for N rounds, so a neighbour's load hits both alike; the table shows the median
of each and the on/off ratios of req/s and of server CPU per request. The goal: logging and metrics
cost at most 5% of throughput (ratio >= 0.95).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

from bench.crash import database, new_account
from bench.ingest import SERVER_CPU, Row, ensure_wrk, measure
from bench.server_proc import footfall_serve

MODES = {
    "off": {"FOOTFALL_METRICS": "0", "FOOTFALL_ACCESS_LOG": "0"},
    "on": {"FOOTFALL_METRICS": "1", "FOOTFALL_ACCESS_LOG": "1", "FOOTFALL_LOG_FORMAT": "json"},
}
ROUTES = (("track_get", "GET /api/track"), ("client_event", "POST /client/events"))
GOAL = 0.95


def run_mode(url: str, mode: str, kind: str, route: str, keys, args, log_dir: str) -> Row:
    env = {"FOOTFALL_RATE_LIMITS": "off", **MODES[mode]}
    proc = footfall_serve(url, cpu=SERVER_CPU, env=env, log_path=os.path.join(log_dir, f"serve-{mode}.log"))
    proc.start(timeout=90)
    try:
        return measure(proc, f"logs+metrics {mode}", route, kind, keys, args, 1)
    finally:
        proc.stop()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench observability", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="off/on pairs per route")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="one round of 2 s runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds = 2.0, 1
    args.bulk_size = 1
    ensure_wrk()
    results: dict[tuple[str, str], list[Row]] = {}
    with database(args.backend) as url, tempfile.TemporaryDirectory(prefix="footfall-bench-obs-") as log_dir:
        account = new_account(url)
        for kind, route in ROUTES:
            for _ in range(args.rounds):
                for mode in ("off", "on"):
                    row = run_mode(url, mode, kind, route, account.keys, args, log_dir)
                    results.setdefault((route, mode), []).append(row)
                    print(f"  {route:22} {mode:3}  {row.rps:9,.0f} req/s  {row.cpu_us:6.0f} us/req  "
                          f"p99 {row.p99_ms:6.2f} ms" + (f"  refused {row.refused}" if row.refused else ""), flush=True)
        logged = os.path.getsize(os.path.join(log_dir, "serve-on.log"))
    print(f"\nLogging and metrics cost ({args.backend}, {args.rounds} round(s) of {args.duration:g}s per mode, "
          f"{args.connections} connections; medians; access log written: {logged / 2**20:.1f} MB)")
    print(f"{'route':22} {'off req/s':>10} {'on req/s':>10} {'ratio':>6} {'off us/req':>10} {'on us/req':>10} "
          f"{'cpu ratio':>9}  goal")
    for _, route in ROUTES:
        off, on = results[(route, "off")], results[(route, "on")]
        off_rps, on_rps = statistics.median(r.rps for r in off), statistics.median(r.rps for r in on)
        off_us, on_us = statistics.median(r.cpu_us for r in off), statistics.median(r.cpu_us for r in on)
        ratio, cpu_ratio = on_rps / off_rps, off_us / on_us
        verdict = "met " if ratio >= GOAL else "MISS"
        print(f"{route:22} {off_rps:10,.0f} {on_rps:10,.0f} {ratio:6.3f} {off_us:10.0f} {on_us:10.0f} {cpu_ratio:9.3f}  "
              f"[{verdict}] on/off >= {GOAL}")
