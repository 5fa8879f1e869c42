"""Real HTTP receivers for webhook tests: a threaded server on a free loopback port that records every
request (headers, raw body, when it arrived) and answers from a script: a list of (status, headers,
delay) per request, the last entry repeated."""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when the body had arrived
    peer: str = ""  # the sender's address (which host delivered, in the cluster tests)

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a hang past the deliverer's timeout)
    body: bytes = b"ok"


class Receiver:
    def __init__(self, *answers: Answer, host: str = "127.0.0.1") -> None:
        self.script = list(answers) or [Answer()]
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer_for(self, n: int) -> Answer:
        return self.script[min(n, len(self.script) - 1)]

    def messages(self) -> list[dict[str, Any]]:
        """Every Klaviyo-envelope item received, in arrival order (duplicates included)."""
        with self._lock:
            bodies = [r.json() for r in self.received]
        return [item for b in bodies if isinstance(b.get("data"), list) for item in b["data"]]

    def wait_for(self, predicate, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.05)
        raise AssertionError(f"receiver: condition not met within {timeout}s ({len(self.received)} requests)")

    def _handler(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints do (every answer has a length)

            def log_message(self, *args: Any) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except ConnectionError:  # the sender was killed between requests (kill -9 drills)
                    pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-body (a kill -9 drill): nothing was delivered
                    self.close_connection = True
                    return
                with receiver._lock:
                    n = len(receiver.received)
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body, time.time(), self.client_address[0]))
                answer = receiver.answer_for(n)
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:  # the deliverer gave up waiting
                    pass

        return Handler
