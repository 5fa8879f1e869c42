"""Reading events: GET /api/events and /api/events/{id}, scoped to one account."""

from __future__ import annotations

import math
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.sql import ColumnElement

from footfall.store.conn import Conn
from footfall.store.queries import Criterion
from footfall.store.queries.paging import Slice, SortKey, Window, fetch
from footfall.store.sqlalchemy_statements import first
from footfall.store.schema import events, profile_merges

e = events.c
_COLUMNS = (e.id, e.metric_id, e.profile_id, e.time, e.value, e.value_currency, e.unique_id, e.properties)

SORTS: dict[str, SortKey] = {}
for _name in ("datetime", "timestamp"):
    SORTS[_name] = SortKey(_name, (e.time, e.id), (float, str))
    SORTS["-" + _name] = SortKey("-" + _name, (e.time, e.id), (float, str), descending=True)

# `time` is whole seconds; a fractional bound is turned into the equivalent whole one, so the
# comparison stays on integers (PostgreSQL would otherwise round the bound when binding it).
_COMPARE = {
    "greater-than": lambda col, v: col > math.floor(v),
    "greater-or-equal": lambda col, v: col >= math.ceil(v),
    "less-than": lambda col, v: col < math.ceil(v),
    "less-or-equal": lambda col, v: col <= math.floor(v),
}


def page(conn: Conn, account_id: str, filters: Iterable[Criterion], sort: str, window: Window) -> Slice:
    stmt = select(*_COLUMNS).where(e.account_id == account_id, *[_clause(account_id, f) for f in filters])
    result = fetch(conn, stmt, SORTS[sort], window)
    result.rows = [_decoded(conn, row) for row in result.rows]
    return result


def one(conn: Conn, account_id: str, event_id: str) -> dict[str, Any] | None:
    row = first(conn, select(*_COLUMNS).where(e.account_id == account_id, e.id == event_id))
    return _decoded(conn, row) if row else None


def _clause(account_id: str, cond: Criterion) -> ColumnElement[bool]:
    if cond.field == "metric_id":
        return e.metric_id == cond.value
    if cond.field == "profile_id":
        # An id merged into another profile still finds the events that moved with it.
        merged = (select(profile_merges.c.new_id)
                  .where(profile_merges.c.account_id == account_id, profile_merges.c.old_id == cond.value)
                  .scalar_subquery())
        return e.profile_id == func.coalesce(merged, cond.value)
    if cond.field == "datetime":
        return _COMPARE[cond.operator](e.time, cond.value.timestamp())
    if cond.field == "timestamp":
        return _COMPARE[cond.operator](e.time, cond.value)
    if cond.field in ("profile", "metric"):  # has(): every event has both
        return e.id.is_not(None)
    raise ValueError(f"no SQL for event filter {cond.field}")  # the whitelist stops this earlier


def _decoded(conn: Conn, row: dict[str, Any]) -> dict[str, Any]:
    row["properties"] = conn.from_json(row["properties"]) or {}
    return row
