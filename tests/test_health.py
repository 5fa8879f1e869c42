"""/livez, /readyz and /healthz: in process, and `footfall serve --workers 2` reporting both workers."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import httpx

from tests.servers import ServerThread, server_settings
from tests.test_cli import Serve


def test_livez_readyz_healthz_in_process(client):
    assert client.get("/livez").json() == {"status": "ok", "pid": os.getpid()}
    assert client.get("/readyz").json() == {"status": "ready"}
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and [w["pid"] for w in health["workers"]] == [os.getpid()]


def test_readyz_is_503_once_the_writer_stops(database_url):
    srv = ServerThread(server_settings(database_url=database_url)).start()
    try:
        with httpx.Client(base_url=srv.url) as c:
            assert c.get("/readyz").status_code == 200
            srv.services.pipeline.stop()
            ready = c.get("/readyz")
            assert ready.status_code == 503 and "writer is not running" in ready.json()["reason"]
            assert c.get("/livez").status_code == 200  # the process is still up
            assert c.get("/healthz").status_code == 503
    finally:
        srv.stop()


def _workers(srv: Serve) -> set[int]:
    """The uvicorn worker processes (not multiprocessing's resource tracker, nor the shared writer)."""
    return {pid for pid in srv.worker_pids() if b"spawn_main" in _cmdline(pid)}


def _cmdline(pid: int) -> bytes:
    """b"" for a process gone since it was listed (a worker just killed)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _healthz_of_workers(srv: Serve, pids: set[int], timeout: float = 60) -> dict:
    """/healthz once it lists exactly these worker pids, all ok (new connections: any worker answers)."""
    deadline = time.monotonic() + timeout
    while True:
        health = httpx.get(srv.url + "/healthz", timeout=5).json()
        if {w["pid"] for w in health["workers"]} == pids and health["status"] == "ok":
            return health
        assert time.monotonic() < deadline, (pids, health)
        time.sleep(0.2)


def test_healthz_reports_every_worker_of_footfall_serve(empty_database):
    srv = Serve("--workers", "2", "--database", empty_database)
    try:
        pids = _workers(srv)
        assert len(pids) == 2
        health = _healthz_of_workers(srv, pids)
        assert health["workers_expected"] == 2
        assert all(w["writer"] == "running" and w["store"] == "ok" for w in health["workers"])
        # Whichever worker answers, both are reported.
        answered_by = {httpx.get(srv.url + "/healthz").json()["pid"] for _ in range(20)}
        assert answered_by <= pids
        # A worker killed: it is no longer reported, and its replacement is once it runs.
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while victim in _workers(srv) or len(_workers(srv)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        health = _healthz_of_workers(srv, _workers(srv))
        assert victim not in {w["pid"] for w in health["workers"]}
    finally:
        srv.stop()
    # serve removed its run directory (heartbeats, metrics files) on the way out
    assert not list(Path(tempfile.gettempdir()).glob(f"footfall-run-{srv.proc.pid}-*"))
