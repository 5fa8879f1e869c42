"""The deliverer in a process of its own: `python -m footfall.webhooks.deliverer_process FD`.

Why: reading the outbox, rendering, signing and the HTTP requests cost CPU for every message and
every lane; on the worker's event loop (and interpreter lock) that time was taken from ingest. In its
own process it takes a core of its own where there is one. Each worker starts one (several workers
or hosts: each webhook is still delivered by one of them, the holder of its lease, store/webhooks.py).

DelivererProcess is the worker's side. Over one socketpair, pickled:
  worker -> child: (settings,)                      the first message: what the child is to run
                   ("notify", keys, clock_offset)   the hub's wake-ups (webhooks/hub.py), as they come,
                                                    only those the child listens for
  child -> worker: ("status", health, attempts, messages, listening)   every STATUS_SECONDS, and at
                   once when its hub gets a new key: the deliverer's health, attempts by verdict
                   kind and messages delivered since the last one, which the worker counts in its
                   /metrics (so they are scraped wherever it is), and the keys its hub listens for
                   ("webhooks", the accounts and webhooks of its lanes): the worker forwards no
                   other notice (an account without webhooks here costs the child nothing), and
                   everything until the first report. A lane claimed a moment before the worker
                   heard of it may miss a notice: it polls (FOOTFALL_WEBHOOK_POLL_SECONDS).
The child ignores SIGINT and SIGTERM and stops (releasing its leases) when the worker closes the
socket or dies; the worker starts it again if it ends on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any, Iterable

from footfall import clock
from footfall.config import Settings
from footfall.observability import prometheus_metrics

log = logging.getLogger("footfall.webhooks")

STATUS_SECONDS = 0.5
RESTART_DELAY = 1.0  # a child that ended is started again this long after
STOP_TIMEOUT = 10.0


class DelivererProcess:
    """Starts, feeds and watches the deliverer process of this worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._setup = pickle.dumps((settings,))  # fails now, not in the child, if it cannot travel
        self._proc: subprocess.Popen | None = None
        self._sock: Connection | None = None
        self._send_lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._health: dict[str, Any] = {}
        self._listening: frozenset[str] | None = None  # the child's hub keys; None: not reported yet
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> None:
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="footfall-deliverer-watch", daemon=True)
        self._watcher.start()

    def notify(self, keys: Iterable[str]) -> None:
        """The hub's wake-ups, from any thread; lost if the child is not running (it also polls)."""
        listening = self._listening
        keys = [k for k in keys if listening is None or k in listening]
        if keys:
            self._send(("notify", keys, clock.offset()))

    def health(self) -> dict[str, Any]:
        return {"pid": self.pid, "running": self.pid is not None, "restarts": self.restarts, **self._health}

    def stop(self) -> None:
        """Close the socket: the child stops its lanes, releases its leases and exits."""
        self._stopping.set()
        self._close_sock()
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.info("deliverer process %d stopped: %s message(s) delivered", proc.pid,
                     self._health.get("delivered", 0))
        if self._watcher is not None:
            self._watcher.join(STOP_TIMEOUT)

    # -- internals --------------------------------------------------------------------------------
    def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            fd = theirs.fileno()
            self._proc = subprocess.Popen([sys.executable, "-m", "footfall.webhooks.deliverer_process", str(fd)],
                                          pass_fds=[fd], stdin=subprocess.DEVNULL)
        self._sock = Connection(ours.detach())
        self._sock.send_bytes(self._setup)
        log.info("deliverer process %d started (worker %d)", self._proc.pid, os.getpid())

    def _send(self, message: tuple) -> None:
        with self._send_lock:
            sock = self._sock
            if sock is None:
                return
            try:
                sock.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))
            except OSError:  # the child is gone: _watch starts another
                pass

    def _close_sock(self) -> None:
        with self._send_lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            # Shut down first: that ends a recv another thread is blocked in (close alone would not),
            # and the child reads end-of-file.
            with contextlib.suppress(OSError), socket.socket(fileno=os.dup(sock.fileno())) as raw:
                raw.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _watch(self) -> None:
        """Read the child's status reports; start it again if it ends while we are not stopping."""
        while not self._stopping.is_set():
            sock = self._sock
            try:
                if sock is None:
                    raise EOFError
                status = pickle.loads(sock.recv_bytes())
            except (EOFError, OSError):
                if self._stopping.is_set():
                    return
                proc = self._proc
                code = proc.wait() if proc is not None else None
                self._close_sock()
                log.warning("deliverer process %s exited (code %s); starting another",
                            proc.pid if proc else "?", code)
                self._health, self._listening = {}, None
                if self._stopping.wait(RESTART_DELAY):
                    return
                try:
                    self._spawn()
                except OSError as exc:  # out of processes or descriptors: tried again
                    log.warning("deliverer process cannot be started: %s", exc)
                    continue
                self.restarts += 1
                m = prometheus_metrics.get()
                if m is not None:
                    m.deliverer_restarts.inc()
                continue
            self._take_status(status)

    def _take_status(self, status: tuple) -> None:
        _, health, attempts, messages, listening = status
        self._health = health
        self._listening = frozenset(listening)
        _count(attempts, messages)


def _count(attempts: dict[str, int], messages: int) -> None:
    m = prometheus_metrics.get()
    if m is None:
        return
    for kind, n in attempts.items():
        m.webhook_attempts.labels(kind).inc(n)
    if messages:
        m.webhook_messages.inc(messages)


# -- the child ------------------------------------------------------------------------------------

class _Tally:
    """What the deliverer did since the last status report (Deliverer's on_attempt)."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self.messages = 0

    def __call__(self, kind: str, messages: int) -> None:
        self.attempts[kind] += 1
        self.messages += messages

    def take(self) -> tuple[dict[str, int], int]:
        taken = dict(self.attempts), self.messages
        self.attempts.clear()
        self.messages = 0
        return taken


async def _run(sock: Connection, settings: Settings) -> None:
    from footfall.store import db
    from footfall.webhooks.deliverer import Deliverer
    from footfall.webhooks.hub import Hub

    loop = asyncio.get_running_loop()
    hub = Hub()
    hub.bind(loop)
    ended = asyncio.Event()
    report = asyncio.Event()  # a status report now (ended, or the hub listens for a new key)
    hub.on_new_key = report.set

    def read() -> None:  # a thread: the worker's wake-ups, until it closes the socket
        try:
            while True:
                _, keys, offset = pickle.loads(sock.recv_bytes())
                clock.set_offset(offset)  # the worker's clock, which tests may move
                hub.notify(keys)
        except (EOFError, OSError):
            loop.call_soon_threadsafe(ended.set)
            loop.call_soon_threadsafe(report.set)

    tally = _Tally()
    # Reads outside transactions (no BEGIN / ROLLBACK per read trip on PostgreSQL), and commits not
    # flushed to disk one by one: whatever the deliverer writes (records, cursors, leases) is made good
    # by doing it again if lost, at-least-once with the same message ids (store/db.connect).
    connect = functools.partial(db.connect, settings.database_url, synchronous=settings.sqlite_synchronous,
                                application_name="footfall-deliverer", autocommit=True, durable=False)
    deliverer = Deliverer(settings, connect, hub, on_attempt=tally)
    threading.Thread(target=read, name="footfall-deliverer-read", daemon=True).start()
    deliverer.start()
    try:
        while not ended.is_set():
            try:
                await asyncio.wait_for(report.wait(), STATUS_SECONDS)
            except asyncio.TimeoutError:
                pass
            report.clear()
            attempts, messages = tally.take()
            try:
                sock.send_bytes(pickle.dumps(("status", deliverer.health(), attempts, messages, hub.keys())))
            except OSError:
                break
    finally:
        await deliverer.stop()


def _lower_priority(nice: int) -> None:
    """Delivery yields the CPU to ingest: a worker or writer that wakes on a shared core runs at once
    instead of waiting out the deliverer's slice, and the deliverer gets what they leave (under full
    load its batches grow, which costs less per message). Before any thread is started: on Linux a
    thread inherits its niceness from the one that starts it."""
    if nice > 0:
        try:
            os.nice(nice)
        except OSError as exc:
            log.warning("deliverer process: cannot lower its priority by %d: %s", nice, exc)


def main(argv: list[str]) -> None:
    # Ctrl-C and a service manager's SIGTERM reach the whole process group; the worker stops this
    # process by closing the socket, after its own shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = Connection(int(argv[0]))
    os.set_inheritable(sock.fileno(), False)
    try:
        (settings,) = pickle.loads(sock.recv_bytes())
    except (EOFError, OSError):
        return
    from footfall import gc_tuning
    from footfall.observability import logs

    if settings.run_dir:
        logs.configure(settings.log_format)
    else:
        logging.basicConfig(level=logging.WARNING, format="footfall deliverer %(levelname)s %(name)s: %(message)s")
    gc_tuning.tune()
    _lower_priority(settings.webhook_deliverer_nice)
    started = time.monotonic()
    asyncio.run(_run(sock, settings))
    log.debug("deliverer process %d ran %.1f s", os.getpid(), time.monotonic() - started)


if __name__ == "__main__":
    main(sys.argv[1:])
