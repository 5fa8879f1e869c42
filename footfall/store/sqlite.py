"""SQLite specifics: WAL, a busy timeout, and which errors mean "try again later"."""

from __future__ import annotations

import sqlite3

from footfall.store.conn import Conn
from footfall.refusals import StoreUnavailable
from footfall.store.url import DatabaseURL

_TRANSIENT = ("locked", "busy", "disk i/o", "unable to open", "readonly")


def connect(url: DatabaseURL, *, synchronous: str = "FULL") -> Conn:
    try:
        raw = sqlite3.connect(url.sqlite_path, isolation_level=None, check_same_thread=False, timeout=10)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute(f"PRAGMA synchronous={_pragma_word(synchronous)}")
        raw.execute("PRAGMA busy_timeout=10000")
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open SQLite database {url.sqlite_path}: {exc}") from exc
    return Conn(raw, "sqlite", is_unavailable=is_unavailable, begin_sql="BEGIN IMMEDIATE")


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and any(w in str(exc).lower() for w in _TRANSIENT)


def _pragma_word(value: str) -> str:
    word = value.upper()
    if word not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError(f"sqlite synchronous must be OFF, NORMAL, FULL or EXTRA, not {value!r}")
    return word
