"""Segments benchmark: full evaluation time and live membership latency, on SQLite and PostgreSQL.

`python -m bench segments [--profiles=N] [--events=N] [--quick] [--backend=sqlite|postgres|both]`
(write flags with `=`: the bench dispatcher takes every bare word for a part name).

For each backend it builds a fresh database, generates the data set with bulk inserts straight into
the store (executemany in large transactions on SQLite; COPY on PostgreSQL; the secondary indexes
are dropped during the load and rebuilt after, then ANALYZE, and VACUUM on PostgreSQL), and measures:

1. full evaluation of a three-condition segment (profile property AND metric count in the last 30
   days AND location), both the query alone and with membership written;
2. membership-update latency: a real server (uvicorn + the app, in this process) takes single
   /api/track events at a steady rate, each of which qualifies a new profile for that segment; the
   latency is from the HTTP acknowledgement to the membership worker's commit (its observer hook).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from typing import Any

import httpx

from footfall import clock
from footfall.config import Settings
from footfall.segments import evaluator
from footfall.store import accounts, db, migrate, rollups, segment_list_rows
from footfall.store.url import DatabaseURL

PG_ADMIN = os.environ.get("FOOTFALL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
METRICS = ("Viewed Product", "Bought", "Clicked Email")
PLANS = ("free", "pro", "plus", "team")
COUNTRIES = ("US", "France", "UK", "Germany", "Japan")
DAY = 86400
EVENT_INDEXES = {  # rebuilt after the load
    "ix_events_metric_time": "events (account_id, metric_id, time, profile_id)",
    "ix_events_profile_time": "events (account_id, profile_id, time)",
    "ix_events_time": "events (account_id, time)",
}


def main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    if args.quick:
        args.profiles, args.events, args.duration = 20_000, 200_000, 8
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        print(f"[segments] {backend}: {args.profiles:,} profiles, {args.events:,} events", flush=True)
        results.append(run_backend(backend, args))
    print()
    print(f"{'backend':10} {'load s':>8} {'members':>9} {'query s':>8} {'full eval s':>12} "
          f"{'events/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'n':>5}")
    for r in results:
        print(f"{r['backend']:10} {r['load']:8.1f} {r['members']:9,} {r['query']:8.2f} {r['full']:12.2f} "
              f"{r['rate']:9.1f} {r['p50']:8.1f} {r['p95']:8.1f} {r['n']:5}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench segments")
    p.add_argument("--profiles", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--quick", action="store_true", help="a small run: 20k profiles, 200k events")
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--rate", type=float, default=20.0, help="events per second in the latency phase")
    p.add_argument("--duration", type=float, default=15.0, help="seconds of the latency phase")
    p.add_argument("--seed", type=int, default=7)
    return p


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    url, cleanup = _fresh_database(backend)
    try:
        migrate.upgrade(url)
        conn = db.connect(url, synchronous="OFF")
        if backend == "sqlite":
            conn.raw.execute("PRAGMA cache_size=-262144")  # 256 MB for the load and the full evaluation
        made = accounts.create_account(conn, f"bench-{uuid.uuid4().hex[:6]}")
        started = time.perf_counter()
        metric_ids = load(conn, made.account.id, args.profiles, args.events, random.Random(args.seed))
        load_s = time.perf_counter() - started
        print(f"  loaded in {load_s:.1f} s", flush=True)
        definition = three_conditions(metric_ids["Bought"])
        sid = _insert_segment(conn, made.account.id, definition)
        seg = evaluator.segment_from_row(made.account.id, segment_list_rows.segment(conn, made.account.id, sid))
        conn.rollback()
        t0 = time.perf_counter()
        members = len(evaluator.qualifying(conn, seg, clock.now()))
        conn.rollback()
        query_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluator.evaluate_full(conn, seg, clock.now())
        conn.begin()
        segment_list_rows.finish_processing(conn, made.account.id, sid, seg.version, clock.now())
        conn.commit()
        full_s = time.perf_counter() - t0
        print(f"  full evaluation: {members:,} members; query {query_s:.2f} s, with writes {full_s:.2f} s", flush=True)
        candidates = _candidates(conn, made.account.id, sid, int(args.rate * args.duration) + 10)
        conn.close()
        latency = measure_latency(url, made.account.public_key, made.account.id, sid, candidates, args)
        return {"backend": backend, "load": load_s, "members": members, "query": query_s, "full": full_s, **latency}
    finally:
        cleanup()


# -- data -------------------------------------------------------------------------------------------------

def load(conn: db.Conn, account_id: str, n_profiles: int, n_events: int, rnd: random.Random) -> dict[str, str]:
    now = clock.now()
    metric_ids = {name: f"m{i:05d}" for i, name in enumerate(METRICS)}
    conn.begin()
    conn.executemany("INSERT INTO metrics (account_id, id, name, integration, created, updated) VALUES (?, ?, ?, 'API', ?, ?)",
                     [(account_id, mid, name, now, now) for name, mid in metric_ids.items()])
    conn.commit()
    _drop_event_indexes(conn)

    # Pools of pre-encoded JSON keep generation (not the database) from being what is measured.
    props_pool = [json.dumps({"Plan": rnd.choice(PLANS), "Age": rnd.randint(18, 80)}) for _ in range(997)]
    location_pool = [json.dumps({"country": rnd.choice(COUNTRIES), "city": f"City {rnd.randint(1, 200)}"})
                     for _ in range(991)]
    consent_pool = [json.dumps({"email": {"consent": "SUBSCRIBED"}}), "{}", "{}"]
    event_pool = [(json.dumps({"Category": rnd.choice(("Shoes", "Hats", "Bags")), "Price": p}), float(p))
                  for p in range(5, 200)]

    def profile_rows():
        for i in range(n_profiles):
            created = now - (i % 365) * DAY
            yield (account_id, _pid(i), f"user{i}@bench.example", location_pool[i % 991], props_pool[i % 997],
                   consent_pool[i % 3], created, created)

    def identifier_rows():
        for i in range(n_profiles):
            yield (account_id, "email", f"user{i}@bench.example", _pid(i))

    metric_list = list(metric_ids.values())

    def event_rows():
        # Events come roughly in profile order (each profile gets a varying share), so the unique
        # dedup index SQLite cannot drop during the load is filled almost sequentially.
        span = 180 * DAY
        rand = rnd.random
        per = n_events / n_profiles
        for i in range(n_events):
            props, value = event_pool[i % 195]
            owner = min(n_profiles - 1, max(0, int((i + (rand() - 0.5) * 4 * per) / per)))
            yield (account_id, f"E{i:025d}", metric_list[int(rand() * 3)], _pid(owner),
                   int(now - rand() * span), value, None, None, str(i), props, now)

    _bulk(conn, "profiles", ("account_id", "id", "email", "location", "properties", "consent", "created", "updated"),
          profile_rows())
    _bulk(conn, "profile_identifiers", ("account_id", "kind", "value", "profile_id"), identifier_rows())
    _bulk(conn, "events", ("account_id", "id", "metric_id", "profile_id", "time", "value", "value_currency",
                           "unique_id", "dedup_key", "properties", "received"), event_rows())
    _create_event_indexes(conn)
    conn.begin()
    rollups.rebuild(conn, account_id)  # the events went in around the writer, so their rollups too
    conn.commit()
    conn.execute("ANALYZE")
    if conn.dialect == "postgresql":
        conn.commit()
        _vacuum(conn)
    return metric_ids


def _vacuum(conn: db.Conn) -> None:
    """VACUUM on PostgreSQL after the load: what autovacuum does to a table within a minute of a bulk load
    (insert-triggered vacuum), done now so the runs do not race it. It sets the visibility map, without
    which no index-only scan skips the heap: the live count's scan of ix_events_metric_time (which holds
    profile_id) read ~23,000 heap pages of a freshly loaded table instead (p95 ~1.05 s, ~0.45 s after)."""
    conn.raw.autocommit = True  # VACUUM runs outside a transaction
    try:
        conn.raw.execute("VACUUM")
    finally:
        conn.raw.autocommit = False


def _pid(i: int) -> str:
    return f"P{i:025d}"


def _bulk(conn: db.Conn, table: str, columns: tuple[str, ...], rows) -> None:
    """COPY on PostgreSQL; executemany in transactions of 100k rows on SQLite."""
    if conn.dialect == "postgresql":
        cur = conn.raw.cursor()
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= 100_000:
            conn.begin()
            conn.executemany(sql, batch)
            conn.commit()
            batch.clear()
    if batch:
        conn.begin()
        conn.executemany(sql, batch)
        conn.commit()


def _drop_event_indexes(conn: db.Conn) -> None:
    conn.begin()
    for name in EVENT_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    if conn.dialect == "postgresql":
        conn.execute("ALTER TABLE events DROP CONSTRAINT IF EXISTS uq_events_dedup")
    conn.commit()


def _create_event_indexes(conn: db.Conn) -> None:
    conn.begin()
    for name, target in EVENT_INDEXES.items():
        conn.execute(f"CREATE INDEX {name} ON {target}")
    if conn.dialect == "postgresql":
        conn.execute("ALTER TABLE events ADD CONSTRAINT uq_events_dedup UNIQUE (account_id, profile_id, metric_id, dedup_key)")
    conn.commit()


def three_conditions(bought_id: str) -> dict[str, Any]:
    return {"condition_groups": [
        {"conditions": [{"type": "profile-property", "property": "properties['Plan']",
                         "filter": {"type": "string", "operator": "in", "value": ["pro", "plus"]}}]},
        {"conditions": [{"type": "profile-metric", "metric_id": bought_id, "measurement": "count",
                         "measurement_filter": {"type": "numeric", "operator": "greater-than-or-equal", "value": 1},
                         "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": 30, "unit": "day"}}]},
        {"conditions": [{"type": "profile-location", "field": "country",
                         "filter": {"type": "string", "operator": "in", "value": ["US", "UK"]}}]},
    ]}


def _insert_segment(conn: db.Conn, account_id: str, definition: dict[str, Any]) -> str:
    sid = "bench1"
    now = clock.now()
    conn.begin()
    conn.execute("INSERT INTO segments (account_id, id, name, definition, created, updated, version, is_processing, "
                 "swept_at) VALUES (?, ?, 'bench', ?, ?, ?, 1, ?, ?)",
                 (account_id, sid, conn.to_json(definition), now, now, True, now))
    conn.commit()
    return sid


def _candidates(conn: db.Conn, account_id: str, sid: str, n: int) -> list[str]:
    """Emails of profiles that meet the property and location conditions but are not members yet."""
    segment = segment_list_rows.segment(conn, account_id, sid)
    assert segment is not None
    near = dict(segment, definition={"condition_groups": [segment["definition"]["condition_groups"][i] for i in (0, 2)]})
    close = evaluator.qualifying(conn, evaluator.segment_from_row(account_id, near), clock.now())
    members = segment_list_rows.current_members(conn, account_id, sid)
    chosen = sorted(close - members)[:n]
    emails = [r[0] for pid in chosen for r in [conn.one("SELECT email FROM profiles WHERE account_id = ? AND id = ?",
                                                        (account_id, pid))]]
    conn.rollback()
    return emails


# -- latency ------------------------------------------------------------------------------------------------

def measure_latency(url: str, public_key: str, account_id: str, sid: str, candidates: list[str],
                    args: argparse.Namespace) -> dict[str, Any]:
    import uvicorn

    from footfall.app import create_app

    settings = Settings(database_url=url, segment_sweep_seconds=60.0)
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    joined_at: dict[str, float] = {}
    ready = threading.Event()

    def observe(account: str, segment_id: str, changes: evaluator.Changes) -> None:
        if segment_id == sid:
            stamp = time.perf_counter()
            for pid in changes.joined:
                joined_at.setdefault(pid, stamp)
            ready.set()

    app.state.membership.observers.append(observe)
    acked: dict[str, float] = {}
    try:
        acked = asyncio.run(_drive(port, public_key, candidates, args.rate, args.duration))
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and not all(pid in joined_at for pid in acked):
            time.sleep(0.05)
    finally:
        server.should_exit = True
        thread.join(15)
    lat = sorted((joined_at[pid] - t) * 1000 for pid, t in acked.items() if pid in joined_at)
    missing = len(acked) - len(lat)
    if missing:
        print(f"  warning: {missing} of {len(acked)} qualifying events did not produce a membership in 10 s")
    p50 = statistics.median(lat) if lat else float("nan")
    p95 = lat[int(0.95 * (len(lat) - 1))] if lat else float("nan")
    rate = len(acked) / args.duration
    print(f"  latency ack->member over {len(lat)} events at {rate:.1f}/s: p50 {p50:.1f} ms, p95 {p95:.1f} ms",
          flush=True)
    return {"rate": rate, "p50": p50, "p95": p95, "n": len(lat)}


async def _drive(port: int, public_key: str, candidates: list[str], rate: float, duration: float) -> dict[str, float]:
    """Single events at a steady rate; returns profile id -> ack time of the events that qualified someone."""
    acked: dict[str, float] = {}
    interval = 1.0 / rate
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        async def one(email: str, i: int) -> None:
            payload = {"token": public_key, "event": "Bought", "customer_properties": {"$email": email},
                       "properties": {"$value": 10, "$event_id": f"lat-{i}"}, "time": int(clock.now())}
            data = base64.b64encode(json.dumps(payload).encode()).decode()
            r = await client.get("/api/track", params={"data": data, "verbose": "1"})
            stamp = time.perf_counter()
            body = r.json()
            if body.get("status") == 1:
                acked[body["profile_id"]] = stamp

        tasks = []
        start = time.perf_counter()
        for i, email in enumerate(candidates):
            target = start + i * interval
            if target - start > duration:
                break
            await asyncio.sleep(max(0.0, target - time.perf_counter()))
            tasks.append(asyncio.create_task(one(email, i)))
        await asyncio.gather(*tasks)
    return acked


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_database(backend: str):
    if backend == "sqlite":
        directory = tempfile.mkdtemp(prefix="footfall-bench-")
        path = os.path.join(directory, "bench.db")

        def cleanup() -> None:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.remove(path + suffix)
                except FileNotFoundError:
                    pass
            os.rmdir(directory)

        return f"sqlite:///{path}", cleanup
    import psycopg

    name = f"footfall_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    DatabaseURL(url)
    return url, drop
