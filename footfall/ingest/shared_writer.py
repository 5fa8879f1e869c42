"""One writer process for every worker of `footfall serve --workers N` on SQLite.

Why: SQLite has one write lock. With a writer process per worker, the writers took turns at it
through SQLite's busy handler, which sleeps (up to 100 ms) and retries instead of waking when the
lock is free: a second worker made ingest slower and its p99 hundreds of milliseconds. Here the
serve process starts one writer (python -m footfall.ingest.shared_writer FD PATH) that listens on a
Unix socket in the run directory (FOOTFALL_WRITER_SOCKET); each worker's ProcessCommitter connects
to it instead of starting its own. The writer answers the workers' messages (the protocol of
writer_process.py) and commits the groups that arrive together in one transaction: one turn at the
lock and one fsync for all of them.

SharedWriter is the serve process's side: it starts the writer before the workers, starts it
again if it dies (the workers' commits fail over to 503 + Retry-After meanwhile and reconnect), and
ends it after the workers have drained their queues through it. The writer exits when the serve
process closes its control socket or dies.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import msgspec

from footfall import clock, gc_tuning
from footfall.ingest import writer_process
from footfall.ingest.committer import LocalCommitter
from footfall.refusals import StoreUnavailable

log = logging.getLogger("footfall.ingest")

ENV = writer_process.SHARED_WRITER_ENV
SOCKET_NAME = "writer.sock"
RESTART_DELAY = 0.2  # seconds between a writer's death and its successor's start


class SharedWriter:
    """The serve process's side: start, watch and stop the one writer process."""

    def __init__(self, run_dir: Path) -> None:
        self.path = str(Path(run_dir) / SOCKET_NAME)
        self._proc: subprocess.Popen | None = None
        self._control: Connection | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """Start the writer and wait until it listens (so the first worker finds it)."""
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="footfall-shared-writer", daemon=True)
        self._watcher.start()

    def stop(self, timeout: float = 10.0) -> None:
        """After the workers are gone: the writer finishes its current commit and exits."""
        self._stopping.set()
        proc = self._proc
        if self._control is not None:
            self._control.close()
        if proc is not None:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _spawn(self) -> None:
        try:
            os.unlink(self.path)  # a dead writer's socket file
        except FileNotFoundError:
            pass
        ours, theirs = socket.socketpair()
        with theirs:
            fd = theirs.fileno()
            self._proc = subprocess.Popen([sys.executable, "-m", "footfall.ingest.shared_writer", str(fd), self.path],
                                          pass_fds=[fd], stdin=subprocess.DEVNULL)
        self._control = Connection(ours.detach())
        try:
            self._control.recv_bytes()  # "listening"
        except (EOFError, OSError):
            log.error("the shared writer process exited before it listened (code %s)", self._proc.poll())

    def _watch(self) -> None:
        while not self._stopping.is_set():
            proc = self._proc
            if proc is None:
                return
            code = proc.wait()
            if self._stopping.is_set():
                return
            log.warning("shared writer process %d exited (code %s): starting another", proc.pid, code)
            time.sleep(RESTART_DELAY)
            if self._stopping.is_set():
                return
            if self._control is not None:
                self._control.close()
            self._spawn()


# -- the writer process ---------------------------------------------------------------------------

class _Client:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.ready = False  # its first message (connect, apply) has been read


def serve(control: Connection, listener: socket.socket) -> None:
    """Answer every worker until the serve process closes the control socket."""
    clients: dict[Connection, _Client] = {}
    committer: LocalCommitter | None = None
    try:
        while True:
            ready = wait([control, listener, *clients])
            if control in ready:
                return  # closed (it never sends): serve has ended or died
            if listener in ready:
                sock, _ = listener.accept()
                conn = Connection(sock.detach())
                clients[conn] = _Client(conn)
            commits: list[tuple[_Client, list[Any], float]] = []
            for conn in [c for c in ready if c in clients]:
                client = clients[conn]
                try:
                    raw = conn.recv_bytes()
                except (EOFError, OSError):
                    conn.close()
                    del clients[conn]
                    continue
                try:
                    message = writer_process.decode_message(raw)
                except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                    _reply(clients, client, writer_process.unreadable(exc))
                    continue
                if not client.ready:
                    client.ready = True
                    if committer is None:
                        connect_fn, apply = message
                        committer = LocalCommitter(connect_fn, apply)
                elif message[0] == "commit":
                    commits.append((client, message[1], message[2]))
                else:
                    _reply(clients, client, writer_process.answer(committer, message))
            if commits and committer is not None:
                _commit_together(clients, committer, commits)
                gc_tuning.collect_if_due()
    finally:
        if committer is not None:
            committer.close()


def _commit_together(clients: dict[Connection, _Client], committer: LocalCommitter,
                     commits: list[tuple[_Client, list[Any], float]]) -> None:
    """The groups that arrived together, in one transaction; each worker gets its own results. If
    that fails other than for the store being down (a bug), each group is committed alone, so one
    worker's failing group does not fail another's."""
    ops = [op for _, group, _ in commits for op in group]
    status, detail = writer_process.answer(committer, ("commit", ops, commits[0][2]))
    if status == "failed" and len(commits) > 1:
        for client, group, offset in commits:
            _reply(clients, client, _commit_alone(committer, group, offset))
        return
    start = 0
    for client, group, _ in commits:
        part = detail[start:start + len(group)] if status == "ok" else detail
        start += len(group)
        _reply(clients, client, (status, part))


def _commit_alone(committer: LocalCommitter, group: list[Any], offset: float) -> tuple[str, Any]:
    try:
        committer.connect()  # a failed commit closed the connection
    except StoreUnavailable as exc:
        return "down", str(exc)
    return writer_process.answer(committer, ("commit", group, offset))


def _reply(clients: dict[Connection, _Client], client: _Client, answer: tuple[str, Any]) -> None:
    try:
        client.conn.send_bytes(writer_process.encode_answer(answer))
    except OSError:  # that worker is gone; the others go on
        client.conn.close()
        clients.pop(client.conn, None)


def main(argv: list[str]) -> None:
    # The workers drain their queues through this process: it leaves only when serve closes the
    # control socket (argv: its fd, the path to listen on).
    control = writer_process.child_start(argv[0])
    import footfall.store.sqlite  # noqa: F401  (what the commits need, before the first one)

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(argv[1])
    listener.listen(64)
    clock.set_offset(0.0)
    gc_tuning.tune_for_commits()
    control.send_bytes(b"listening")
    serve(control, listener)


if __name__ == "__main__":
    main(sys.argv[1:])
