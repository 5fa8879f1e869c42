"""Scaling through the balancer: events/s with 1, 2 and 3 Footfall hosts behind HAProxy on one
PostgreSQL (bench/cluster_harness.py), the CPU each kind of process spends per event, and which one
runs out first.

`python -m bench cluster [--duration S] [--hosts 1,2,3]`. wrk (pinned to the last CPU) sends unique
events through the balancer, one kind of request at a time: single events (POST /client/events) and
bulk requests of 100. CPU is read from /proc for the hosts (server and writer processes), HAProxy,
PostgreSQL (every backend) and Redis, around each run. Rate limits are off: this measures capacity.
On a machine with few cores every process shares them, so events/s stops growing once the machine
is busy; the CPU per event is what carries over to a bigger machine.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

from bench.cluster_harness import Cluster
from bench.crash import NO_RATE_LIMITS
from bench.ingest import ensure_wrk, run_wrk
from bench.routes import Keys
from bench.server_proc import cpu_seconds, descendants
from footfall.store import db

KINDS = {"client_event": ("POST /client/events", 1), "bulk": ("bulk create x100", 100)}


@dataclass
class Run:
    hosts: int
    kind: str
    events_per_s: float
    p99_ms: float
    refused: int
    other: int
    cpu_us: dict[str, float]  # CPU microseconds per event, by process kind
    busy: dict[str, float]  # share of one core, by process kind
    machine: float  # share of every core busy during the run, whoever used it (wrk, other work)

    @property
    def machine_busy(self) -> float:
        return sum(self.busy.values())


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of every CPU so far, from /proc/stat."""
    fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _pids(cluster: Cluster) -> dict[str, list[int]]:
    assert cluster.pg is not None and cluster.haproxy is not None and cluster.redis is not None
    return {"hosts": [p for h in cluster.hosts for p in h.proc.server_pids()], "haproxy": [cluster.haproxy.pid],
            "postgres": cluster.pg.pids(), "redis": descendants(cluster.redis.pid)}


def measure(cluster: Cluster, kind: str, keys: Keys, duration: float, connections: int) -> Run:
    run_wrk(cluster.url, kind, keys, duration=1, connections=connections, bulk=100)  # warm up
    before = _pids(cluster)
    cpu0 = {k: cpu_seconds(v) for k, v in before.items()}
    busy0, total0 = _machine_ticks()
    began = time.monotonic()
    res = run_wrk(cluster.url, kind, keys, duration=duration, connections=connections, bulk=100)
    wall = time.monotonic() - began
    busy1, total1 = _machine_ticks()
    after = _pids(cluster)
    # processes that came or went during the run (PostgreSQL backends) count with what they used
    spent = {k: cpu_seconds(sorted(set(after[k]) | set(before[k]))) - cpu0[k] for k in after}
    events = res["acked"] * KINDS[kind][1]
    seconds = res["duration_us"] / 1e6
    return Run(cluster.size, kind, events / seconds, res["p99_us"] / 1000, res["refused"], res["other"],
               {k: v * 1e6 / max(events, 1) for k, v in spent.items()}, {k: v / wall for k, v in spent.items()}, (busy1 - busy0) / max(total1 - total0, 1))


def stored_events(cluster: Cluster, account_id: str) -> int:
    conn = db.connect(cluster.database_url)
    try:
        return conn.one("SELECT COUNT(*) FROM events WHERE account_id = ?", (account_id,))[0]
    finally:
        conn.close()


def first_limit(runs: list[Run]) -> str:
    """Which limit each size met first: a host's one worker process (about one core), the machine's
    CPU, or neither; and which process kind spends the most CPU per event."""
    cores = os.cpu_count() or 1
    parts = []
    for r in runs:
        per_host = r.busy["hosts"] / r.hosts
        limit = ("the machine's CPU" if r.machine >= 0.9 else
                 "the host (its worker near one core)" if per_host >= 0.75 else "none reached")
        parts.append(f"{r.hosts} host(s): {r.events_per_s:.0f}/s, each host {per_host:.2f} core, machine "
                     f"{r.machine:.0%} -> {limit}")
    last = runs[-1]
    heaviest = max(last.cpu_us, key=last.cpu_us.get)
    return (f"{last.kind} on {cores} cores: " + "; ".join(parts)
            + f". Most CPU per event: {heaviest} ({last.cpu_us[heaviest]:.0f} us of {sum(last.cpu_us.values()):.0f} us)")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--hosts", default="1,2,3", help="cluster sizes to measure")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"of {', '.join(KINDS)}")
    parser.add_argument("--rate-limits", action="store_true",
                        help="count requests in Redis (tiers x1000, so none is refused): what the shared counters cost")
    args, _ = parser.parse_known_args(argv)
    ensure_wrk()
    runs: list[Run] = []
    for size in [int(n) for n in args.hosts.split(",")]:
        limits = {"FOOTFALL_RATE_LIMIT_MULTIPLIER": "1000"} if args.rate_limits else NO_RATE_LIMITS
        with Cluster(hosts=size, env={**limits, "FOOTFALL_METRICS": "0"}, fsync=True) as cluster:
            assert cluster.account is not None
            keys = Keys(cluster.account.public_key, cluster.account.private_key)
            for kind in args.kinds.split(","):
                run = measure(cluster, kind, keys, args.duration, args.connections)
                runs.append(run)
                print(_line(run), flush=True)
            stored = stored_events(cluster, cluster.account.id)
            print(f"  ({size} host(s): {stored} events stored in all)", flush=True)
    print(f"\ncluster scaling, {os.cpu_count()} CPUs, wrk -c{args.connections} {args.duration:.0f}s per run, "
          f"PostgreSQL with fsync on, rate limits {'on, in Redis' if args.rate_limits else 'off'} "
          f"(command: python -m bench cluster{' --rate-limits' if args.rate_limits else ''})")
    for kind in args.kinds.split(","):
        mine = [r for r in runs if r.kind == kind]
        if mine:
            print("  " + first_limit(mine))


def _line(r: Run) -> str:
    costs = ", ".join(f"{k} {v:.0f}" for k, v in r.cpu_us.items())
    busy = ", ".join(f"{k} {v:.2f}" for k, v in r.busy.items())
    return (f"{r.hosts} host(s)  {KINDS[r.kind][0]:<22} {r.events_per_s:>8.0f} events/s  p99 {r.p99_ms:.0f} ms  "
            f"refused {r.refused} other {r.other}  CPU us/event: {costs}  cores busy: {busy}  "
            f"machine {r.machine:.0%} busy")
