"""`footfall serve --workers 2` on SQLite: the workers share one writer process (ingest/shared_writer.py),
which serve starts again if it dies, without losing an acknowledged event."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import sqlite3
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

from footfall.ingest import shared_writer
from footfall.ingest.committer import LocalCommitter
from footfall.store import sqlite
from footfall.store.url import DatabaseURL
from tests.legacy_calls import order, track
from tests.test_cli import Serve, printed_keys_from_running, read_back
from tests.test_health import _cmdline, _healthz_of_workers, _workers


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _writer_pids(srv: Serve) -> set[int]:
    return {pid for pid in _descendants(srv.proc.pid) if b"writer_process" in _cmdline(pid)
            or b"shared_writer" in _cmdline(pid)}


def _shared_writer_after(srv: Serve, workers: set[int], not_pid: int | None = None, timeout: float = 30) -> int:
    """The one writer every worker reports in /healthz (another than not_pid), once they all do."""
    deadline = time.monotonic() + timeout
    while True:
        health = _healthz_of_workers(srv, workers)
        pids = {w["writer_pid"] for w in health["workers"]}
        if len(pids) == 1 and None not in pids and not_pid not in pids:
            return pids.pop()
        assert time.monotonic() < deadline, health
        time.sleep(0.1)


def test_two_workers_share_one_writer_process(tmp_path):
    database = f"sqlite:///{tmp_path / 'footfall.db'}"
    srv = Serve("--workers", "2", "--database", database)
    try:
        workers = _workers(srv)
        assert len(workers) == 2
        writer = _shared_writer_after(srv, workers)
        assert _writer_pids(srv) == {writer}, "one writer process in all, not one per worker"
        assert b"footfall.ingest.shared_writer" in _cmdline(writer)
        assert int(Path(f"/proc/{writer}/stat").read_text().rsplit(")", 1)[1].split()[1]) == srv.proc.pid
        public, _ = printed_keys_from_running(srv)
        account = type("Account", (), {"public_key": public})
        with httpx.Client(base_url=srv.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as c:
            answers = [track(c, order(account, f"w{i}@example.com", properties={"$event_id": f"w-{i}"})).text
                       for i in range(40)]
        assert answers == ["1"] * 40
    finally:
        stderr = srv.stop()
    assert not os.path.exists(f"/proc/{writer}/cmdline"), "the shared writer ends with serve"
    events, _ = read_back(database, public)
    assert sorted(e["unique_id"] for e in events) == sorted(f"w-{i}" for i in range(40)), stderr


def test_a_killed_shared_writer_is_started_again_and_no_acknowledged_event_is_lost(tmp_path):
    database = f"sqlite:///{tmp_path / 'footfall.db'}"
    srv = Serve("--workers", "2", "--database", database)
    acked: list[str] = []
    stop = threading.Event()
    try:
        workers = _workers(srv)
        first = _shared_writer_after(srv, workers)
        public, _ = printed_keys_from_running(srv)
        account = type("Account", (), {"public_key": public})

        def send(n: int) -> None:
            with httpx.Client(base_url=srv.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as c:
                i = 0
                while not stop.is_set():
                    event_id = f"t{n}-{i}"
                    i += 1
                    try:
                        answer = track(c, order(account, f"k{n}@example.com", properties={"$event_id": event_id}))
                    except httpx.TransportError:
                        continue
                    if answer.text == "1":
                        acked.append(event_id)
                    else:  # while no writer runs: refused with 503 + Retry-After, never a silent loss
                        assert answer.status_code == 503 and answer.headers.get("retry-after"), answer.text
                        time.sleep(0.05)

        threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        before_kill = len(acked)
        os.kill(first, signal.SIGKILL)
        second = _shared_writer_after(srv, workers, not_pid=first)
        assert _writer_pids(srv) == {second}
        count = len(acked)
        deadline = time.monotonic() + 30
        while len(acked) < count + 20:  # both workers commit through the new writer
            assert time.monotonic() < deadline, "no events acknowledged after the restart"
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
        stderr = srv.stop()
    assert before_kill > 0
    events, _ = read_back(database, public)
    stored = {e["unique_id"] for e in events}
    assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged events missing\n{stderr}"
    assert "shared writer process" in stderr and "starting another" in stderr


def _apply(conn, ops):
    """Ops as the writer applies them: a row each, and a bug for the op "poison"."""
    if "poison" in ops:
        raise RuntimeError("a bug in one worker's group")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(op,) for op in ops])
    return [f"stored {op}" for op in ops]


class _Worker:
    """One worker's end of the shared writer: what it was answered."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self.conn, self.writer_end = Connection(ours.detach()), Connection(theirs.detach())

    def answer(self):
        return pickle.loads(self.conn.recv_bytes())


def test_groups_committed_together_are_split_back_and_a_failing_one_fails_alone(tmp_path):
    path = tmp_path / "w.db"
    sqlite3.connect(path).execute("CREATE TABLE t (v TEXT)").connection.commit()
    committer = LocalCommitter(lambda: sqlite.connect(DatabaseURL(f"sqlite:///{path}")), _apply)
    committer.connect()
    a, b = _Worker(), _Worker()
    clients = {w.writer_end: shared_writer._Client(w.writer_end) for w in (a, b)}
    shared_writer._commit_together(clients, committer, [(clients[a.writer_end], ["a1", "a2"], 0.0),
                                                        (clients[b.writer_end], ["b1"], 0.0)])
    assert a.answer() == ("ok", ["stored a1", "stored a2"]) and b.answer() == ("ok", ["stored b1"])
    shared_writer._commit_together(clients, committer, [(clients[a.writer_end], ["a3", "poison"], 0.0),
                                                        (clients[b.writer_end], ["b2"], 0.0)])
    status, reason = a.answer()
    assert status == "failed" and "a bug in one worker's group" in reason
    assert b.answer() == ("ok", ["stored b2"])
    committer.close()
    stored = [v for (v,) in sqlite3.connect(path).execute("SELECT v FROM t ORDER BY rowid")]
    assert stored == ["a1", "a2", "b1", "b2"]
