"""`1` means committed; when the server cannot store it says 503 + Retry-After, and /healthz says why.

Each test starts its own server (ServerThread) and breaks something real: a database that is not
there, a store held locked by another connection, a connection killed under the writer, a writer
that dies. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from footfall.store import migrate
from footfall.refusals import InternalError
from footfall.store.url import DatabaseURL
from tests.conftest import PG_ADMIN, Stored, drop_pg_database, make_pg_database
from tests.legacy_calls import b64, order, track
from tests.servers import ServerThread, free_port, new_account, server_settings


def assert_503(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"].isdigit() and int(r.headers["retry-after"]) >= 1


def serve(**settings) -> ServerThread:
    return ServerThread(server_settings(**settings)).start()


def test_every_acknowledged_event_is_readable_at_once(client, account, stored):
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: track(client, order(account, f"p{i}@example.com")).text, range(40)))
    assert answers == ["1"] * 40
    assert len(stored.events()) == 40  # read on a fresh connection right after the last `1`


def test_postgres_port_where_nothing_listens(tmp_path):
    srv = serve(database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/footfall")
    try:
        with httpx.Client(base_url=srv.url) as c:
            r = c.get("/api/track", params={"data": b64({"token": "ABCDEF", "event": "x"}), "verbose": "1"})
            assert_503(r)
            assert r.json() == {"status": 0, "error": "the database is unreachable; retry shortly"}
            assert_503(c.post("/api/identify", json={"token": "ABCDEF", "properties": {"$email": "a@example.com"}}))
            health = c.get("/healthz")
            assert health.status_code == 503
            assert health.json()["status"] == "unhealthy" and health.json()["store"] == "unavailable"
            assert "cannot connect to PostgreSQL" in health.json()["last_error"]
    finally:
        srv.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_database_that_appears_later_is_used_without_restart(tmp_path, backend):
    """Unreachable at start (503), then created: the server recovers by itself and acknowledges."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/not-yet/footfall.db"
    else:
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/footfall_later_{uuid.uuid4().hex[:8]}"
    srv = serve(database_url=url)
    try:
        with httpx.Client(base_url=srv.url) as c:
            assert_503(c.get("/api/track", params={"data": b64({"token": "ABCDEF", "event": "x"})}))
            assert c.get("/healthz").status_code == 503
            if backend == "sqlite":
                (tmp_path / "not-yet").mkdir()
            else:
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')
            migrate.upgrade(url)
            account = new_account(url, "later")
            deadline = time.monotonic() + 10
            while c.get("/healthz").status_code != 200:
                assert time.monotonic() < deadline, c.get("/healthz").json()
                time.sleep(0.1)
            assert track(c, order(account)).text == "1"
    finally:
        srv.stop()
        if backend == "postgres":
            drop_pg_database(url)


def hold_write_lock(database_url: str):
    """Another client holding the store: SQLite's write lock, or PostgreSQL's lock on `metrics`."""
    if DatabaseURL(database_url).backend == "sqlite":
        conn = sqlite3.connect(DatabaseURL(database_url).sqlite_path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        return conn
    conn = psycopg.connect(DatabaseURL(database_url).libpq)
    conn.execute("LOCK TABLE metrics IN ACCESS EXCLUSIVE MODE")
    return conn


def test_full_queue_answers_503_and_every_acknowledged_event_is_stored(database_url, account, stored):
    srv = serve(database_url=database_url, queue_max_items=2, batch_max_items=1)
    lock = hold_write_lock(database_url)
    released = False
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c, ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(track, c, order(account, time=1_700_000_000 + i)) for i in range(8)]
            # The writer is stuck behind the lock with one event, two more wait in the queue: the rest
            # are turned away at once.
            deadline = time.monotonic() + 8
            while sum(f.done() for f in futures) < 5:
                assert time.monotonic() < deadline, "the full queue did not turn requests away"
                time.sleep(0.02)
            early = [f.result() for f in futures if f.done()]
            assert all(r.status_code == 503 for r in early)
            for r in early:
                assert_503(r)
            assert c.get("/healthz").json()["rejected_overload"] >= 5
            lock.rollback()
            released = True
            answers = [f.result() for f in futures]
    finally:
        if not released:
            lock.rollback()
        lock.close()
        srv.stop()
    acked = [r for r in answers if r.status_code == 200]
    assert len(acked) in (2, 3) and all(r.text == "1" for r in acked)
    assert len(stored.events()) == len(acked)


def kill_writer_connection(database_url: str) -> None:
    """What a database restart or a network cut does to the writer's connection."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        killed = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                               " AND application_name = 'footfall-writer'", (database_url.rsplit("/", 1)[1],)).fetchall()
    assert killed == [(True,)]


def kill_writer_process(srv: ServerThread) -> None:
    """What the kernel's OOM killer or a crash in a driver does to the writer process."""
    pid = srv.services.pipeline.health()["writer_pid"]
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)


def stored_once_retried(c: httpx.Client, account, when: int) -> None:
    """The event that meets the broken writer is refused, not acknowledged; retried as a client
    does on 503, it is stored once the writer is back by itself."""
    deadline = time.monotonic() + 5
    while (r := track(c, order(account, time=when))).status_code == 503:
        assert_503(r)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert r.text == "1"
    assert c.get("/healthz").json()["status"] == "ok"


def test_writer_recovers_when_its_connection_is_killed():
    url = make_pg_database()  # its own database: the only footfall-writer connected to it is this server's
    account = new_account(url, "connection-killed")
    srv = serve(database_url=url)
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            assert track(c, order(account, time=1_700_000_000)).text == "1"
            kill_writer_connection(url)
            stored_once_retried(c, account, 1_700_000_001)
    finally:
        srv.stop()
    try:
        assert [e["timestamp"] for e in Stored(url, account).events()] == [1_700_000_000, 1_700_000_001]
    finally:
        drop_pg_database(url)


def test_writer_process_killed_is_started_again(database_url, account, stored):
    srv = serve(database_url=database_url)
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            assert track(c, order(account, time=1_700_000_000)).text == "1"
            first = c.get("/healthz").json()["writer_pid"]
            kill_writer_process(srv)
            stored_once_retried(c, account, 1_700_000_001)
            assert c.get("/healthz").json()["writer_pid"] not in (None, first)
    finally:
        srv.stop()
    assert [e["timestamp"] for e in stored.events()] == [1_700_000_000, 1_700_000_001]


def test_writer_that_dies_stops_acknowledgement_and_healthz_says_so(database_url, account, stored):
    srv = serve(database_url=database_url)
    try:
        def broken_hook(committed):  # an after-commit listener with a fatal bug
            raise SystemExit("after-commit hook called exit()")

        srv.services.pipeline.add_listener(broken_hook)
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            assert track(c, order(account)).text == "1"  # committed before the hook ran: acknowledged
            deadline = time.monotonic() + 5
            while srv.services.pipeline.alive:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            r = c.get("/api/track", params={"data": b64(order(account, time=1_700_000_001)), "verbose": "1"})
            assert_503(r)
            assert r.json()["error"] == "the writer is not running (SystemExit: after-commit hook called exit())"
            health = c.get("/healthz")
            assert health.status_code == 503
            assert health.json()["writer"] == "dead: SystemExit: after-commit hook called exit()"
    finally:
        srv.stop()
    assert len(stored.events()) == 1


def test_an_operation_the_store_cannot_apply_fails_alone(database_url, account, stored):
    """A bug in one kind of operation refuses that operation; the writer and everyone else go on."""
    srv = serve(database_url=database_url)
    try:
        class Unregistered:  # an op type no applier was registered for
            pass

        async def submit():
            return await asyncio.gather(srv.services.pipeline.submit(Unregistered()), return_exceptions=True)

        [outcome] = asyncio.run(submit())
        assert isinstance(outcome, InternalError) and "Unregistered" in str(outcome)
        with httpx.Client(base_url=srv.url) as c:
            assert track(c, order(account)).text == "1"
            assert c.get("/healthz").json()["status"] == "ok"
    finally:
        srv.stop()
    assert len(stored.events()) == 1


@pytest.mark.serial  # timing-bound (a 50 ms lag limit): run after the parallel part, alone
def test_new_work_is_refused_while_the_event_loop_runs_behind(tmp_path):
    """When the HTTP front itself is the bottleneck, admitting more only makes every answer later:
    while the event loop runs over `lag_limit` behind its timers, check_admission refuses (503)."""
    import functools

    from footfall.domain.limits import Limits
    from footfall.ingest.committer import LocalCommitter
    from footfall.refusals import Overloaded
    from footfall.ingest.pipeline import Pipeline
    from footfall.store import batch, db
    from tests.conftest import make_sqlite_database

    url = make_sqlite_database(tmp_path)
    pipeline = Pipeline(LocalCommitter(functools.partial(db.connect, url),
                                       functools.partial(batch.apply_batch, limits=Limits())), lag_limit=0.05)
    pipeline.start()

    async def scenario() -> None:
        pipeline.watch_loop(asyncio.get_running_loop())
        await asyncio.sleep(0.1)
        pipeline.check_admission()  # on time: admitted
        time.sleep(0.2)  # the loop is held up, as by more requests than it can parse
        await asyncio.sleep(0.01)  # the lag timer fires, late
        with pytest.raises(Overloaded, match="too busy"):
            pipeline.check_admission()
        await asyncio.sleep(0.2)  # back on time
        pipeline.check_admission()

    try:
        asyncio.run(scenario())
    finally:
        pipeline.stop()
