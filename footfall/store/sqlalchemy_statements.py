"""The one runner of SQLAlchemy Core statements on a Footfall Conn: compiled for its dialect, executed raw.

Query builders (the read queries of store/queries/, the segment compiler) produce dialect-correct SQL
this way without an Engine: `execute` gives the cursor, `rows` / `first` dict rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ClauseElement, Executable

from footfall.store.conn import Conn

_DIALECTS = {"sqlite": sqlite.dialect(paramstyle="qmark"), "postgresql": postgresql.psycopg.dialect()}


def compile_sql(stmt: ClauseElement | Executable, dialect: str) -> tuple[str, Any]:
    """SQL text and parameters in the driver's style (a list for SQLite, a dict for psycopg)."""
    compiled = stmt.compile(dialect=_DIALECTS[dialect], compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positiontup is not None:
        return str(compiled), [params[name] for name in compiled.positiontup]
    return str(compiled), params


def execute(conn: Conn, stmt: ClauseElement | Executable) -> Any:
    sql, params = compile_sql(stmt, conn.dialect)
    cur = conn.raw.cursor()
    cur.execute(sql, params)
    return cur


def rows(conn: Conn, stmt: Executable) -> list[dict[str, Any]]:
    cur = execute(conn, stmt)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, values)) for values in cur.fetchall()]


def first(conn: Conn, stmt: Executable) -> dict[str, Any] | None:
    found = rows(conn, stmt)
    return found[0] if found else None
