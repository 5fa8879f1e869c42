"""One group commit against the store, and what its failures mean to the pipeline.

The pipeline decides what to commit and when; a committer does the database part: hold the write
connection, run a batch in one transaction, and say whether a failure means "the store is down"
(StoreDown: reconnect and retry later) or "the store refused this batch" (CommitFailed: a bug,
logged). LocalCommitter does it in the calling thread; footfall/ingest/writer_process.py runs a
LocalCommitter in a process of its own and speaks to it through a socket.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Protocol

from footfall.store.conn import Conn
from footfall.failures import CommitFailed, StoreDown

log = logging.getLogger("footfall.ingest")

Applier = Callable[[Conn, list[Any]], list[Any]]


class Committer(Protocol):
    @property
    def connected(self) -> bool: ...

    @property
    def pid(self) -> int | None:
        """The process the commits run in."""

    def connect(self) -> None:
        """Open the write connection; raises StoreUnavailable if it cannot be had."""

    def commit(self, ops: list[Any]) -> list[Any]:
        """Apply ops in one transaction; a result or the refusing exception per op, in order."""

    def close(self) -> None: ...


class LocalCommitter:
    """Commits on a connection of its own, in the calling thread."""

    def __init__(self, connect: Callable[[], Conn], apply: Applier) -> None:
        self._connect = connect
        self._apply = apply
        self._conn: Conn | None = None

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def pid(self) -> int:
        return os.getpid()

    def connect(self) -> None:
        if self._conn is None:
            self._conn = self._connect()

    def commit(self, ops: list[Any]) -> list[Any]:
        conn = self._conn
        if conn is None:
            raise StoreDown("no connection to the store")
        try:
            conn.begin()
            results = self._apply(conn, ops)
            conn.commit()
        except Exception as exc:
            conn.rollback()
            # After any failure the connection's state is unknown: the next batch gets a fresh one.
            self.close()
            reason = f"{type(exc).__name__}: {exc}"
            if conn.is_unavailable(exc):
                raise StoreDown(reason) from exc
            log.exception("group commit failed")
            raise CommitFailed(reason) from exc
        return results

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
