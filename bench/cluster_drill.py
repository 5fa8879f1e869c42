"""The cluster drill: under load through the balancer, kill -9 a host, restart it, then stop
PostgreSQL for a few seconds (bench/cluster_harness.py).

What must hold: every event a client saw acknowledged is stored exactly once; clients get only
acknowledgements, 503 / 429 with Retry-After (from a host, or from the balancer when no host could
answer) or a connection to retry, never another answer — and a connection closed without an answer
only just after a kill (HAProxy closes the client connections whose requests it had already sent to
the killed host; the clients retry them with the same event ids); the balancer takes the killed host out
within its check interval and puts it back once it is ready; after PostgreSQL returns, every host
is taken back without a restart.

`make crashtest` runs the long form (`python -m bench.cluster_drill`: each host killed in turn, a
5 s outage); tests/test_cluster.py runs a short form on its cluster.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

from bench.cluster_harness import CHECK_FALL, CHECK_INTERVAL, Cluster, Host
from bench.crash import NO_RATE_LIMITS, Verdict, ingest_routes, verdict
from bench.loadgen import Load, LoadStats
from bench.routes import Keys

# A request the balancer had already sent to the killed host ends with its connection closed; none after this.
CLOSED_AFTER_KILL_WITHIN = 1.0
# The balancer marks a host down after CHECK_FALL failed checks, CHECK_INTERVAL apart; the first
# failing check may come up to one interval after the kill, and the stats page is polled.
TAKEN_OUT_WITHIN = CHECK_INTERVAL * (CHECK_FALL + 1) + 0.25


@dataclass
class DrillResult:
    verdict: Verdict
    stats: LoadStats
    taken_out: list[float] = field(default_factory=list)  # seconds from kill -9 to DOWN in the balancer
    back_in: list[float] = field(default_factory=list)  # seconds from restart to UP
    outage_seconds: float = 0.0
    recovered_after: float = 0.0  # seconds from PostgreSQL's restart until every host was UP again
    acked_after_outage: int = 0
    host_restarts_during_outage: list[str] = field(default_factory=list)
    killed_at: list[float] = field(default_factory=list)  # monotonic

    @property
    def stray_connection_errors(self) -> int:
        """Connections closed without an answer other than just after a kill."""
        return sum(1 for t in self.stats.connection_error_times
                   if not any(0 <= t - k <= CLOSED_AFTER_KILL_WITHIN for k in self.killed_at))

    @property
    def ok(self) -> bool:
        return (self.verdict.ok and not self.stats.unexpected and self.stats.refused_without_retry_after == 0
                and self.stray_connection_errors == 0
                and max(self.taken_out, default=0) <= TAKEN_OUT_WITHIN and self.acked_after_outage > 0
                and not self.host_restarts_during_outage)

    def report(self) -> str:
        s = self.stats
        return (f"[cluster drill] {self.verdict.line()}; {s.sent_requests} requests, statuses {dict(s.statuses)}, "
                f"connections closed without an answer {s.connection_errors} {dict(s.connection_error_kinds)} "
                f"({self.stray_connection_errors} not just after a kill), refused without Retry-After {s.refused_without_retry_after}, "
                f"unexpected {len(s.unexpected)}; killed host out of the balancer after "
                f"{', '.join(f'{t:.2f}' for t in self.taken_out)} s (bound {TAKEN_OUT_WITHIN:.2f} s), back in "
                f"{', '.join(f'{t:.2f}' for t in self.back_in)} s after restart; PostgreSQL stopped "
                f"{self.outage_seconds:.1f} s, every host UP again {self.recovered_after:.2f} s after it returned, "
                f"{self.acked_after_outage} acknowledged after; hosts that exited during the outage: "
                f"{self.host_restarts_during_outage or 'none'} -> {'PASS' if self.ok else 'FAIL'}")


def drill(cluster: Cluster, *, kills: list[Host] | None = None, down: float = 5.0, threads: int = 6,
          warmup: float = 1.5, settle: float = 1.5, after: float = 3.0) -> DrillResult:
    assert cluster.pg is not None
    account = cluster.new_account(f"drill-{time.monotonic_ns()}")
    keys = Keys(account.public_key, account.private_key)
    routes = ingest_routes(cluster.url, keys, notice=lambda _: None)
    everyone = {h.name: "UP" for h in cluster.hosts}
    result = DrillResult(Verdict(0, 0, [], []), LoadStats())
    load = Load(cluster.url, keys, routes, threads=threads, timeout=15).start()
    try:
        time.sleep(warmup)
        for host in kills if kills is not None else cluster.hosts[1:2]:
            result.killed_at.append(time.monotonic())
            cluster.kill9(host)
            result.taken_out.append(cluster.wait_states({host.name: "DOWN"}, timeout=10))
            time.sleep(settle)
            began = time.monotonic()
            cluster.restart(host)
            cluster.wait_states({host.name: "UP"}, timeout=10)
            result.back_in.append(time.monotonic() - began)
            time.sleep(settle)
        stopped = time.monotonic()
        cluster.pg.stop("fast")
        time.sleep(down)
        cluster.pg.start()
        back = time.monotonic()
        result.outage_seconds = back - stopped
        result.recovered_after = cluster.wait_states(everyone, timeout=30)
        time.sleep(after)
        result.acked_after_outage = load.acks_between(back, time.monotonic())
    finally:
        result.stats = load.stop()
    result.host_restarts_during_outage = [h.name for h in cluster.hosts if h.proc.popen.poll() is not None]
    time.sleep(0.5)  # the last acknowledged commits are visible to a new connection
    result.verdict = verdict(cluster.database_url, account.id, result.stats)
    return result


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_drill", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--down", type=float, default=5.0, help="seconds PostgreSQL stays stopped")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    with Cluster(hosts=3, env=NO_RATE_LIMITS) as cluster:
        result = drill(cluster, kills=list(cluster.hosts), down=args.down, threads=args.threads)
    print(result.report(), flush=True)
    for line in result.stats.unexpected[:5]:
        print("   unexpected:", line)
    if not result.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
