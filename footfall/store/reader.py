"""Connections for reads, off the writer's path: one per thread on SQLite, a pool on PostgreSQL."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from footfall.store.db import connect
from footfall.store.conn import Conn
from footfall.refusals import StoreUnavailable
from footfall.store.url import DatabaseURL


class Readers:
    def __init__(self, url: str, *, synchronous: str = "FULL") -> None:
        self.url = DatabaseURL(url)
        self._synchronous = synchronous
        self._local = threading.local()
        self._all: list[Conn] = []
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[Conn]:
        """A connection for this thread; its read transaction is ended on the way out."""
        conn: Conn | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.url, synchronous=self._synchronous)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        try:
            yield conn
        except Exception as exc:
            if conn.is_unavailable(exc):  # a broken connection is dropped, a fresh one made next time
                self._local.conn = None
                conn.close()
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
            raise
        finally:
            conn.rollback()

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
