"""The edge under faults: /healthz while every write fails, a client that leaves mid-body."""

from __future__ import annotations

import logging
import socket
import time

import httpx
import pytest

from footfall.store import db
from tests.conftest import drop_pg_database, make_pg_database, make_sqlite_database
from tests.servers import ServerThread, new_account, server_settings

pytestmark = pytest.mark.serial  # timing-bound: make test runs it after the parallel part

_REFUSE = {
    "sqlite": ["CREATE TRIGGER ff_full_{t} BEFORE INSERT ON {t} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"],
    "postgres": [
        "CREATE FUNCTION ff_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$",
        "CREATE TRIGGER ff_full_{t} BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION ff_full()",
    ],
}
_ALLOW = {"sqlite": ["DROP TRIGGER ff_full_{t}"], "postgres": ["DROP TRIGGER ff_full_{t} ON {t}"]}


@pytest.fixture(params=["sqlite", "postgres"])
def own_database(request, tmp_path):
    if request.param == "sqlite":
        yield request.param, make_sqlite_database(tmp_path)
        return
    url = make_pg_database()
    yield request.param, url
    drop_pg_database(url)


def _run(url: str, statements: list[str]) -> None:
    conn = db.connect(url)
    try:
        for table in ("profiles", "events"):
            for sql in statements:
                if "{t}" in sql or table == "profiles":
                    conn.execute(sql.format(t=table))
        if backend_of(url) == "postgres":
            conn.commit()
    finally:
        conn.close()


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


def _track(client: httpx.Client, token: str, email: str) -> httpx.Response:
    return client.post("/api/track", json={"token": token, "event": "Viewed", "customer_properties": {"$email": email}})


def test_healthz_is_degraded_while_every_write_fails(own_database):
    backend, url = own_database
    account = new_account(url, "healthz")
    srv = ServerThread(server_settings(database_url=url)).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            assert _track(client, account.public_key, "ok@example.com").text == "1"
            assert client.get("/healthz").json()["status"] == "ok"
            _run(url, _REFUSE[backend])
            for i in range(3):
                assert _track(client, account.public_key, f"full{i}@example.com").text != "1"
            health = client.get("/healthz")
            assert health.status_code == 503, health.text
            assert health.json()["status"] in ("degraded", "unhealthy")
            assert health.json()["writes"].startswith("failing: ") and "full" in health.json()["writes"]
            _run(url, _ALLOW[backend])
            deadline = time.monotonic() + 20
            while _track(client, account.public_key, "back@example.com").text != "1":
                assert time.monotonic() < deadline, "writes did not recover"
                time.sleep(0.2)
            health = client.get("/healthz")
            assert health.status_code == 200 and health.json()["writes"] == "ok", health.text
    finally:
        srv.stop()


@pytest.mark.parametrize("path, headers", [
    ("/api/profiles", {"Content-Type": "application/json"}),  # a Starlette route
    ("/api/events", {"Content-Type": "application/json"}),  # the fast path
    ("/api/track", {"Content-Type": "application/json"}),
])
def test_a_client_leaving_mid_body_is_one_debug_line(server, account, caplog, path, headers):
    caplog.set_level(logging.DEBUG)
    host, port = server.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Length: 5000", "revision: 2026-07-15",
                f"Authorization: Klaviyo-API-Key {account.private_key}",
                *[f"{k}: {v}" for k, v in headers.items()]]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b'{"data": {"type"')
        time.sleep(0.3)
    time.sleep(0.5)
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not noisy, [(r.name, r.getMessage()) for r in noisy]
    assert not any(r.exc_info for r in caplog.records)
    lines = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.DEBUG, [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("migrated", [False, True])
def test_serve_on_a_read_only_database_is_one_line(migrated):
    import os
    import subprocess
    import sys
    from pathlib import Path

    import psycopg

    from tests.conftest import PG_ADMIN, create_pg_database
    from tests.servers import free_port

    url = make_pg_database() if migrated else create_pg_database("footfall_ro")
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" SET default_transaction_read_only = on')
        footfall = Path(sys.executable).parent / "footfall"
        run = subprocess.run([str(footfall), "serve", "--port", str(free_port()), "--database", url],
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "FOOTFALL_DATABASE_URL": url})
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert run.returncode == 1, run.stderr
        assert len(lines) == 1 and "read-only" in lines[0] and "Traceback" not in run.stderr, run.stderr
    finally:
        drop_pg_database(url)


def test_slow_clients_are_cut_off_and_the_server_stays_responsive(database_url):
    """Short slowloris drill: 200 sockets trickling a request head, and one sending its body slowly;
    the server keeps answering at once and closes them at the header / body timeouts."""
    from tests.servers import free_port  # noqa: F401

    account = new_account(database_url, f"slow-{time.time_ns()}")
    srv = ServerThread(server_settings(database_url=database_url, header_timeout_seconds=1.0,
                                       body_timeout_seconds=1.0)).start()
    host, port = "127.0.0.1", srv.port
    slow: list[socket.socket] = []
    try:
        for _ in range(200):
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(b"GET /api/profiles HTTP/1.1\r\nHost: x\r\n")  # never finishes its head
            slow.append(s)
        body_sock = socket.create_connection((host, port), timeout=5)
        body_sock.sendall(b"POST /api/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 1000\r\n\r\n{\"token\":")
        with httpx.Client(base_url=srv.url, timeout=5) as client:
            started = time.monotonic()
            r = _track(client, account.public_key, "fast@example.com")
            assert r.text == "1" and time.monotonic() - started < 2.0
        time.sleep(2.5)
        closed = 0
        for s in slow:
            s.settimeout(2)
            try:
                closed += s.recv(1) == b""
            except (ConnectionResetError, socket.timeout):
                closed += 0
        assert closed == len(slow), f"{closed} of {len(slow)} slow heads were closed"
        body_sock.settimeout(3)
        answer = body_sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        body_sock.close()
    finally:
        for s in slow:
            s.close()
        srv.stop()
