"""PostgreSQL specifics: psycopg 3 connections and which errors mean "try again later"."""

from __future__ import annotations

import msgspec
import psycopg
from psycopg.types.json import set_json_loads

from footfall.store.conn import Conn
from footfall.refusals import StoreUnavailable
from footfall.store.url import DatabaseURL


_json_decode = msgspec.json.Decoder().decode


def connect(url: DatabaseURL, *, application_name: str = "footfall", autocommit: bool = False,
            durable: bool = True) -> Conn:
    """autocommit and durable: store/db.connect. In autocommit mode begin() sends BEGIN (else the first
    statement starts a transaction by itself)."""
    try:
        raw = psycopg.connect(url.libpq, autocommit=autocommit, connect_timeout=3, application_name=application_name)
        if not durable:  # for the session, whatever the URL's options say
            raw.execute("SET synchronous_commit = off")
            raw.commit()
    except psycopg.Error as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL at {url.redacted()}: {exc}") from exc
    # jsonb columns read with msgspec, as SQLite's JSON text is (Conn.from_json): the same values,
    # in about half of the standard library's time (a profile row has three such columns).
    set_json_loads(_json_decode, raw)
    return Conn(raw, "postgresql", is_unavailable=is_unavailable, begin_sql="BEGIN" if autocommit else "")


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return True
    return isinstance(exc, psycopg.errors.AdminShutdown) or getattr(exc, "sqlstate", "") in {
        "57P01", "57P02", "57P03", "08000", "08003", "08006", "53300",
    }
