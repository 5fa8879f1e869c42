"""`make crashtest`: every fault drill in its long form, one after another, and one PASS / FAIL.

kill -9 under load and PostgreSQL outages / stalls (bench/crash.py), webhook deliveries across kills
(bench/webhooks.py), open-loop overload against a stalled PostgreSQL (bench/overload.py). The test
suite runs short forms of the same drills.
"""

from __future__ import annotations

import argparse

from bench.crash import crash_drill, database, outage_drill
from bench.overload import overload_drill
from bench.webhooks import drill as webhook_drill


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench crashtest", description=__doc__)
    parser.add_argument("--kills", type=int, default=20, help="kill -9 per backend (default 20)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--down", type=float, default=5.0, help="seconds PostgreSQL stays stopped / stalled")
    parser.add_argument("--quick", action="store_true", help="3 kills, short outages")
    args = parser.parse_args(argv)
    kills = 3 if args.quick else args.kills
    down = 2.0 if args.quick else args.down
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    failures = 0
    for backend in backends:
        with database(backend) as url:
            result = crash_drill(backend, url, kills=kills)
        print(result.report(), flush=True)
        failures += not result.ok
        for line in result.stats.unexpected[:5]:
            print("   unexpected:", line)
    for backend in backends:
        with database(backend) as url:
            hooks = webhook_drill(backend, url, kills=min(kills, 10))
        print(hooks.report(), flush=True)
        failures += not hooks.ok
    if "postgres" in backends:
        from tests.pg_instance import PgInstance  # a private PostgreSQL the drills may stop

        with PgInstance() as pg:
            drills = [
                dict(stall=False, down_seconds=down),
                # Overload: clients that do not back off, against a stalled store, with the default
                # 5 s acknowledgement bound and a longer stall than that.
                dict(stall=True, down_seconds=max(down, 8.0), threads=24, backoff=0.0),
            ]
            for drill in drills:
                result = outage_drill(pg, **drill)
                print(result.report(), flush=True)
                failures += not result.ok
            overload = overload_drill(pg, stall=max(down, 8.0), after=6.0 if args.quick else 8.0)
            print(overload.report(), flush=True)
            print("\n".join(overload.timeline()), flush=True)
            failures += not overload.ok
    print("crashtest:", "PASS" if not failures else f"FAIL ({failures} drills failed)")
    if failures:
        raise SystemExit(1)
