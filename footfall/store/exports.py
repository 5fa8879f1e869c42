"""Whole-account reads for `footfall export`, streamed so memory stays flat."""

from __future__ import annotations

from typing import Any, Iterator

from footfall.domain.event_dedup import dedup_key
from footfall.domain.models import LOCATION_FIELDS, PROFILE_ATTRIBUTES
from footfall.store.conn import Conn
from footfall.timefmt import iso

_FETCH = 1000


def _event_filter(account_id: str, metrics: list[str] | None, since: float | None,
                  until: float | None) -> tuple[str, list[Any]]:
    """WHERE of an events export: the account, optionally some metrics (by name) and [since, until)."""
    where, params = "e.account_id = ?", [account_id]
    if metrics:
        where += f" AND m.name IN ({', '.join('?' for _ in metrics)})"
        params += list(metrics)
    if since is not None:
        where += " AND e.time >= ?"
        params.append(int(since) if float(since).is_integer() else since)
    if until is not None:
        where += " AND e.time < ?"
        params.append(int(until) if float(until).is_integer() else until)
    return where, params


def events(conn: Conn, account_id: str, *, metrics: list[str] | None = None, since: float | None = None,
           until: float | None = None) -> Iterator[dict[str, Any]]:
    where, params = _event_filter(account_id, metrics, since, until)
    cur = conn.execute(
        "SELECT e.id, m.name, e.profile_id, e.time, e.value, e.value_currency, e.unique_id, e.properties, e.dedup_key "
        "FROM events e JOIN metrics m ON m.account_id = e.account_id AND m.id = e.metric_id "
        f"WHERE {where} ORDER BY e.time, e.id",
        params,
    )
    while rows := cur.fetchmany(_FETCH):
        for eid, metric, pid, time, value, currency, unique, props, key in rows:
            record = {
                "id": eid, "metric": metric, "profile_id": pid, "time": iso(time), "timestamp": int(time),
                "value": value, "value_currency": currency, "unique_id": unique,
                "properties": conn.from_json(props),
            }
            if key != dedup_key(unique, int(time)):  # keyed by full timestamp: not derivable, so carried
                record["dedup_key"] = key
            yield record


def count_events(conn: Conn, account_id: str, *, metrics: list[str] | None = None, since: float | None = None,
                 until: float | None = None) -> int:
    where, params = _event_filter(account_id, metrics, since, until)
    (n,) = conn.one("SELECT COUNT(*) FROM events e JOIN metrics m ON m.account_id = e.account_id "
                    f"AND m.id = e.metric_id WHERE {where}", params)
    return int(n)


def count_profiles(conn: Conn, account_id: str) -> int:
    (n,) = conn.one("SELECT COUNT(*) FROM profiles WHERE account_id = ?", (account_id,))
    return int(n)


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
