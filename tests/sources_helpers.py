"""Helpers for the Segment-spec and PostHog tests: a write key made with the CLI, and what
`footfall export` reads back, both run in this process (Typer's runner: the same code as the command)."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from typer.testing import CliRunner

from footfall import cli
from footfall.store import db, exports, keys
from tests.servers import TestAccount


def footfall(*args: str) -> str:
    result = CliRunner().invoke(cli.app, list(args), env={"FOOTFALL_DATABASE_URL": None, "COLUMNS": "200"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.stdout


def write_key(database_url: str, account: TestAccount) -> dict[str, Any]:
    """`footfall keys create --account PUBLIC --kind write --json`: {id, name, kind, scopes, key}."""
    made = json.loads(footfall("keys", "create", "--account", account.public_key, "--kind", "write", "--json",
                               "--database", database_url))
    assert made["kind"] == "write" and made["key"], made
    return made


def made_write_key(database_url: str, account: TestAccount) -> dict[str, Any]:
    """A write key made by the store function the command calls, without the command's start-up (for
    the many small tests; the SDK tests use the command itself)."""
    conn = db.connect(database_url)
    try:
        return keys.create_key(conn, account.id, "test source", kind="write").as_created()
    finally:
        conn.close()


def rows(database_url: str, account: TestAccount, kind: str) -> list[dict[str, Any]]:
    """What `footfall export` would print, read with the same store functions, in this process."""
    conn = db.connect(database_url)
    try:
        return list(exports.events(conn, account.id) if kind == "events" else exports.profiles(conn, account.id))
    finally:
        conn.close()


def export(database_url: str, account: TestAccount, kind: str) -> list[dict[str, Any]]:
    """`footfall export events|profiles --account PUBLIC` as a list of rows."""
    out = footfall("export", kind, "--account", account.public_key, "--database", database_url)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_for(read: Callable[[], Any], ready: Callable[[Any], bool], timeout: float = 20.0) -> Any:
    """Poll read() until ready(value); SDKs send from background threads."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ready(value):
            return value
        assert time.monotonic() < deadline, f"not reached in {timeout}s: {value!r}"
        time.sleep(0.05)


def by_metric(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        out.setdefault(event["metric"], []).append(event)
    return out
