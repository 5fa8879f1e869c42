"""Run a SQLAlchemy Core statement on a footfall Conn (either backend) and get dict rows back."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Executable

from footfall.store.db import Conn

_DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.psycopg.dialect()}


def rows(conn: Conn, stmt: Executable) -> list[dict[str, Any]]:
    compiled = stmt.compile(dialect=_DIALECTS[conn.dialect], compile_kwargs={"render_postcompile": True})
    params = compiled.params
    args: Any = [params[name] for name in compiled.positiontup] if compiled.positional else params
    cur = conn.raw.cursor()
    cur.execute(str(compiled), args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, values)) for values in cur.fetchall()]


def first(conn: Conn, stmt: Executable) -> dict[str, Any] | None:
    found = rows(conn, stmt)
    return found[0] if found else None
