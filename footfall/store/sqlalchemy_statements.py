"""The one runner of SQLAlchemy Core statements on a Footfall Conn: compiled for its dialect, executed raw.

Query builders (the read queries of store/queries/, the segment compiler) produce dialect-correct SQL
this way without an Engine: `execute` gives the cursor, `rows` / `first` dict rows.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

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
    return _dict_rows(execute(conn, stmt))


def _dict_rows(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, values)) for values in cur.fetchall()]


def first(conn: Conn, stmt: Executable) -> dict[str, Any] | None:
    found = rows(conn, stmt)
    return found[0] if found else None


class Prepared:
    """A statement compiled once, run many times with new values for its named bind parameters
    (compiling costs 0.5 ms on SQLite, 2 ms on PostgreSQL, more than most of the queries it builds).
    The shape must not depend on the values: an IN list is a bindparam per element (see `shaped`)."""

    def __init__(self, stmt: Executable) -> None:
        self._stmt = stmt
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def sql(self, dialect: str) -> tuple[str, tuple[str, ...] | None]:
        """SQL text, and for positional drivers (SQLite) the parameter names in order."""
        found = self._compiled.get(dialect)
        if found is None:
            compiled = self._stmt.compile(dialect=_DIALECTS[dialect])
            order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
            found = self._compiled[dialect] = (str(compiled), order)
        return found

    def rows(self, conn: Conn, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        sql, order = self.sql(conn.dialect)
        cur = conn.raw.cursor()
        cur.execute(sql, [values[name] for name in order] if order is not None else dict(values))
        return _dict_rows(cur)


def shaped(build: Callable[[int], Executable], maximum: int) -> Callable[[int], Prepared]:
    """Prepared statements by size, for a query with an IN list of n values: build(n) makes the
    statement for n (bindparams named by position); each size is compiled once, up to `maximum`."""
    cache: dict[int, Prepared] = {}

    def for_size(n: int) -> Prepared:
        if n > maximum:
            return Prepared(build(n))
        prepared = cache.get(n)
        if prepared is None:
            prepared = cache[n] = Prepared(build(n))
        return prepared

    return for_size
