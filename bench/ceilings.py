"""Batched insert ceilings, no HTTP: how fast events can be stored at all, measured in the bench's run.

plain_ceiling: no Footfall code. The same event rows (every column of Footfall's `events`, its keys and
indexes, DDL from footfall/store/schema.py via bench/events_table.py) in groups, one transaction each:
on SQLite `executemany` (WAL, synchronous=FULL as Footfall opens it), on PostgreSQL COPY into a temp
staging table and one `INSERT … SELECT … ON CONFLICT DO NOTHING` merge. In a table of its own (a
separate SQLite file, a separate PostgreSQL schema) so that Footfall's rows are not affected.

writer_ceiling: the same number of events through Footfall's own ingest transaction code.

Each is the best of the group sizes in BATCHES.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path
from typing import Callable

from bench import events_table
from bench.routes import Sent, random_event
from footfall.store.url import DatabaseURL

BATCHES = (200, 1000)  # group sizes tried; the ceiling is the best (PostgreSQL peaks near 200)
_PROPERTIES = {"item": "Boots", "sku": "B-42"}  # what the wrk script's legacy events carry


def plain_ceiling(url: str, events: int) -> float:
    """Events/s of a plain batched insert into a copy of the events table, the best of BATCHES."""
    insert = _sqlite_groups if DatabaseURL(url).backend == "sqlite" else _postgres_groups
    return max(insert(url, _plain_rows(events), size) for size in BATCHES)


def writer_ceiling(url: str, events: int) -> float:
    """Events/s through Footfall's own ingest transaction code (store/batch.py), the best of BATCHES."""
    return max(_writer_rate(url, events, size) for size in BATCHES)


def _plain_rows(events: int) -> list[tuple]:
    account = events_table.name_id(uuid.uuid4().hex, 26)
    return [events_table.row(account, ev.metric, ev.email, ev.event_id, ev.value, _PROPERTIES)
            for ev in _events(events)]


def _events(n: int) -> list[Sent]:
    return [random_event(uuid.uuid4().hex) for _ in range(n)]


def _timed(groups: list[list[tuple]], store: Callable[[list[tuple]], None]) -> float:
    began = time.perf_counter()
    for group in groups:
        store(group)
    return sum(len(g) for g in groups) / (time.perf_counter() - began)


def _split(rows: list[tuple], size: int) -> list[list[tuple]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def _sqlite_groups(url: str, rows: list[tuple], size: int) -> float:
    path = Path(DatabaseURL(url).sqlite_path).with_name(f"ceiling-{uuid.uuid4().hex[:8]}.db")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        for statement in events_table.ddl("sqlite"):
            conn.execute(statement)
        sql = events_table.insert_sql("?")

        def store(group: list[tuple]) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, group)
            conn.execute("COMMIT")

        return _timed(_split(rows, size), store)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def _postgres_groups(url: str, rows: list[tuple], size: int) -> float:
    import psycopg

    schema = f"ceiling_{uuid.uuid4().hex[:8]}"
    columns = ", ".join(events_table.COLUMNS)
    with psycopg.connect(DatabaseURL(url).libpq, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(f"SET search_path = {schema}")
            for statement in events_table.ddl("postgresql"):
                conn.execute(statement)
            conn.execute("CREATE TEMP TABLE staging (LIKE events) ON COMMIT DELETE ROWS")
            merge = f"INSERT INTO events ({columns}) SELECT {columns} FROM staging ON CONFLICT DO NOTHING"

            def store(group: list[tuple]) -> None:
                with conn.transaction(), conn.cursor() as cur:
                    with cur.copy(f"COPY staging ({columns}) FROM STDIN") as copy:
                        for r in group:
                            copy.write_row(r)
                    cur.execute(merge)

            return _timed(_split(rows, size), store)
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _writer_rate(url: str, events: int, size: int) -> float:
    from bench.crash import new_account
    from bench.routes import legacy_payload
    from footfall import clock
    from footfall.domain.limits import Limits
    from footfall.store import batch, db
    from footfall.wire import legacy

    account = new_account(url, f"ceiling-{uuid.uuid4().hex[:6]}")
    limits = Limits()
    ops = [legacy.parse_track(legacy_payload(account.keys, ev), account.id, limits, clock.now())[0]
           for ev in _events(events)]
    conn = db.connect(url)
    try:
        def store(group: list) -> None:
            conn.begin()
            batch.apply_batch(conn, group, limits)
            conn.commit()

        return _timed(_split(ops, size), store)
    finally:
        conn.close()
