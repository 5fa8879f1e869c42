"""Opening the database a URL names: the SQLite or PostgreSQL connection (store/conn.Conn), and the
start-up check that it can be written.
"""

from __future__ import annotations

from footfall.failures import ReadOnlyStore
from footfall.store.conn import Conn
from footfall.store.url import DatabaseURL


def connect(url: str | DatabaseURL, *, synchronous: str = "FULL", application_name: str = "footfall",
            autocommit: bool = False, durable: bool = True) -> Conn:
    """A new connection to the database at `url`; raises StoreUnavailable if it cannot be had.
    `application_name` is what PostgreSQL shows for it in pg_stat_activity.

    autocommit: on PostgreSQL a statement outside begin() .. commit() runs on its own (its own
    snapshot), so a read costs no BEGIN and ROLLBACK round trips; SQLite connections always work so.
    durable=False: a commit survives this process's crash but not the database server's or the
    machine's (PostgreSQL synchronous_commit off, SQLite synchronous NORMAL): no flush to disk per
    commit. Only for writes whose loss is made good by doing them again (the deliverer's records:
    a lost one sends its messages again, under the same ids)."""
    parsed = url if isinstance(url, DatabaseURL) else DatabaseURL(url)
    if parsed.backend == "sqlite":
        from footfall.store import sqlite

        return sqlite.connect(parsed, synchronous=synchronous if durable or synchronous.upper() == "OFF" else "NORMAL")
    from footfall.store import postgres

    return postgres.connect(parsed, application_name=application_name, autocommit=autocommit, durable=durable)


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
