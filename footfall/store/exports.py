"""Whole-account reads for `footfall export`, streamed so memory stays flat."""

from __future__ import annotations

from typing import Any, Iterator

from footfall.domain.models import LOCATION_FIELDS, PROFILE_ATTRIBUTES
from footfall.store.db import Conn
from footfall.timefmt import iso

_FETCH = 1000


def events(conn: Conn, account_id: str) -> Iterator[dict[str, Any]]:
    cur = conn.execute(
        "SELECT e.id, m.name, e.profile_id, e.time, e.value, e.value_currency, e.unique_id, e.properties "
        "FROM events e JOIN metrics m ON m.account_id = e.account_id AND m.id = e.metric_id "
        "WHERE e.account_id = ? ORDER BY e.time, e.id",
        (account_id,),
    )
    while rows := cur.fetchmany(_FETCH):
        for eid, metric, pid, time, value, currency, unique, props in rows:
            yield {
                "id": eid, "metric": metric, "profile_id": pid, "time": iso(time), "timestamp": int(time),
                "value": value, "value_currency": currency, "unique_id": unique,
                "properties": conn.from_json(props),
            }


PROFILE_COLUMNS = ("id", "email", "phone_number", "external_id", "anonymous_id", *PROFILE_ATTRIBUTES,
                   "location", "properties", "consent", "created", "updated")


def profiles(conn: Conn, account_id: str) -> Iterator[dict[str, Any]]:
    cur = conn.execute(
        f"SELECT {', '.join(PROFILE_COLUMNS)} FROM profiles WHERE account_id = ? ORDER BY created, id",
        (account_id,),
    )
    while rows := cur.fetchmany(_FETCH):
        for values in rows:
            yield profile_line(conn, dict(zip(PROFILE_COLUMNS, values)))


def profile_line(conn: Conn, row: dict[str, Any]) -> dict[str, Any]:
    location = conn.from_json(row["location"]) or {}
    return {
        **{k: row[k] for k in PROFILE_COLUMNS[:5]},
        **{k: row[k] for k in PROFILE_ATTRIBUTES},
        "location": {k: location.get(k) for k in LOCATION_FIELDS},
        "properties": conn.from_json(row["properties"]) or {},
        "consent": conn.from_json(row["consent"]) or {},
        "created": iso(row["created"]),
        "updated": iso(row["updated"]),
    }
