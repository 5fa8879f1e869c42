"""Real Footfall servers for tests: uvicorn in a thread, on a free port, with real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from footfall import serving
from footfall.app import create_app
from footfall.config import Settings
from footfall.domain.rate_limit_tiers import RateLimitSettings
from footfall.store import accounts, db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_settings(**changes) -> Settings:
    """Settings for a test server: Klaviyo's rate limits scaled x1000 so tests are never throttled by
    accident (the rate limit tests pass their own `rate_limits`), no event-loop lag limit."""
    changes.setdefault("rate_limits", RateLimitSettings(multiplier=1000))
    # In-process test servers share the interpreter lock with the test driving them, whose own work
    # can hold the event loop back; the lag limit is tested on real `footfall serve` processes.
    changes.setdefault("loop_lag_limit_seconds", 0.0)
    # Every test client is 127.0.0.1 and many tests send unknown keys on purpose; the key-guessing
    # budget is tested with its own small budget (tests/test_edge.py).
    changes.setdefault("unknown_key_budget", 10_000_000)
    return Settings(**changes)


class ServerThread:
    """A Footfall app served over HTTP from a background thread; `app` is reachable for inspection."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on", access_log=False, http=serving.protocol_for(settings),
                                **serving.uvicorn_options(settings), proxy_headers=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    @property
    def services(self):
        return self.app.state.services

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)


@dataclass(frozen=True)
class TestAccount:
    id: str
    name: str
    public_key: str
    private_key: str


def new_account(database_url: str, name: str) -> TestAccount:
    conn = db.connect(database_url)
    try:
        made = accounts.create_account(conn, name)
    finally:
        conn.close()
    return TestAccount(made.account.id, made.account.name, made.account.public_key, made.private_key)


# Tables an account's writes land in: tests compare these counts before and after a request.
COUNTED = ("events", "profiles", "metrics", "profile_identifiers")


def row_counts(database_url: str, account_id: str) -> dict[str, int]:
    """How many rows of each COUNTED table belong to the account."""
    conn = db.connect(database_url)
    try:
        return {t: conn.one(f"SELECT COUNT(*) FROM {t} WHERE account_id = ?", (account_id,))[0] for t in COUNTED}
    finally:
        conn.close()
