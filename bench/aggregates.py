"""Metric aggregates over a year of events: time per query, by interval and zone, on SQLite (and PostgreSQL).

`python -m bench aggregates [--events=N] [--pg=postgresql://…]`. Events are written straight into a fresh
database (one metric, 1000 profiles, spread evenly over 2025), then store.aggregates runs the query
the route runs.
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from zoneinfo import ZoneInfo

from footfall.analytics import buckets
from footfall.store import aggregates, db, migrate

YEAR_START = 1735689600  # 2025-01-01T00:00:00Z
YEAR = 365 * 86400


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
        conn.commit()
    finally:
        conn.close()
    return account, metric


def _time(url: str, account: str, metric: str) -> None:
    conn = db.connect(url)
    try:
        for interval, zone, by in [("day", "UTC", []), ("day", "America/New_York", []), ("hour", "Europe/Berlin", []),
                                   ("week", "America/New_York", ["Item"]), ("month", "Europe/Berlin", ["Item"])]:
            started = time.perf_counter()
            plan = buckets.plan(interval, ZoneInfo(zone), YEAR_START, YEAR_START + YEAR)
            rows = aggregates.aggregate(conn, account, metric, plan, by, [], 200_000)
            conn.rollback()
            elapsed = time.perf_counter() - started
            print(f"  {interval:5} {zone:17} by={by!s:9} {len(plan.keys):5} buckets {len(rows):6} rows  {elapsed * 1000:7.0f} ms")
    finally:
        conn.close()


def main(argv: list[str]) -> None:
    n = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--events=")), 200_000)
    pg = next((a.split("=", 1)[1] for a in argv if a.startswith("--pg=")), None)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        print(f"SQLite, {n} events over 2025:")
        _time(url, *_fill(url, n))
    if pg:
        import psycopg

        name = f"footfall_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = pg.rsplit("/", 1)[0] + "/" + name
        try:
            migrate.upgrade(url)
            print(f"PostgreSQL, {n} events over 2025:")
            _time(url, *_fill(url, n))
        finally:
            with psycopg.connect(pg, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
