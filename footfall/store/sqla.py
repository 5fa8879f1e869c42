"""Run SQLAlchemy Core statements on a Footfall Conn: compiled once for its dialect, executed raw.

Query builders (the segment compiler) produce dialect-correct SQL this way without an Engine.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ClauseElement

from footfall.store.db import Conn

_DIALECTS = {"sqlite": sqlite.dialect(paramstyle="qmark"), "postgresql": postgresql.psycopg.dialect()}


def compile_sql(stmt: ClauseElement, dialect: str) -> tuple[str, Any]:
    """SQL text and parameters in the driver's style (a list for SQLite, a dict for psycopg)."""
    compiled = stmt.compile(dialect=_DIALECTS[dialect], compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positiontup is not None:
        return str(compiled), [params[name] for name in compiled.positiontup]
    return str(compiled), params


def execute(conn: Conn, stmt: ClauseElement) -> Any:
    sql, params = compile_sql(stmt, conn.dialect)
    cur = conn.raw.cursor()
    cur.execute(sql, params)
    return cur
