"""Reading metrics: GET /api/metrics and /api/metrics/{id}, scoped to one account."""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.sql import ColumnElement

from footfall.store.conn import Conn
from footfall.store.queries import Criterion
from footfall.store.queries.paging import Slice, SortKey, Window, fetch
from footfall.store.sqlalchemy_statements import first, rows
from footfall.store.schema import metrics

m = metrics.c
_COLUMNS = (m.id, m.name, m.integration, m.created, m.updated)
SORT = SortKey("created", (m.created, m.id), (float, str))


def page(conn: Conn, account_id: str, filters: Iterable[Criterion], window: Window) -> Slice:
    stmt = select(*_COLUMNS).where(m.account_id == account_id, *[_clause(f) for f in filters])
    return fetch(conn, stmt, SORT, window)


def one(conn: Conn, account_id: str, metric_id: str) -> dict[str, Any] | None:
    return first(conn, select(*_COLUMNS).where(m.account_id == account_id, m.id == metric_id))


def by_ids(conn: Conn, account_id: str, metric_ids: Iterable[str]) -> list[dict[str, Any]]:
    wanted = sorted(set(metric_ids))
    if not wanted:
        return []
    return rows(conn, select(*_COLUMNS).where(m.account_id == account_id, m.id.in_(wanted)).order_by(m.id))


def _clause(cond: Criterion) -> ColumnElement[bool]:
    # Footfall records one integration per metric; it renders as both its name and its category.
    if cond.field in ("integration.name", "integration.category"):
        return m.integration == cond.value
    raise ValueError(f"no SQL for metric filter {cond.field}")  # the whitelist stops this earlier
