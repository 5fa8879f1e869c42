"""Footfall's `events` table outside Footfall: its DDL generated from footfall/store/schema.py, and rows.

The references that store events without Footfall's code (the minimal durable handler in
bench/reference_apps.py, the plain batched insert ceiling in bench/ceilings.py) create the table from
here, so they pay for the same columns, keys and indexes as Footfall's writer does. Rows are plain
tuples in the table's column order; ids are derived from names (hashes), not looked up: no identity.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import msgspec
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable
from ulid import ULID

from footfall.domain.event_dedup import DEDUP_COLUMNS, dedup_key
from footfall.store.schema import events

COLUMNS: tuple[str, ...] = tuple(c.name for c in events.columns)
_DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}
_json = msgspec.json.Encoder()


def ddl(dialect: str) -> list[str]:
    """CREATE TABLE events and its indexes, as schema.py defines them, for "sqlite" or "postgresql"."""
    d = _DIALECTS[dialect]
    return [str(CreateTable(events).compile(dialect=d))] + [str(CreateIndex(ix).compile(dialect=d))
                                                              for ix in sorted(events.indexes, key=lambda ix: ix.name)]


def insert_sql(placeholder: str) -> str:
    """INSERT of one row that skips a duplicate by Footfall's dedup rule (its unique constraint)."""
    marks = ", ".join([placeholder] * len(COLUMNS))
    return (f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({marks}) "
            f"ON CONFLICT ({', '.join(DEDUP_COLUMNS)}) DO NOTHING")


def name_id(name: str, chars: int) -> str:
    """A stable id of `chars` hex characters for a name (account token, email, metric): no lookup."""
    return hashlib.blake2s(name.encode(), digest_size=chars // 2).hexdigest()


def row(account_id: str, metric: str, email: str, unique_id: str, value: float | None,
        properties: dict[str, Any], at: float | None = None) -> tuple:
    """One event row, every column of schema.events in order (a column added there fails here)."""
    now = time.time() if at is None else at
    values = {
        "account_id": account_id, "id": str(ULID()), "metric_id": name_id(metric, 8),
        "profile_id": name_id(email, 26), "time": int(now), "value": value, "value_currency": None,
        "unique_id": unique_id, "dedup_key": dedup_key(unique_id, int(now)),
        "properties": _json.encode(properties).decode(), "received": now,
    }
    return tuple(values[c] for c in COLUMNS)
