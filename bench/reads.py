"""Read-side query layer: time per page of GET /api/events and /api/profiles queries on a large account.

`python -m bench reads [--events=N] [--pg=postgresql://…/db]` fills a fresh database (SQLite always,
PostgreSQL when --pg names an empty, migrated database or FOOTFALL_BENCH_PG is set) with N events over
N/100 profiles and 10 metrics, then times the store queries the read routes run (no HTTP).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from datetime import datetime, timezone
from typing import Callable

from footfall import ids
from footfall.store import db, migrate
from footfall.store.queries import events as event_queries
from footfall.store.queries import profiles as profile_queries
from footfall.store.queries.paging import Window
from footfall.wire.filters import Checked

T0 = 1_700_000_000


def fill(conn: db.Conn, account: str, n_events: int) -> tuple[list[str], list[str]]:
    rng = random.Random(7)
    metrics = [ids.short_id() for _ in range(10)]
    profiles = [ids.new_ulid() for _ in range(max(1, n_events // 100))]
    conn.begin()
    conn.executemany("INSERT INTO metrics (account_id, id, name, integration, created, updated) VALUES (?,?,?,?,?,?)",
                     [(account, m, f"Metric {i}", "API", T0, T0) for i, m in enumerate(metrics)])
    conn.executemany(
        "INSERT INTO profiles (account_id, id, email, location, properties, consent, created, updated) "
        "VALUES (?,?,?,?,?,?,?,?)",
        [(account, p, f"p{i}@example.com", conn.to_json({}), conn.to_json({}), conn.to_json({}), T0 + i, T0 + i)
         for i, p in enumerate(profiles)])
    conn.executemany("INSERT INTO profile_identifiers (account_id, kind, value, profile_id) VALUES (?,?,?,?)",
                     [(account, "email", f"p{i}@example.com", p) for i, p in enumerate(profiles)])
    rows = []
    for i in range(n_events):
        pid, mid = rng.choice(profiles), rng.choice(metrics)
        rows.append((account, ids.new_ulid(), mid, pid, T0 + rng.randrange(0, 86400 * 365), float(i), str(i),
                     conn.to_json({"n": i, "sku": f"S{i % 97}"}), T0))
    conn.executemany(
        "INSERT INTO events (account_id, id, metric_id, profile_id, time, value, dedup_key, properties, received) "
        "VALUES (?,?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    if conn.dialect == "postgresql":  # as autovacuum would soon after a bulk load
        conn.execute("ANALYZE")
        conn.commit()
    return metrics, profiles


def timed(fn: Callable[[], object], repeat: int = 20) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def run(url: str, label: str, n_events: int) -> None:
    conn = db.connect(url)
    account = ids.new_ulid()
    start = time.perf_counter()
    metrics, profiles = fill(conn, account, n_events)
    print(f"{label}: filled {n_events} events in {time.perf_counter() - start:.1f}s")
    deep = event_queries.page(conn, account, [], "-datetime", Window(1000)).next
    for _ in range(n_events // 2000):
        deep = event_queries.page(conn, account, [], "-datetime", Window(1000, deep)).next
    conn.rollback()
    month = Checked("datetime", "greater-or-equal", datetime.fromtimestamp(T0 + 86400 * 300, tz=timezone.utc))
    cases = {
        "events first page (200)": lambda: event_queries.page(conn, account, [], "-datetime", Window(200)),
        f"events page at ~{n_events // 2} (200)": lambda: event_queries.page(conn, account, [], "-datetime",
                                                                                 Window(200, deep)),
        "events metric_id + datetime (200)": lambda: event_queries.page(
            conn, account, [Checked("metric_id", "equals", metrics[3]), month], "datetime", Window(200)),
        "events profile_id (200)": lambda: event_queries.page(
            conn, account, [Checked("profile_id", "equals", profiles[5])], "-datetime", Window(200)),
        "profiles by email (100, last_event_date)": lambda: profile_queries.page(conn, account, [], "email",
                                                                                 Window(100)),
        "profiles email equals": lambda: profile_queries.page(
            conn, account, [Checked("email", "equals", "p5@example.com")], "id", Window(20)),
    }
    for name, fn in cases.items():
        ms = timed(lambda: (fn(), conn.rollback()))
        print(f"  {name:<42} {ms:8.2f} ms median")
    conn.close()


def main(argv: list[str]) -> None:
    flags = dict(a.lstrip("-").split("=", 1) for a in argv if "=" in a)
    n_events = int(flags.get("events", 100_000))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/reads.db"
        migrate.upgrade(url)
        run(url, "sqlite", n_events)
    pg = flags.get("pg") or os.environ.get("FOOTFALL_BENCH_PG")
    if pg:
        migrate.upgrade(pg)
        run(pg, "postgresql", n_events)
