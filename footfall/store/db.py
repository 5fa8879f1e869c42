"""Opening the database a URL names: the SQLite or PostgreSQL connection (store/conn.Conn), and the
start-up check that it can be written.
"""

from __future__ import annotations

from footfall.failures import ReadOnlyStore
from footfall.store.conn import Conn
from footfall.store.url import DatabaseURL


def connect(url: str | DatabaseURL, *, synchronous: str = "FULL", application_name: str = "footfall") -> Conn:
    """A new connection to the database at `url`; raises StoreUnavailable if it cannot be had.
    `application_name` is what PostgreSQL shows for it in pg_stat_activity."""
    parsed = url if isinstance(url, DatabaseURL) else DatabaseURL(url)
    if parsed.backend == "sqlite":
        from footfall.store import sqlite

        return sqlite.connect(parsed, synchronous=synchronous)
    from footfall.store import postgres

    return postgres.connect(parsed, application_name=application_name)


def check_writable(url: str | DatabaseURL) -> None:
    """Raise ReadOnlyStore if a write transaction cannot be started (checked once, at start)."""
    conn = connect(url)
    try:
        if conn.dialect == "postgresql":
            (flag,) = conn.one("SELECT current_setting('transaction_read_only')")
            if flag == "on":
                raise ReadOnlyStore("the PostgreSQL database is read-only (default_transaction_read_only or a standby)")
            conn.rollback()
        else:
            try:
                conn.raw.execute("BEGIN IMMEDIATE")  # takes the write lock: fails on a read-only file
                conn.raw.execute("ROLLBACK")
            except Exception as exc:  # sqlite3.OperationalError: attempt to write a readonly database
                raise ReadOnlyStore(f"the SQLite database cannot be written ({exc})") from None
    finally:
        conn.close()
