"""Footfall (or a reference app) as a real separate process: start, wait healthy, kill -9, measure.

Used by the benchmark (CPU and peak RSS of the server pid, read from /proc) and by the crash tests
(kill -9 at a random moment, restart, time until /healthz answers 200).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from footfall.ingest import shared_writer, writer_process

# Its processes run `python -m <module>` (writer_process._start_process, shared_writer.SharedWriter).
WRITER_MODULES = (writer_process.__name__, shared_writer.__name__)

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
FOOTFALL = str(Path(sys.executable).with_name("footfall"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A server subprocess listening on `port`, with /proc-based CPU and RSS readings."""

    def __init__(self, argv: list[str], port: int, *, env: dict[str, str] | None = None,
                 cpu: int | None = None, health_path: str = "/healthz", log_path: str | None = None) -> None:
        self.argv = argv
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, **(env or {})}
        self.cpu = cpu
        self.health_path = health_path
        self.log_path = log_path
        self.popen: subprocess.Popen | None = None
        self.peak_rss = 0
        self.rss_samples: list[tuple[float, int]] = []
        self._sampler: threading.Thread | None = None
        self._sampling = False

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> float:
        """Spawn and wait until healthy; returns the seconds it took."""
        argv = self.argv
        if self.cpu is not None and _has("taskset"):
            argv = ["taskset", "-c", str(self.cpu), *argv]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        began = time.monotonic()
        self.popen = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        self.wait_healthy(timeout, began)
        return time.monotonic() - began

    def wait_healthy(self, timeout: float, began: float | None = None) -> None:
        began = began or time.monotonic()
        with httpx.Client(timeout=1.0) as client:
            while True:
                if self.popen is not None and self.popen.poll() is not None:
                    raise RuntimeError(f"server exited with {self.popen.returncode}: {' '.join(self.argv)}")
                try:
                    if client.get(self.url + self.health_path).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() - began > timeout:
                    raise TimeoutError(f"server not healthy after {timeout}s: {' '.join(self.argv)}")
                time.sleep(0.02)

    def kill9(self) -> None:
        """SIGKILL the whole process group (uvicorn and anything it forked): a crash, no cleanup."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()

    def stop(self) -> None:
        self.stop_sampling()
        if self.popen is None or self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.kill9()
        except ProcessLookupError:
            pass

    # -- measurements -----------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def server_pids(self) -> list[int]:
        """The spawned process and its descendants (taskset execs in place; uvicorn may fork)."""
        return descendants(self.pid)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server processes so far."""
        return cpu_seconds(self.server_pids())

    def writer_pids(self) -> list[int]:
        """Footfall's writer processes among the server's (footfall/ingest/writer_process.py, or the
        one the workers share on SQLite: shared_writer.py)."""
        return [pid for pid in self.server_pids() if any(m in _cmdline(pid) for m in WRITER_MODULES)]

    def cpu_split(self) -> tuple[float, float]:
        """CPU seconds so far of (everything else, the writer processes): the HTTP side and the group
        commits. A reference server has no writer process: all of its CPU is the first."""
        pids, writers = self.server_pids(), self.writer_pids()
        return cpu_seconds([pid for pid in pids if pid not in writers]), cpu_seconds(writers)

    def rss(self) -> int:
        total = 0
        for pid in self.server_pids():
            try:
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            except OSError:
                continue
        return total

    def start_sampling(self, interval: float = 0.1) -> None:
        """Sample RSS in the background; peak_rss and rss_samples hold the readings."""
        self.peak_rss = self.rss()
        self.rss_samples = []
        self._sampling = True

        def loop() -> None:
            began = time.monotonic()
            while self._sampling:
                value = self.rss()
                self.rss_samples.append((time.monotonic() - began, value))
                self.peak_rss = max(self.peak_rss, value)
                time.sleep(interval)

        self._sampler = threading.Thread(target=loop, daemon=True)
        self._sampler.start()

    def stop_sampling(self) -> None:
        self._sampling = False
        if self._sampler is not None:
            self._sampler.join(2)
            self._sampler = None


def descendants(root: int) -> list[int]:
    """root and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def postgres_backends(database_url: str) -> list[int]:
    """The pids of the PostgreSQL backends connected to the database (none for SQLite): whose CPU a
    bench counts as PostgreSQL's."""
    if not database_url.startswith("postgresql"):
        return []
    from footfall.store import db

    conn = db.connect(database_url)
    try:
        return [r[0] for r in conn.all("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND pid <> pg_backend_pid()")]
    finally:
        conn.close()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes used so far (those gone count nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def footfall_serve(database_url: str, *, port: int | None = None, cpu: int | None = None,
                   env: dict[str, str] | None = None, log_path: str | None = None, workers: int | None = None) -> Proc:
    port = port or free_port()
    argv = [FOOTFALL, "serve", "--port", str(port), "--database", database_url]
    if workers is not None:  # else FOOTFALL_WORKERS or its default decides
        argv += ["--workers", str(workers)]
    return Proc(argv, port, env=env, cpu=cpu, log_path=log_path)


def _has(tool: str) -> bool:
    return any(os.access(os.path.join(d, tool), os.X_OK) for d in os.environ.get("PATH", "").split(os.pathsep))
