"""The group commits in a process of their own: `python -m footfall.ingest.writer_process FD`.

Why: in one process the event loop (parsing and answering requests) and the writer thread take
turns on one interpreter lock. Under a heavy offer the loop holds it most of the time and the
writer, which gives it up on every database round trip, waits to get it back each time: commits
slow to a crawl exactly when they are most needed. In its own process the writer has a core's
worth of time whatever the loop is doing.

ProcessCommitter is the server's side: the same Committer interface as LocalCommitter (the
pipeline's writer thread calls it and blocks in a socket read instead of in the database driver).
The child runs a LocalCommitter and answers one message at a time over a socketpair:
  (connect, apply)                -> (nothing: the first message, what the child is to run)
  ("connect",)                    -> ("ok", pid) | ("unavailable", reason)
  ("commit", ops, clock_offset)   -> ("ok", results) | ("down", reason) | ("failed", reason)
                                     | ("resend", reason): send it again pickled (see encode_commit)
Messages are pickled, except a commit of track operations alone (encode_commit: the group as
msgpack, the HTTP process's side of it a quarter of pickling's CPU); answers are pickled.
connect and apply must be module-level functions or partials of them (they are pickled).
Under `footfall serve --workers N` on SQLite the workers share one writer instead
(footfall/ingest/shared_writer.py, FOOTFALL_WRITER_SOCKET): ProcessCommitter connects to it.
It ignores SIGINT and SIGTERM (the server drains its queue through it on shutdown) and exits when
the server closes the socket or dies, so it never outlives the server by more than one commit.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Callable

import msgspec

from footfall import clock, gc_tuning
from footfall.domain.models import Event, ProfilePatch, TrackOp
from footfall.observability import prometheus_metrics
from footfall.ingest.committer import Applier, LocalCommitter
from footfall.failures import CommitFailed, StoreDown, Unsendable as _Unsendable
from footfall.refusals import InternalError, StoreUnavailable
from footfall.store.conn import Conn

log = logging.getLogger("footfall.ingest")

SHARED_WRITER_ENV = "FOOTFALL_WRITER_SOCKET"  # the shared writer's socket (shared_writer.py), when serve runs one


class ProcessCommitter:
    """Commits through a writer process, started on the first connect() and again after it dies."""

    def __init__(self, connect: Callable[[], Conn], apply: Applier) -> None:
        self._setup = pickle.dumps((connect, apply))  # fails now, not in the child, if it cannot travel
        self._proc: subprocess.Popen | None = None
        self._sock: Connection | None = None
        self._connected = False
        self._lock = threading.Lock()  # one exchange at a time (the pipeline has one writer thread)
        self._started = 0  # writer processes started so far (after the first: restarts)
        # The writer all workers share, when serve started one (shared_writer.py); else one of our own.
        self._shared_path = os.environ.get(SHARED_WRITER_ENV) or None
        self._remote_pid: int | None = None

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def pid(self) -> int | None:
        if self._shared_path is not None:
            return self._remote_pid if self._sock is not None else None
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def connect(self) -> None:
        if self._shared_path is not None:
            self._join_shared()
        elif self._proc is None or self._proc.poll() is not None:
            try:
                self._spawn()
            except OSError as exc:  # out of processes or descriptors: a passing condition, retried
                self.close()
                raise StoreUnavailable(f"the writer process cannot be started: {exc}") from exc
        try:
            status, detail = self._call(pickle.dumps(("connect",)))
        except StoreDown as exc:
            raise StoreUnavailable(str(exc)) from exc
        if status != "ok":
            raise StoreUnavailable(detail)
        self._remote_pid = detail
        self._connected = True

    def commit(self, ops: list[Any]) -> list[Any]:
        if not self._connected:
            raise StoreDown("no connection to the store")
        try:
            return self._commit_remote(ops)
        except _Unsendable:
            pass
        # Some op cannot be pickled: a bug in its type, which must not cost the rest of its batch.
        sendable, unsendable = _split_sendable(ops)
        results = self._commit_remote([ops[i] for i in sendable]) if sendable else []
        merged: list[Any] = [None] * len(ops)
        for i, result in zip(sendable, results):
            merged[i] = result
        for i, error in unsendable.items():
            merged[i] = error
        return merged

    def _commit_remote(self, ops: list[Any]) -> list[Any]:
        offset = clock.offset()
        status, detail = self._call(encode_commit(ops, offset))
        if status == "resend":  # the writer could not read the group as msgpack (a bug: logged there)
            status, detail = self._call(_pickled_commit(ops, offset))
        if status == "ok":
            return detail
        self._connected = False  # the child closed its connection; connect() opens a new one
        raise (StoreDown if status == "down" else CommitFailed)(detail)

    def close(self) -> None:
        """End the writer process: it finishes its current message, then exits on the closed socket."""
        self._connected = False
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    # -- the socket and the process ---------------------------------------------------------------
    def _join_shared(self) -> None:
        """Connect to the shared writer, if not connected (it may be between a death and a restart)."""
        if self._sock is not None:
            return
        try:
            self._sock = _connect_shared(self._shared_path)
            self._sock.send_bytes(self._setup)
        except OSError as exc:
            self.close()
            raise StoreUnavailable(f"the shared writer process is not running ({self._shared_path}): {exc}") from exc

    def _spawn(self) -> None:
        self.close()
        self._proc, self._sock = _take_prestarted() or _start_process()
        self._sock.send_bytes(self._setup)
        self._started += 1
        if self._started > 1:
            log.warning("writer process restarted (pid %d)", self._proc.pid)
            m = prometheus_metrics.get()
            if m is not None:
                m.writer_restarts.inc()

    def _call(self, message: bytes) -> tuple[str, Any]:
        """Send one pickled message and wait for its answer; StoreDown if the process is gone."""
        with self._lock:
            sock = self._sock
            if sock is None:
                raise StoreDown("the writer process is not running")
            try:
                sock.send_bytes(message)
                return pickle.loads(sock.recv_bytes())
            except (EOFError, OSError) as exc:
                code = self._proc.poll() if self._proc is not None else None
                self._connected = False
                self.close()
                raise StoreDown(f"the writer process exited (code {code}): {type(exc).__name__}") from exc


def _connect_shared(path: str) -> Connection:
    """A connection to the shared writer (OSError if it is not listening)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return Connection(sock.detach())


def _start_process(backend: str = "") -> tuple[subprocess.Popen, Connection]:
    ours, theirs = socket.socketpair()
    with theirs:
        fd = theirs.fileno()
        argv = [sys.executable, "-m", "footfall.ingest.writer_process", str(fd), *([backend] if backend else [])]
        proc = subprocess.Popen(argv, pass_fds=[fd], stdin=subprocess.DEVNULL)
    return proc, Connection(ours.detach())


_prestarted: tuple[subprocess.Popen, Connection] | None = None


def prestart(backend: str) -> None:
    """Start a writer process now, for the first ProcessCommitter of this process to take.

    `footfall serve` (one worker) calls this first thing, so that the child's interpreter start and
    imports (of the store module for `backend`: sqlite or postgresql) overlap the server's migration
    check and app import instead of following them: a server restarted after a crash is healthy
    sooner."""
    global _prestarted
    if _prestarted is None:
        _prestarted = _start_process(backend)


def _take_prestarted() -> tuple[subprocess.Popen, Connection] | None:
    global _prestarted
    taken, _prestarted = _prestarted, None
    if taken is not None and taken[0].poll() is not None:
        taken[1].close()
        return None
    return taken


# -- commit messages ------------------------------------------------------------------------------

TRACK_GROUP = b"T"  # the first byte of a commit of TrackOps as msgpack (a pickle starts with b"\x80")
_encode_msgpack = msgspec.msgpack.Encoder().encode
_decode_track_group = msgspec.msgpack.Decoder(tuple[float, list[TrackOp]]).decode


def encode_commit(ops: list[Any], offset: float) -> bytes:
    """A commit message: for a group of track operations alone (single-event ingest: legacy track and
    identify, /client and /api events and profiles) the group as msgpack, which msgspec writes from
    the dataclasses in C, 4.05 -> 1.05 µs per legacy track op here (callgrind: 29.1k -> 14.9k
    instructions; reading it back costs the writer 23.4k against pickle's 18.9k, into slotted
    dataclasses: 45.9k -> 38.5k for both sides); anything else pickled. Raises Unsendable if it cannot be pickled.

    msgpack carries what the wire decoders put in a TrackOp: JSON values (in the dict[str, Any]
    fields) and the declared types of the other fields. What would not arrive as sent goes pickled:
    an op of a subclass, consent_changes (objects in a list[Any]), an int where a float is declared.
    A field not of its declared type fails the writer's decoding, which then asks for the group
    pickled ("resend")."""
    if all(map(_plain_track, ops)):
        try:
            return TRACK_GROUP + _encode_msgpack((offset, ops))
        except (TypeError, ValueError, OverflowError):  # e.g. an int beyond 64 bits: pickle has no limit
            pass
    return _pickled_commit(ops, offset)


def _pickled_commit(ops: list[Any], offset: float) -> bytes:
    try:
        return pickle.dumps(("commit", ops, offset), pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise _Unsendable from exc


def _plain_track(op: Any) -> bool:
    if type(op) is not TrackOp or type(op.profile) is not ProfilePatch or op.profile.consent_changes:
        return False
    event = op.event
    return event is None or (type(event) is Event and type(event.time) is int and type(event.microsecond) is int
                             and (event.value is None or type(event.value) is float))


def decode_message(message: bytes) -> tuple:
    """A message to the writer as the tuple answer() takes; msgspec.ValidationError (a field not of
    its declared type) or msgspec.DecodeError for a commit whose msgpack it cannot read."""
    if message[:1] == TRACK_GROUP:
        offset, ops = _decode_track_group(memoryview(message)[1:])
        return "commit", ops, offset
    return pickle.loads(message)


def unreadable(exc: Exception) -> tuple[str, str]:
    """The answer to a commit decode_message could not read: send it again pickled."""
    log.error("a commit's msgpack could not be read (a field not of its declared type?): %s", exc)
    return "resend", str(exc)


def _split_sendable(ops: list[Any]) -> tuple[list[int], dict[int, Exception]]:
    """Indexes of ops that can be pickled, and an InternalError for each that cannot (a bug in the
    op's type, which must not cost the other ops of its batch)."""
    sendable, unsendable = [], {}
    for i, op in enumerate(ops):
        try:
            pickle.dumps(op, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            unsendable[i] = InternalError(f"{type(op).__name__} cannot be sent to the writer process: {exc}")
        else:
            sendable.append(i)
    return sendable, unsendable


# -- the child ------------------------------------------------------------------------------------

def serve(sock: Connection) -> None:
    """Answer the server's messages until it closes the socket."""
    try:
        connect, apply = pickle.loads(sock.recv_bytes())
    except (EOFError, OSError):  # a prestarted process nobody took
        return
    committer = LocalCommitter(connect, apply)
    try:
        while True:
            try:
                message = sock.recv_bytes()
            except (EOFError, OSError):
                return
            try:
                reply = answer(committer, decode_message(message))
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                reply = unreadable(exc)
            sock.send_bytes(encode_answer(reply))
            gc_tuning.collect_if_due()  # between commits, once what the last one held is freed (gc_tuning.py)
    finally:
        committer.close()


def answer(committer: LocalCommitter, message: tuple) -> tuple[str, Any]:
    """The answer to one message (also the shared writer's: footfall/ingest/shared_writer.py)."""
    if message[0] == "connect":
        try:
            committer.connect()
        except StoreUnavailable as exc:
            return "unavailable", str(exc)
        return "ok", os.getpid()
    _, ops, offset = message
    clock.set_offset(offset)  # the server's clock, which tests may move
    m = prometheus_metrics.get()
    began = time.perf_counter()
    try:
        results = committer.commit(ops)
        if m is not None:
            m.store_transaction.observe(time.perf_counter() - began)
        return "ok", results
    except StoreDown as exc:
        return "down", str(exc)
    except CommitFailed as exc:
        return "failed", str(exc)


def encode_answer(answer: tuple[str, Any]) -> bytes:
    try:
        return pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
    except Exception:
        status, results = answer
        return pickle.dumps((status, [_sendable_result(r) for r in results]), pickle.HIGHEST_PROTOCOL)


def _sendable_result(result: Any) -> Any:
    try:
        pickle.loads(pickle.dumps(result, pickle.HIGHEST_PROTOCOL))
    except Exception as exc:
        log.error("a result of type %s cannot be sent back: %s", type(result).__name__, exc)
        return InternalError(f"{type(result).__name__}: {result}")
    return result


def child_start(fd: str) -> Connection:
    """A writer child's start (this one's and the shared writer's): Ctrl-C and a service manager's
    SIGTERM reach the whole process group; the server then drains its queue through this process, so
    it must outlive that signal and leave on the closed socket (fd: the socket to the server)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="footfall writer %(levelname)s %(name)s: %(message)s")
    sock = Connection(int(fd))
    os.set_inheritable(sock.fileno(), False)
    return sock


def main(argv: list[str]) -> None:
    sock = child_start(argv[0])
    # Import what the commits need before the server asks (a prestarted process does this while the
    # server is still starting).
    if argv[1:] == ["postgresql"]:
        import footfall.store.postgres  # noqa: F401
    elif argv[1:] == ["sqlite"]:
        import footfall.store.sqlite  # noqa: F401
    gc_tuning.tune_for_commits()
    serve(sock)


if __name__ == "__main__":
    main(sys.argv[1:])
