"""`footfall export`'s output: JSON Lines (the default) or CSV, optionally filtered, with progress.

Objects inside a record (properties, consent) are written with their keys sorted:
PostgreSQL's JSONB keeps keys in its own order and SQLite in the order sent, so sorting makes the
same data export to the same bytes on either backend (and after `footfall db copy`).
"""

from __future__ import annotations

import csv
import io
from typing import Any, BinaryIO, Callable, Iterable

import msgspec

from footfall.domain.models import LOCATION_FIELDS, PROFILE_ATTRIBUTES
from footfall.transfer.formats import CSV_PROFILE_COLUMNS, FOOTFALL_EVENT_KEYS

_encode_sorted = msgspec.json.Encoder(order="sorted").encode
_encode = msgspec.json.Encoder().encode
_NESTED = ("properties", "consent")  # location has a fixed key order already


def _canonical(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (msgspec.Raw(_encode_sorted(v)) if k in _NESTED and isinstance(v, dict) else v) for k, v in row.items()}


def write_jsonl(rows: Iterable[dict[str, Any]], stream: BinaryIO, tick: Callable[[int], None]) -> int:
    n = 0
    buffer: list[bytes] = []
    for row in rows:
        buffer.append(_encode(_canonical(row)))
        n += 1
        if len(buffer) >= 1000:
            stream.write(b"\n".join(buffer) + b"\n")
            buffer.clear()
            tick(n)
    if buffer:
        stream.write(b"\n".join(buffer) + b"\n")
    tick(n)
    return n


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return _encode_sorted(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def event_csv_row(row: dict[str, Any]) -> list[str]:
    return [_cell(row[k]) for k in FOOTFALL_EVENT_KEYS]


def profile_csv_row(row: dict[str, Any]) -> list[str]:
    location = row.get("location") or {}
    return [
        *(_cell(row[k]) for k in ("id", "email", "phone_number", "external_id", "anonymous_id", *PROFILE_ATTRIBUTES)),
        *(_cell(location.get(k)) for k in LOCATION_FIELDS),
        _cell(row["properties"]), _cell(row["consent"]), _cell(row["created"]), _cell(row["updated"]),
    ]


def write_csv(kind: str, rows: Iterable[dict[str, Any]], stream: BinaryIO, tick: Callable[[int], None]) -> int:
    """A header row, then one row per record; objects as JSON cells, null as an empty cell."""
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\n")
    header = FOOTFALL_EVENT_KEYS if kind == "events" else CSV_PROFILE_COLUMNS
    writer.writerow(header)
    to_row = event_csv_row if kind == "events" else profile_csv_row
    n = 0
    for row in rows:
        writer.writerow(to_row(row))
        n += 1
        if n % 1000 == 0:
            tick(n)
    tick(n)
    text.flush()
    text.detach()
    return n
