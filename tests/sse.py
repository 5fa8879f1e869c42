"""A Server-Sent Events client for tests: reads a stream in a thread, collecting its events."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Event:
    id: str | None
    event: str
    data: Any
    at: float


class SseReader:
    def __init__(self, url: str, headers: dict[str, str], params: dict[str, str] | None = None) -> None:
        self.events: list[Event] = []
        self.status: int | None = None
        self.comments = 0
        self._url, self._headers, self._params = url, headers, params or {}
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "SseReader":
        self._thread.start()
        if not self._connected.wait(10):
            raise AssertionError("the stream did not answer")
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        # The reader is blocked until the stream's next line (a keep-alive comment can be many seconds
        # away): shutting the socket down ends that read now, so neither this join nor the server's
        # shutdown waits on an open stream. Lines after the stop were never collected anyway.
        if (sock := self._socket) is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)

    def _run(self) -> None:
        try:
            self._read()
        except httpx.TransportError:
            if not self._stop.is_set():
                raise

    def _read(self) -> None:
        with httpx.Client(timeout=httpx.Timeout(30, read=None)) as client:
            with client.stream("GET", self._url, headers=self._headers, params=self._params) as r:
                self._socket = r.extensions["network_stream"].get_extra_info("socket")
                self.status = r.status_code
                fields: dict[str, str] = {}
                for line in r.iter_lines():
                    if line.startswith(":"):
                        self.comments += 1
                        self._connected.set()
                    elif line == "":
                        if "data" in fields:
                            self.events.append(Event(fields.get("id"), fields.get("event", "message"),
                                                     json.loads(fields["data"]), time.time()))
                        fields = {}
                    else:
                        name, _, value = line.partition(":")
                        fields[name] = value[1:] if value.startswith(" ") else value
                    if self._stop.is_set():
                        return
                self._connected.set()

    def wait_for(self, n: int, timeout: float = 15.0) -> list[Event]:
        deadline = time.monotonic() + timeout
        while len(self.events) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.events) >= n, f"{len(self.events)} events of {n}"
        return self.events
