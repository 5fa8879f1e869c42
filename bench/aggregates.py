"""Metric aggregates over a year of events: p50 / p95 per query, by interval and zone, on SQLite (and PostgreSQL).

`python -m bench aggregates [--events=N] [--repeat=N] [--pg=postgresql://…]`. Events are written straight
into a fresh database (one metric, 1000 profiles, spread evenly over 2025) and their rollups built
(store/rollups.rebuild), then store.aggregates runs the query the route runs, two ways in the same run:
`events`, every measurement grouped from the events (what the route did before rollups), and `now`,
only the measurements asked for, from the rollups where the query allows. Goal (issue 17): a one-year
daily count + sum with a time zone ≤ 100 ms p95.
"""

from __future__ import annotations

import random
import tempfile
import uuid
from zoneinfo import ZoneInfo

from bench.timing import p50_p95_ms
from footfall.analytics import buckets
from footfall.store import aggregates, db, migrate, rollups

YEAR_START = 1735689600  # 2025-01-01T00:00:00Z
YEAR = 365 * 86400
GOAL_MS = 100.0
ALL = ("count", "sum_value", "unique")
QUERIES = [  # interval, zone, by, measurements asked
    ("day", "America/New_York", [], ("count", "sum_value")),
    ("day", "Asia/Kathmandu", [], ("count", "sum_value")),
    ("day", "UTC", [], ("count", "sum_value")),
    ("hour", "Europe/Berlin", [], ("count", "sum_value")),
    ("month", "Europe/Berlin", [], ("unique",)),
    ("week", "America/New_York", ["Item"], ("count", "sum_value")),
]


def _fill(url: str, n: int) -> tuple[str, str]:
    account, metric = "A" * 26, "Mbench"
    conn = db.connect(url)
    try:
        conn.begin()
        conn.execute("INSERT INTO metrics (account_id, id, name, integration, created, updated) VALUES (?,?,?,?,?,?)",
                     (account, metric, "Placed Order", "API", 0, 0))
        rng = random.Random(7)
        rows = []
        for i in range(n):
            rows.append((account, f"E{i:025d}", metric, f"P{rng.randrange(1000):025d}", YEAR_START + rng.randrange(YEAR),
                         rng.choice([5.0, 10.0, 25.5]), None, None, str(i),
                         conn.to_json({"Item": rng.choice(["Boots", "Hat", "Scarf"])}), 0.0))
        conn.executemany("INSERT INTO events (account_id, id, metric_id, profile_id, time, value, value_currency, "
                         "unique_id, dedup_key, properties, received) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        rollups.rebuild(conn, account)
        conn.commit()
        conn.execute("ANALYZE")
        if conn.dialect == "postgresql":
            conn.commit()
    finally:
        conn.close()
    return account, metric


def _time(url: str, account: str, metric: str, repeat: int) -> None:
    conn = db.connect(url)
    print(f"  {'interval':8} {'zone':17} {'by':9} {'asked':17} {'rollups':7} {'events p50':>10} {'p95':>7} "
          f"{'now p50':>8} {'p95':>7} {'p95 ratio':>9}")
    try:
        for interval, zone, by, asked in QUERIES:
            plan = buckets.plan(interval, ZoneInfo(zone), YEAR_START, YEAR_START + YEAR)

            def before():
                rows = aggregates.aggregate(conn, account, metric, plan, by, [], 200_000, ALL, use_rollups=False)
                conn.rollback()
                return rows

            def now():
                rows = aggregates.aggregate(conn, account, metric, plan, by, [], 200_000, asked)
                conn.rollback()
                return rows

            b50, b95 = p50_p95_ms(before, max(3, repeat // 4))
            n50, n95 = p50_p95_ms(now, repeat)
            used = "yes" if "unique" not in asked and aggregates.from_rollups(plan, by, []) else "no"
            ok = "" if by or "unique" in asked or interval == "hour" else ("  ok" if n95 <= GOAL_MS else "  NO")
            print(f"  {interval:8} {zone:17} {','.join(by) or '-':9} {'+'.join(asked):17} {used:7} {b50:10.1f} "
                  f"{b95:7.1f} {n50:8.1f} {n95:7.1f} {b95 / n95:8.1f}x{ok}", flush=True)
    finally:
        conn.close()


def main(argv: list[str]) -> None:
    n = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--events=")), 1_000_000)
    repeat = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--repeat=")), 20)
    pg = next((a.split("=", 1)[1] for a in argv if a.startswith("--pg=")), None)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        print(f"SQLite, {n} events over 2025 (ms; goal {GOAL_MS:.0f} ms p95 for a daily count + sum):", flush=True)
        _time(url, *_fill(url, n), repeat)
    if pg:
        import psycopg

        name = f"footfall_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = pg.rsplit("/", 1)[0] + "/" + name
        try:
            migrate.upgrade(url)
            print(f"PostgreSQL, {n} events over 2025 (ms; goal {GOAL_MS:.0f} ms p95 for a daily count + sum):", flush=True)
            _time(url, *_fill(url, n), repeat)
        finally:
            with psycopg.connect(pg, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
