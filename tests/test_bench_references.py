"""The ingest bench's references (`python -m bench ingest`) are real: the minimal durable handler stores
one row per event in Footfall's own `events` table and answers after it, the plain ceiling inserts,
the granian no-op answers, and the per-process CPU split finds Footfall's writer process."""

from __future__ import annotations

import sqlite3
import sys
import uuid
from pathlib import Path

import httpx

from bench import ceilings, events_table
from bench.routes import Keys, by_name, random_event
from bench.server_proc import Proc, footfall_serve, free_port
from tests.conftest import make_sqlite_database, query

ROOT = str(Path(__file__).resolve().parent.parent)


def _reference(app: str, *extra: str) -> Proc:
    port = free_port()
    return Proc([sys.executable, "-m", "bench.reference_apps", app, str(port), *extra], port, health_path="/",
                env={"PYTHONPATH": ROOT})


def _shape(path: str) -> tuple[list[tuple], list[tuple]]:
    """The events table's columns (name, type, not null, key) and each index's columns with their
    uniqueness, names aside (SQLite names the unique constraints' indexes itself)."""
    conn = sqlite3.connect(path)
    try:
        columns = [tuple(c[1:4]) + (c[5],) for c in conn.execute("PRAGMA table_info(events)")]
        indexes = sorted((unique, *(c[2] for c in conn.execute(f"PRAGMA index_info('{name}')")))
                         for _, name, unique, *_ in conn.execute("PRAGMA index_list(events)").fetchall())
        return columns, indexes
    finally:
        conn.close()


def test_events_table_ddl_is_the_migrated_one(tmp_path):
    footfall = make_sqlite_database(tmp_path).split("sqlite:///", 1)[1]
    ours = str(tmp_path / "ours.db")
    conn = sqlite3.connect(ours)
    for statement in events_table.ddl("sqlite"):
        conn.execute(statement)
    conn.close()
    assert _shape(ours) == _shape(footfall)


def test_durable_handler_stores_each_event_once_before_answering(tmp_path):
    path = str(tmp_path / "durable.db")
    proc = _reference("durable", path)
    proc.start()
    try:
        ev = random_event(f"ev-{uuid.uuid4().hex}")
        req = by_name("track POST").build(Keys("AAAAAA", "pk"), [ev])
        with httpx.Client(base_url=proc.url) as client:
            answers = [client.post(req.path, headers=req.headers, content=req.content) for _ in range(2)]
            refused = client.post(req.path, headers=req.headers, content=b"nothing=1")
        assert [(a.status_code, a.text) for a in answers] == [(200, "1"), (200, "1")]  # a repeat is deduplicated
        assert refused.status_code == 400
        conn = sqlite3.connect(path)
        rows = conn.execute("SELECT profile_id, metric_id, value, dedup_key FROM events WHERE unique_id = ?",
                            (ev.event_id,)).fetchall()
        conn.close()
        assert rows == [(events_table.name_id(ev.email, 26), events_table.name_id(ev.metric, 8), ev.value,
                         f"u:{ev.event_id}")]
    finally:
        proc.stop()


def test_granian_noop_answers_one():
    proc = _reference("granian")
    proc.start()
    try:
        answer = httpx.post(proc.url + "/api/track", content=b"data=x")
        assert (answer.status_code, answer.text) == (200, "1")
    finally:
        proc.stop()


def test_plain_ceiling_inserts_and_leaves_footfalls_tables_alone(database_url):
    before = query(database_url, "SELECT COUNT(*) FROM events")
    assert ceilings.plain_ceiling(database_url, 300) > 0
    assert query(database_url, "SELECT COUNT(*) FROM events") == before


def test_cpu_split_finds_the_writer_process(tmp_path):
    proc = footfall_serve(make_sqlite_database(tmp_path), env={"FOOTFALL_RATE_LIMITS": "off"})
    proc.start(timeout=60)
    try:
        writer_pid = httpx.get(proc.url + "/healthz").json()["writer_pid"]
        http, writer = proc.cpu_split()
        assert proc.writer_pids() == [writer_pid]
        assert http > 0 and writer > 0  # both started and imported their modules
    finally:
        proc.stop()
