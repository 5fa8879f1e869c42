"""A private, throw-away PostgreSQL cluster that tests may stop, kill or pause.

The shared PostgreSQL on 5432 must never be disturbed, so fault tests (outage, stalled store) run
against their own cluster: initdb into a temp dir, listen on a free port with the Unix socket in
that dir, and stop / SIGSTOP / SIGCONT only it. Usable from pytest (the `private_pg` fixture in
tests/test_faults_pg.py) and from bench/ (`with PgInstance() as pg: ...`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

PG_BIN = Path(os.environ.get("FOOTFALL_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PgUnavailable(RuntimeError):
    """PostgreSQL binaries are missing or the cluster could not be started."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgInstance:
    """One private cluster. `url` is the admin database; `create_database()` makes fresh ones."""

    def __init__(self, *, fsync: bool = False, listen: str = "127.0.0.1", trust: str | None = None,
                 max_connections: int = 100) -> None:
        """listen: listen_addresses (e.g. "127.0.0.1,10.1.2.1" for a network namespace's bridge);
        trust: a CIDR network also let in without a password (pg_hba.conf); the first listen address
        is the one `url` names."""
        if not (PG_BIN / "initdb").exists():
            raise PgUnavailable(f"no PostgreSQL binaries in {PG_BIN} (set FOOTFALL_PG_BIN)")
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="footfall-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.sockets.mkdir()
        self._fsync = fsync
        self._listen = listen
        self._trust = trust
        self._max_connections = max_connections
        # initdb refuses to run as root: run the server as `postgres` when we are root.
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            pw = pwd.getpwnam(self._user)
            for path in (self.root, self.sockets):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        self.url = f"postgresql://postgres@{listen.split(',')[0]}:{self.port}/postgres"
        self._running = False

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> "PgInstance":
        return self.init().start()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def init(self) -> "PgInstance":
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync",
                  "-E", "UTF8", "--locale", "C")
        if self._trust:
            with open(self.data / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {self._trust} trust\n")
        return self

    def start(self, timeout: float = 20) -> "PgInstance":
        opts = (f"-p {self.port} -k {self.sockets} -c listen_addresses={self._listen} "
                f"-c fsync={'on' if self._fsync else 'off'} -c max_connections={self._max_connections} "
                "-c shared_buffers=32MB -c synchronous_commit=on")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"),
                  "-w", "-t", str(int(timeout)), "start")
        self._running = True
        return self

    def stop(self, mode: str = "fast") -> None:
        """mode: smart | fast | immediate (immediate is a crash: the next start recovers from WAL)."""
        self.resume()
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self._running = False

    def destroy(self) -> None:
        if self._running:
            try:
                self.stop("immediate")
            except Exception:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    # -- faults -----------------------------------------------------------------------------------
    def pids(self) -> list[int]:
        """The postmaster and every process it forked (backends, writer, WAL writer, ...)."""
        try:
            master = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        found = [master]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == master:
                found.append(int(entry.name))
        return found

    def pause(self) -> None:
        """SIGSTOP the whole cluster: connections stay open but nothing answers (a stalled store)."""
        for pid in self.pids():
            _signal(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.pids():
            _signal(pid, signal.SIGCONT)

    # -- databases --------------------------------------------------------------------------------
    def create_database(self, name: str | None = None) -> str:
        import psycopg

        name = name or f"footfall_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name

    def wait_ready(self, timeout: float = 10) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    # -- helpers ----------------------------------------------------------------------------------
    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(PG_BIN / tool), *args]
        if self._user:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.root)
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise PgUnavailable(f"{tool} failed ({done.returncode}): {done.stderr.strip()} {tail}")


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
