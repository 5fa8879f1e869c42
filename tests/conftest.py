"""Fixtures: a database and a running server for each backend (SQLite and PostgreSQL).

Every test that takes `server` runs twice, once per backend. PostgreSQL tests use a real server
(FOOTFALL_TEST_PG, default postgresql://postgres@127.0.0.1:5432/postgres); without one they skip
with a notice locally and fail in CI (CI=true).
"""

from __future__ import annotations

import os
import uuid
from typing import Iterator

import httpx
import psycopg
import pytest

# pytest-xdist workers inherit COLUMNS=80, and Rich fixes a Console's width when it is made (footfall.cli
# makes its own at import): without this, CLI tables in tests wrap at 80 columns under `make test` only.
os.environ.pop("COLUMNS", None)

from footfall.domain.limits import Limits
from footfall.store import batch, db, exports, migrate
from tests.servers import ServerThread, TestAccount, new_account, server_settings

pytest_plugins = ["tests.browser"]

PG_ADMIN = os.environ.get("FOOTFALL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgres"]


def pytest_ignore_collect(collection_path, config):
    """`pytest -m serial` (make test's second part) does not import test files that never say `serial`:
    none of their tests can carry the mark, and collecting them all costs ~40 s (tests/test_fuzz_openapi.py
    builds schemathesis's coverage cases when it is collected). Any other selection collects everything."""
    if (config.getoption("markexpr", "") or "").strip() != "serial":
        return None
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        if "serial" not in collection_path.read_text(encoding="utf-8").lower():
            return True
    return None


def _pg_unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI but unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable ({reason}); PostgreSQL tests skipped")


def create_pg_database(prefix: str = "footfall_test") -> str:
    """A new, empty PostgreSQL database (no schema); the caller drops it with drop_pg_database."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        _pg_unavailable(str(exc).strip())
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def make_pg_database() -> str:
    """A new, migrated PostgreSQL database; the caller drops it with drop_pg_database."""
    url = create_pg_database()
    migrate.upgrade(url)
    return url


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def commit_ops(url: str, ops: list) -> list:
    """ops in one transaction through store/batch.apply_batch, as the writer commits a group."""
    conn = db.connect(url)
    try:
        conn.begin()
        results = batch.apply_batch(conn, ops, Limits())
        conn.commit()
        return results
    finally:
        conn.close()


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    conn = db.connect(url)
    try:
        return conn.all(sql, params)
    finally:
        conn.close()


def make_sqlite_database(directory) -> str:
    url = f"sqlite:///{directory}/footfall-{uuid.uuid4().hex[:8]}.db"
    migrate.upgrade(url)
    return url


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path) -> Iterator[str]:
    """A database with no schema at all, on each backend (for migrations and first starts)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    url = create_pg_database("footfall_empty")
    yield url
    drop_pg_database(url)


@pytest.fixture(params=BACKENDS)
def own_database(request, tmp_path) -> Iterator[str]:
    """A migrated database of the test's own, on each backend: no other test's server reads or writes
    it (every server on a database delivers its webhooks, for one)."""
    if request.param == "sqlite":
        yield make_sqlite_database(tmp_path)
        return
    url = make_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    """A migrated database on each backend, shared by the session (tests isolate by account)."""
    if request.param == "sqlite":
        yield make_sqlite_database(tmp_path_factory.mktemp("sqlite"))
    else:
        url = make_pg_database()
        yield url
        drop_pg_database(url)


@pytest.fixture(scope="session")
def server(database_url) -> Iterator[ServerThread]:
    # Limits on (headers are sent) but far above what any test sends; tests/test_ratelimit.py tests them.
    srv = ServerThread(server_settings(database_url=database_url)).start()
    yield srv
    srv.stop()


@pytest.fixture
def account(database_url, request) -> TestAccount:
    """A fresh account per test: accounts never see each other's data, so tests cannot collide."""
    return new_account(database_url, f"{request.node.name[:60]}-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


class Stored:
    """What the store holds for one account, read the way `footfall export` reads it."""

    def __init__(self, database_url: str, account: TestAccount) -> None:
        self.database_url = database_url
        self.account = account

    def events(self) -> list[dict]:
        conn = db.connect(self.database_url)
        try:
            return list(exports.events(conn, self.account.id))
        finally:
            conn.close()

    def profiles(self) -> list[dict]:
        conn = db.connect(self.database_url)
        try:
            return list(exports.profiles(conn, self.account.id))
        finally:
            conn.close()


@pytest.fixture
def stored(database_url, account) -> Stored:
    return Stored(database_url, account)
