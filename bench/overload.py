"""Overload drill: 3x the sustainable rate, open loop, while PostgreSQL is SIGSTOPped, then SIGCONT.

Issue 5: "the queue stays bounded, memory stays flat, clients get 503/429 with Retry-After, and
throughput returns when the store does." Steps, on a private cluster (tests/pg_instance.py):
  1. measure the sustainable rate: closed-loop senders against the healthy server (same client);
  2. offer `factor` x that rate open loop (bench/openloop.py): for `loaded` seconds with the store
     healthy, then for `stall` seconds with the cluster SIGSTOPped, then for `after` seconds after
     SIGCONT;
  3. verdict: queue (sampled from /healthz) never above its configured bound; memory flat: server
     RSS (all its processes) during the stall and after it at most `flat_mb` above its peak under
     the same offer before the stall, and never above `rss_limit_mb`; every 503/429 carried an
     integer Retry-After; nothing but 200/202/503/429; within `recover_within` seconds of SIGCONT
     three whole seconds in a row acknowledged on average >= 60% of what the server acknowledged per
     second under the same offer before the stall; every acknowledged event id stored, none twice;
     no server restart.

The load generator and PostgreSQL run on the last CPU (when there are several), the server may use
all of them. Why the recovery is judged against the same offer before the stall, not against the
closed-loop rate: offering 3x costs the load generator three times the CPU it needed to measure the
sustainable rate, and under a 3x offer the server itself spends CPU on refusals, so what the server
acknowledges under that offer is below the closed-loop rate before any stall. Both ratios are
reported. Three seconds, not one, and 60%: on a 2-core machine the acknowledgements of one second
under a 3x offer vary from 20% to 150% of their mean (a group commit of several hundred events lands
in one second or the next), so a one-second bar would measure that noise. Measured here with the
commits in a thread of the server (before the writer process): 32-44% of the sustainable rate
under the offer and after SIGCONT; with the writer process: 60-75%.
`make crashtest` runs the long form; tests/test_faults_pg.py a short one.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from bench.crash import NO_RATE_LIMITS, Verdict, ingest_routes, new_account, verdict
from bench.openloop import OpenLoop, Phase, Record
from bench.server_proc import footfall_serve
from footfall.store import migrate

RECOVERED_SHARE = 0.6  # of the acknowledged rate before the stall, over WINDOW whole seconds after SIGCONT
WINDOW = 3  # whole seconds


@dataclass
class OverloadResult:
    sustainable: float  # acknowledged req/s, closed loop, healthy store
    offered_rate: float  # req/s scheduled during the stall and after it
    record: Record
    verdict: Verdict
    queue_bound: int
    rss_before: int
    restarted: bool
    rss_limit_mb: float
    recover_within: float
    flat_mb: float
    notes: list[str] = field(default_factory=list)

    # -- figures ----------------------------------------------------------------------------------
    @property
    def back_at(self) -> float:
        return self.record.phase_starts["recovered"]

    @property
    def before(self) -> float:
        """Acknowledged req/s under the same offer with a healthy store: the mean of the whole seconds
        of the loaded phase after its first (which fills the queue and the connection pool)."""
        starts = self.record.phase_starts
        seconds = range(math.ceil(starts["loaded"]) + 1, math.floor(starts["stalled"]))
        acked = [self.record.seconds[s]["acked"] for s in seconds]
        return sum(acked) / len(acked) if acked else 0.0

    @property
    def max_queued(self) -> int:
        return max((s.queued for s in self.record.samples if s.queued is not None), default=-1)

    @property
    def queue_readings(self) -> int:
        return sum(s.queued is not None for s in self.record.samples)

    @property
    def rss_peak(self) -> int:
        return max([self.rss_before, *(s.rss for s in self.record.samples)])

    @property
    def rss_growth_mb(self) -> float:
        return (self.rss_peak - self.rss_before) / 2**20

    @property
    def rss_loaded_peak(self) -> int:
        """Peak RSS under the offer with a healthy store (the level the stall must not raise)."""
        stalled = self.record.phase_starts["stalled"]
        return max([self.rss_before, *(s.rss for s in self.record.samples if s.t < stalled)])

    @property
    def rss_stall_growth_mb(self) -> float:
        return (self.rss_peak - self.rss_loaded_peak) / 2**20

    @property
    def recovery_seconds(self) -> float | None:
        """From SIGCONT to the end of the first two whole seconds that acknowledged on average >= 80%
        of `before`."""
        need = RECOVERED_SHARE * self.before * WINDOW
        for first in self._seconds_after_sigcont()[:1 - WINDOW]:
            if sum(self.record.seconds[first + i]["acked"] for i in range(WINDOW)) >= need:
                return first + WINDOW - self.back_at
        return None

    def _seconds_after_sigcont(self) -> list[int]:
        return list(range(math.ceil(self.back_at), int(self.record.phase_starts["end"])))

    def phase_total(self, key: str, phase: str) -> int:
        starts = self.record.phase_starts
        t1 = starts[{"loaded": "stalled", "stalled": "recovered"}.get(phase, "end")]
        return self.record.total(key, math.floor(starts[phase]), math.ceil(t1))

    # -- verdict ----------------------------------------------------------------------------------
    def failures(self, recovery: bool = True) -> list[str]:
        """What failed; recovery=False leaves out the 80%-within-N-seconds check (see tests)."""
        rec, out = self.record, []
        if not self.verdict.ok:
            out.append(self.verdict.line())
        if self.queue_readings == 0 or self.max_queued > self.queue_bound:
            out.append(f"queue max {self.max_queued} over bound {self.queue_bound} ({self.queue_readings} readings)")
        if self.rss_stall_growth_mb > self.flat_mb:
            out.append(f"RSS grew {self.rss_stall_growth_mb:.0f} MB during the stall and after it (limit {self.flat_mb:g})")
        if self.rss_peak / 2**20 > self.rss_limit_mb:
            out.append(f"RSS peaked at {self.rss_peak / 2**20:.0f} MB (limit {self.rss_limit_mb:g})")
        if rec.refused_without_retry_after:
            out.append(f"{rec.refused_without_retry_after} refusals without an integer Retry-After")
        if not rec.statuses[503] + rec.statuses[429]:
            out.append("no 503/429 although the store was stalled under 3x load")
        if rec.unexpected:
            out.append(f"{len(rec.unexpected)} unexpected answers, e.g. {rec.unexpected[0]}")
        seconds = self.recovery_seconds
        if recovery and (seconds is None or seconds > self.recover_within):
            out.append(f"throughput not back to {RECOVERED_SHARE:.0%} of the {self.before:.0f} req/s before the stall "
                       f"over {WINDOW}s within {self.recover_within:g}s")
        if self.restarted:
            out.append("the server exited")
        return out

    @property
    def best_after_sigcont(self) -> int:
        return max((self.record.seconds[s]["acked"] for s in self._seconds_after_sigcont()), default=0)

    @property
    def ok(self) -> bool:
        return not self.failures()

    def report(self) -> str:
        rec = self.record
        stall = rec.phase_starts["recovered"] - rec.phase_starts["stalled"]
        recovery = self.recovery_seconds
        after = self.best_after_sigcont
        return (f"[overload] sustainable {self.sustainable:.0f} req/s; offered {self.offered_rate:.0f} req/s "
                f"({self.offered_rate / max(self.sustainable, 1):.1f}x) healthy, {stall:.1f}s stalled, after SIGCONT; "
                f"acknowledged under that offer: {self.before:.0f}/s before the stall "
                f"({self.before / max(self.sustainable, 1):.0%} of sustainable), best second after SIGCONT {after}/s "
                f"({after / max(self.before, 1):.0%} of before, {after / max(self.sustainable, 1):.0%} of sustainable): "
                f"offered {rec.total('offered')}, sent {rec.total('sent')}, not sent (in-flight cap "
                f"{rec.max_in_flight}) {rec.total('not_sent')}, timeouts {rec.total('timeout')}, "
                f"connection errors {rec.total('error')} {dict(rec.error_kinds)}; statuses {dict(rec.statuses)}; without Retry-After "
                f"{rec.refused_without_retry_after}; acknowledged during stall {self.phase_total('acked', 'stalled')}; "
                f"queue max {self.max_queued} (bound {self.queue_bound}, {self.queue_readings} readings); RSS "
                f"{self.rss_before / 2**20:.0f} MB before, {self.rss_loaded_peak / 2**20:.0f} MB peak under the offer before "
                f"the stall, {self.rss_peak / 2**20:.0f} MB peak (+{self.rss_stall_growth_mb:.0f} in and after the stall, "
                f"limit +{self.flat_mb:g}; limit {self.rss_limit_mb:g} MB); recovered to >= {RECOVERED_SHARE:.0%} in "
                f"{'never' if recovery is None else f'{recovery:.1f}s'} (limit {self.recover_within:g}s); "
                f"{self.verdict.line()} -> {'PASS' if self.ok else 'FAIL: ' + '; '.join(self.failures())}")

    def timeline(self) -> list[str]:
        """One line per second: offered/sent/not sent, answers, acknowledged, queue, RSS."""
        rec, lines = self.record, []
        starts = {math.floor(t): name for name, t in rec.phase_starts.items()}
        for second in range(int(rec.phase_starts["end"]) + 1):
            c = rec.seconds[second]
            during = [s for s in rec.samples if second <= s.t < second + 1]
            queue = max((s.queued for s in during if s.queued is not None), default=None)
            rss = max((s.rss for s in during), default=0) / 2**20
            answers = " ".join(f"{k}:{v}" for k, v in sorted(c.items()) if k.isdigit())
            lines.append(f"  t={second:3d}s {starts.get(second, ''):9} offered {c['offered']:5d} sent {c['sent']:5d} "
                         f"not-sent {c['not_sent']:5d} acked {c['acked']:5d} [{answers}] queue "
                         f"{'-' if queue is None else queue} rss {rss:.0f} MB")
        return lines


def overload_drill(pg, *, factor: float = 3.0, loaded: float = 4.0, stall: float = 8.0, after: float = 6.0,
                   env: dict[str, str] | None = None, queue_bound: int = 1000, max_in_flight: int = 3000,
                   measure_seconds: float = 3.0, rss_limit_mb: float = 250.0, flat_mb: float = 30.0,
                   recover_within: float = 5.0,
                   log_path: str | None = None) -> OverloadResult:
    """Run the drill on the private cluster `pg` (a tests.pg_instance.PgInstance); see the module doc."""
    env = {**NO_RATE_LIMITS, "FOOTFALL_QUEUE_MAX_ITEMS": str(queue_bound), **(env or {})}
    url = pg.create_database()
    migrate.upgrade(url)
    account = new_account(url)
    server = footfall_serve(url, env=env, log_path=log_path)
    server.start()
    client_cpus = os.sched_getaffinity(0)
    try:
        others = _others_cpus()
        if others is not None:
            pg.pin(others)
            os.sched_setaffinity(0, others)
        routes = ingest_routes(server.url, account.keys)
        probe = OpenLoop(server.url, account.keys, routes, rss=server.rss)
        sustainable = probe.sustainable_rate(measure_seconds)
        rss_before = server.rss()
        rate = factor * sustainable
        load = OpenLoop(server.url, account.keys, routes, max_in_flight=max_in_flight, rss=server.rss)
        record = load.run([Phase("loaded", loaded, rate), Phase("stalled", stall, rate, pg.pause),
                           Phase("recovered", after, rate, pg.resume)])
        record.acked |= probe.record.acked  # the measuring phase's events must be stored too
        restarted = server.popen.poll() is not None
    finally:
        pg.resume()  # never leave the cluster stopped, whatever failed
        pg.pin(None)
        os.sched_setaffinity(0, client_cpus)
        server.stop()
    return OverloadResult(sustainable, rate, record, verdict(url, account.id, record), int(env["FOOTFALL_QUEUE_MAX_ITEMS"]),
                          rss_before, restarted, rss_limit_mb, recover_within, flat_mb)


def _others_cpus() -> set[int] | None:
    """The CPU for the load generator and PostgreSQL: the last one, when there are several.

    A 3x open-loop offer costs the load generator three times the CPU it used to measure the
    sustainable rate; unconfined, that CPU would be taken from the server and the drill would
    measure the client. The server (its HTTP process and its writer process) may use every CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    return {cpus[-1]} if len(cpus) >= 2 else None
