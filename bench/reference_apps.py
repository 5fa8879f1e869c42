"""Servers to measure Footfall against: do-nothing ones, and a minimal durable one.

`python -m bench.reference_apps APP PORT [DB]`:
  starlette, bare  answer "1" to any request (after reading the body), through a Starlette route
                   (Footfall's own stack) or as a bare ASGI callable, on uvicorn with the options
                   `footfall serve` passes it;
  granian          answers "1" as a bare RSGI callable on granian (one worker);
  durable          the least a durable legacy track POST needs, on granian's RSGI: the form body's
                   `data` decoded by msgspec, one row for Footfall's `events` table (DDL from
                   footfall/store/schema.py, bench/events_table.py) in SQLite file DB, WAL and
                   synchronous=FULL as Footfall opens it, inserted by a group-commit thread (all rows
                   waiting go in one transaction), answered "1" only after the commit. No identity
                   resolution (profile and metric ids are hashes of the names), no validation beyond
                   the decode. Any other method answers 200 "ok" (the health probe).
"""

from __future__ import annotations

import asyncio
import os
import queue
import sqlite3
import sys
import threading
from typing import Any
from urllib.parse import parse_qs

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench import events_table

DB_ENV = "BENCH_DURABLE_DB"  # the durable handler's SQLite file, for granian's worker process
MAX_GROUP = 1000  # rows per transaction at most
_TEXT = [("content-type", "text/html")]


async def _one(request: Request) -> Response:
    await request.body()
    return Response("1", media_type="text/html")


starlette_app = Starlette(routes=[Route("/{path:path}", _one, methods=["GET", "POST"])])


async def bare_app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/html"), (b"content-length", b"1")]})
    await send({"type": "http.response.body", "body": b"1"})


async def granian_noop(scope, proto) -> None:
    await proto()
    proto.response_str(200, _TEXT, "1")


# -- the minimal durable handler --------------------------------------------------------------------

class Track(msgspec.Struct):
    """The legacy track payload, as far as a stored event needs it."""

    token: str
    event: str
    customer_properties: dict[str, Any] = {}
    properties: dict[str, Any] = {}


_decode_track = msgspec.json.Decoder(Track).decode


def track_row(body: bytes) -> tuple:
    """The events row of a legacy track POST body (`data=<json>`, form-encoded)."""
    track = _decode_track(parse_qs(body.decode())["data"][0])
    props = dict(track.properties)
    unique_id, value = props.pop("$event_id", None), props.pop("$value", None)
    email = str(track.customer_properties.get("$email", ""))
    return events_table.row(events_table.name_id(track.token, 26), track.event, email, unique_id, value, props)


def create_table(path: str) -> None:
    conn = _open(path)
    try:
        for statement in events_table.ddl("sqlite"):
            conn.execute(statement)
    finally:
        conn.close()


def _open(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class GroupCommitThread:
    """Rows queued by the event loop, stored by one thread: whatever waits goes in one transaction,
    and each row's future is settled on the loop once that transaction committed (or failed)."""

    def __init__(self, path: str, loop: asyncio.AbstractEventLoop) -> None:
        self._conn = _open(path)
        self._loop = loop
        self._queue: queue.SimpleQueue[tuple[tuple, asyncio.Future]] = queue.SimpleQueue()
        self._sql = events_table.insert_sql("?")
        threading.Thread(target=self._run, name="group-commit", daemon=True).start()

    def submit(self, row: tuple) -> asyncio.Future:
        future = self._loop.create_future()
        self._queue.put((row, future))
        return future

    def _run(self) -> None:
        while True:
            waiting = [self._queue.get()]
            while len(waiting) < MAX_GROUP:
                try:
                    waiting.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            error = self._commit([r for r, _ in waiting])
            self._loop.call_soon_threadsafe(_settle, [f for _, f in waiting], error)

    def _commit(self, rows: list[tuple]) -> sqlite3.Error | None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(self._sql, rows)
            self._conn.execute("COMMIT")
            return None
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            return exc


def _settle(futures: list[asyncio.Future], error: BaseException | None) -> None:
    for future in futures:
        if future.done():  # the request went away meanwhile
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class DurableHandler:
    """The RSGI application: granian calls __rsgi_init__ in its worker with the worker's loop."""

    def __init__(self) -> None:
        self._committer: GroupCommitThread | None = None

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._committer = GroupCommitThread(os.environ[DB_ENV], loop)

    async def __rsgi__(self, scope, proto) -> None:
        body = await proto()
        if scope.method != "POST":
            proto.response_str(200, _TEXT, "ok")
            return
        try:
            row = track_row(body)
        except (KeyError, UnicodeDecodeError, msgspec.DecodeError):
            proto.response_str(400, _TEXT, "0")
            return
        try:
            await self._committer.submit(row)
        except sqlite3.Error:
            proto.response_str(503, _TEXT, "0")
            return
        proto.response_str(200, _TEXT, "1")


durable_app = DurableHandler()

ASGI_APPS = {"starlette": starlette_app, "bare": bare_app}
RSGI_APPS = {"granian": "granian_noop", "durable": "durable_app"}  # attribute names: granian imports them


def main(argv: list[str]) -> None:
    which, port = argv[0], int(argv[1])
    if which in ASGI_APPS:
        import uvicorn

        # The same options footfall/cli.py `serve` passes to uvicorn.
        uvicorn.run(ASGI_APPS[which], host="127.0.0.1", port=port, log_level="warning", access_log=False,
                    timeout_graceful_shutdown=10)
        return
    if which == "durable":
        os.environ[DB_ENV] = argv[2]
        create_table(argv[2])
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    Granian(f"{__spec__.name}:{RSGI_APPS[which]}", address="127.0.0.1", port=port, interface=Interfaces.RSGI,
            workers=1, log_level=LogLevels.warning).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
