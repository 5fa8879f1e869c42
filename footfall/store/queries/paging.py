"""Keyset (cursor) pagination, stable under inserts: a page starts strictly after a sort key.

A position is the JSON list [direction, sort name, key values…]: direction "n" means the items
after that key in sort order, "p" the items before it. The wire layer encodes positions as opaque
cursors; here they are only checked and turned into WHERE / ORDER BY clauses. The last key column
is always the row's unique id, so no two rows share a key and nothing is skipped or repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import literal, tuple_
from sqlalchemy.sql import ColumnElement, Select

from footfall.refusals import InvalidInput
from footfall.store.conn import Conn
from footfall.store.sqlalchemy_statements import rows as run_rows

CURSOR = "page[cursor]"
_MAX_TEXT = 1024          # a forged cursor must not reach SQL with values the backends refuse
_MAX_NUMBER = 2.0 ** 62


@dataclass(frozen=True)
class SortKey:
    """One allowed sort: its name as the API spells it (`-created`), key columns, their types."""

    name: str
    columns: tuple[ColumnElement[Any], ...]
    kinds: tuple[type, ...]          # str or float per column, to check cursor values
    descending: bool = False


@dataclass(frozen=True)
class Window:
    size: int
    position: list[Any] | None = None


@dataclass
class Slice:
    rows: list[dict[str, Any]]
    next: list[Any] | None       # position of the page after, if there is one
    prev: list[Any] | None       # position of the page before, if there is one


def fetch(conn: Conn, stmt: Select[Any], key: SortKey, window: Window) -> Slice:
    """One page of `stmt` in `key` order, from `window.position` on."""
    backwards = False
    if window.position is not None:
        direction, values = _check(window.position, key)
        backwards = direction == "p"
        stmt = stmt.where(_beyond(key, values, after=not backwards))
    labelled = [col.label(f"_k{i}") for i, col in enumerate(key.columns)]
    ascending = key.descending == backwards
    order = [col.asc() if ascending else col.desc() for col in key.columns]
    found = run_rows(conn, stmt.add_columns(*labelled).order_by(*order).limit(window.size + 1))
    more = len(found) > window.size
    found = found[:window.size]
    if backwards:
        found.reverse()
    keys = [[row.pop(f"_k{i}") for i in range(len(key.columns))] for row in found]
    first = keys[0] if keys else None
    last = keys[-1] if keys else None
    if window.position is None:
        return Slice(found, _pos("n", key, last) if more else None, None)
    at = window.position[2:]
    if backwards:
        return Slice(found, _pos("n", key, last or at), _pos("p", key, first) if more else None)
    return Slice(found, _pos("n", key, last) if more else None, _pos("p", key, first or at))


def _pos(direction: str, key: SortKey, values: Sequence[Any] | None) -> list[Any] | None:
    if values is None:
        return None
    return [direction, key.name, *[_plain(v) for v in values]]


def _plain(value: Any) -> Any:
    """Key values as JSON keeps them exactly (floats round-trip; Decimal and the like do not)."""
    if isinstance(value, (str, float, int)) and not isinstance(value, bool):
        return value
    return float(value)


def _check(position: list[Any], key: SortKey) -> tuple[str, list[Any]]:
    if len(position) != 2 + len(key.columns) or position[0] not in ("n", "p") or not isinstance(position[1], str):
        raise InvalidInput("is not a cursor this server issued", CURSOR)
    if position[1] != key.name:
        raise InvalidInput(f"was issued for sort={position[1]}, not sort={key.name}; "
                           "keep the sort when following links", CURSOR)
    values = position[2:]
    for value, kind in zip(values, key.kinds):
        ok = (isinstance(value, str) and "\0" not in value and len(value) <= _MAX_TEXT) if kind is str else (
            isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= _MAX_NUMBER)
        if not ok:
            raise InvalidInput("is not a cursor this server issued", CURSOR)
    return position[0], values


def _beyond(key: SortKey, values: list[Any], *, after: bool) -> ColumnElement[bool]:
    """Rows strictly after (or before) `values` in the key's order: a row-value comparison, which
    both backends evaluate lexicographically and PostgreSQL can start an index scan from."""
    forward = after != key.descending
    # Values are bound with their column's type: an untyped float would be cast to INTEGER on PostgreSQL.
    row, at = tuple_(*key.columns), tuple_(*[literal(v, col.type) for col, v in zip(key.columns, values)])
    return row > at if forward else row < at
