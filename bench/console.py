"""Console benchmark: render time of every console page, and of the builder's live count, on a big account.

`python -m bench console [--profiles=N] [--events=N] [--repeat=N] [--quick] [--backend=sqlite|postgres|both]`
(flags with `=`). The data set (default 100,000 profiles and 1,000,000 events over 180 days, three
metrics) is generated with the segments benchmark's bulk loader (executemany / COPY straight into the
store, not the HTTP API), plus one evaluated three-condition segment. Then a real server (uvicorn + the
app, in this process) is signed in to over HTTP and each page is fetched once and then `repeat` times
more; the table gives the first fetch's milliseconds (the first view, before the aggregate cache or any
other holds its answer) and p50 / p95 of the others, per page and for the live count, against the goals
(300 ms per page, 1 s per count; the p95 is what is compared).
"""

from __future__ import annotations

import argparse
import random
import re
import threading
import time
import uuid
from typing import Any

import httpx
import uvicorn

from bench import segments as seg_bench
from bench.timing import first_p50_p95_ms
from footfall import clock
from footfall.app import create_app
from footfall.config import Settings
from footfall.domain.rate_limit_tiers import RateLimitSettings
from footfall.segments import evaluator
from footfall.store import accounts, db, migrate, segment_list_rows

PAGE_GOAL_MS = 300.0
COUNT_GOAL_MS = 1000.0


def main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    if args.quick:
        args.profiles, args.events, args.repeat = 10_000, 100_000, 5
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        print(f"[console] {backend}: {args.profiles:,} profiles, {args.events:,} events", flush=True)
        rows = run_backend(backend, args)
        print(f"\n{'backend':9} {'page':46} {'first ms':>9} {'p50 ms':>8} {'p95 ms':>8} {'goal ms':>8}  ok")
        for name, first, p50, p95, goal in rows:
            print(f"{backend:9} {name:46} {first:9.1f} {p50:8.1f} {p95:8.1f} {goal:8.0f}  "
                  f"{'yes' if p95 <= goal else 'NO'}")
        print(flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench console")
    p.add_argument("--profiles", type=int, default=100_000)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="a small run: 10k profiles, 100k events, 5 repeats")
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--seed", type=int, default=7)
    return p


def run_backend(backend: str, args: argparse.Namespace) -> list[tuple[str, float, float, float, float]]:
    url, cleanup = seg_bench._fresh_database(backend)
    try:
        migrate.upgrade(url)
        conn = db.connect(url, synchronous="OFF")
        made = accounts.create_account(conn, f"bench-{uuid.uuid4().hex[:6]}")
        started = time.perf_counter()
        metric_ids = seg_bench.load(conn, made.account.id, args.profiles, args.events, random.Random(args.seed))
        definition = seg_bench.three_conditions(metric_ids["Bought"])
        sid = seg_bench._insert_segment(conn, made.account.id, definition)
        seg = evaluator.segment_from_row(made.account.id, segment_list_rows.segment(conn, made.account.id, sid))
        conn.rollback()
        evaluator.evaluate_full(conn, seg, clock.now())
        conn.begin()
        segment_list_rows.finish_processing(conn, made.account.id, sid, seg.version, clock.now())
        conn.commit()
        conn.close()
        print(f"  loaded and evaluated in {time.perf_counter() - started:.1f} s", flush=True)
        return measure(url, made.private_key, metric_ids["Bought"], sid, definition, args.repeat)
    finally:
        cleanup()


def measure(url: str, key: str, bought: str, sid: str, definition: dict[str, Any],
            repeat: int) -> list[tuple[str, float, float, float, float]]:
    port = seg_bench._free_port()
    settings = Settings(database_url=url, rate_limits=RateLimitSettings(enabled=False))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
            assert c.post("/console/signin", data={"key": key}).status_code == 303
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/").text).group(1)
            pages = {
                "overview /": "/",
                "live feed poll": "/console/feed",
                "metrics list": "/console/metrics",
                "metric, day (30 d)": f"/console/metrics/{bought}",
                "metric, hour (2 d)": f"/console/metrics/{bought}?interval=hour",
                "metric, month (1 y), unique": f"/console/metrics/{bought}?interval=month&measure=unique",
                "metric, by Category": f"/console/metrics/{bought}?by=Category",
                "profile search (email)": "/console/profiles?q=user4242@bench.example",
                "profile search (Plan=pro)": "/console/profiles?q=Plan%3Dpro",
                "profile page": f"/console/profiles/{seg_bench._pid(4242)}",
                "segments list": "/console/segments",
                "segment page": f"/console/segments/{sid}",
                "segment builder (edit)": f"/console/segments/{sid}/edit",
                "lists": "/console/lists",
            }
            rows = []
            for name, path in pages.items():
                times = first_p50_p95_ms(lambda: _ok(c.get(path)), repeat)
                rows.append((name, *times, PAGE_GOAL_MS))
            body = {"definition": definition, "segment_id": None}
            headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
            times = first_p50_p95_ms(lambda: _ok(c.post("/console/segments/count", json=body, headers=headers)),
                                     repeat)
            rows.append(("live count (3 conditions)", *times, COUNT_GOAL_MS))
            return rows
    finally:
        server.should_exit = True
        thread.join(15)


def _ok(r: httpx.Response) -> None:
    if r.status_code != 200:
        raise RuntimeError(f"{r.request.url} answered {r.status_code}: {r.text[:300]}")
