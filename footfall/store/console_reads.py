"""Reads only the console needs (totals, the live feed, metric summaries, membership history).

Everything the JSON:API also answers (events, profiles, aggregates, members, segment evaluation) the
console reads through the same modules as the API; what is here has no API twin. Every query is
scoped to one account and runs on an index: events by (account, id) for the feed (ids are ULIDs, so
id order is arrival order), by (account, metric, time) for the latest time; counts come from the
metric rollups (store/aggregates.count_between), the events only for the minutes at a range's edge.
"""

from __future__ import annotations

from typing import Any, Sequence

from footfall.store import aggregates
from footfall.store.conn import Conn

FEED_LIMIT = 20


def event_count_since(conn: Conn, account_id: str, since: float) -> int:
    """Events at or after `since` (whole seconds, as event times are), mostly from the metric rollups."""
    return aggregates.count_between(conn, account_id, -(-since // 1))


def profile_count_since(conn: Conn, account_id: str, since: float) -> int:
    (n,) = conn.one("SELECT COUNT(*) FROM profiles WHERE account_id = ? AND created >= ?", (account_id, since))
    return int(n)


def stored_events_total(conn: Conn, account_id: str) -> int:
    """The running count of events stored (the counters table), for the live ingest rate."""
    row = conn.one("SELECT value FROM counters WHERE account_id = ? AND name = 'events_stored'", (account_id,))
    return int(row[0]) if row else 0


def latest_events(conn: Conn, account_id: str, *, after_id: str | None = None, metric_id: str | None = None,
                  limit: int = FEED_LIMIT) -> list[dict[str, Any]]:
    """The newest events (arrival order, newest first) with their metric name and the person's email."""
    where = ["e.account_id = ?"]
    params: list[Any] = [account_id]
    if after_id:
        where.append("e.id > ?")
        params.append(after_id)
    if metric_id:
        where.append("e.metric_id = ?")
        params.append(metric_id)
    rows = conn.all(
        "SELECT e.id, e.time, e.received, e.value, e.metric_id, m.name, e.profile_id, p.email, e.properties "
        "FROM events e JOIN metrics m ON m.account_id = e.account_id AND m.id = e.metric_id "
        "LEFT JOIN profiles p ON p.account_id = e.account_id AND p.id = e.profile_id "
        f"WHERE {' AND '.join(where)} ORDER BY e.id DESC LIMIT ?",
        [*params, limit],
    )
    keys = ("id", "time", "received", "value", "metric_id", "metric", "profile_id", "email", "properties")
    out = []
    for r in rows:
        row = dict(zip(keys, r))
        row["properties"] = conn.from_json(row["properties"]) or {}
        out.append(row)
    return out


def metric_summaries(conn: Conn, account_id: str) -> list[dict[str, Any]]:
    """Every metric with its event count (the rollups) and the time of its latest event (one index probe each)."""
    metrics = conn.all("SELECT id, name, integration, created FROM metrics WHERE account_id = ? ORDER BY name, id",
                       (account_id,))
    counts = aggregates.metric_totals(conn, account_id)
    out = []
    for mid, name, integration, created in metrics:
        (last,) = conn.one("SELECT MAX(time) FROM events WHERE account_id = ? AND metric_id = ?", (account_id, mid))
        out.append({"id": mid, "name": name, "integration": integration, "created": created,
                    "count": counts.get(mid, 0), "last_seen": last})
    return out


def metric_row(conn: Conn, account_id: str, metric_id: str) -> dict[str, Any] | None:
    row = conn.one("SELECT id, name, integration, created FROM metrics WHERE account_id = ? AND id = ?",
                   (account_id, metric_id))
    return dict(zip(("id", "name", "integration", "created"), row)) if row else None


def event_property_names(conn: Conn, account_id: str, metric_id: str, sample: int = 200) -> list[str]:
    """Property names seen on the metric's latest events (the breakdown picker's choices)."""
    rows = conn.all("SELECT properties FROM events WHERE account_id = ? AND metric_id = ? ORDER BY time DESC LIMIT ?",
                    (account_id, metric_id, sample))
    names: set[str] = set()
    for (props,) in rows:
        value = conn.from_json(props) or {}
        names.update(k for k in value if isinstance(k, str) and '"' not in k and len(k) <= 255)
    return sorted(names)


def identifiers(conn: Conn, account_id: str, profile_id: str) -> list[tuple[str, str]]:
    return conn.all("SELECT kind, value FROM profile_identifiers WHERE account_id = ? AND profile_id = ? "
                    "ORDER BY kind, value", (account_id, profile_id))


def merges_into(conn: Conn, account_id: str, profile_id: str) -> list[tuple[str, float]]:
    """(old id, when) of the profiles merged into this one."""
    return conn.all("SELECT old_id, merged FROM profile_merges WHERE account_id = ? AND new_id = ? ORDER BY merged",
                    (account_id, profile_id))


def memberships(conn: Conn, account_id: str, profile_id: str) -> list[dict[str, Any]]:
    """The segments and lists the profile is in now, with the time it joined each."""
    rows = conn.all(
        "SELECT m.group_id, m.joined_at, s.name, l.name FROM group_members m "
        "LEFT JOIN segments s ON s.account_id = m.account_id AND s.id = m.group_id "
        "LEFT JOIN lists l ON l.account_id = m.account_id AND l.id = m.group_id "
        "WHERE m.account_id = ? AND m.profile_id = ? AND m.left_at IS NULL ORDER BY m.joined_at",
        (account_id, profile_id))
    return [{"id": gid, "joined_at": joined, "kind": "segment" if sname is not None else "list",
             "name": sname if sname is not None else lname} for gid, joined, sname, lname in rows
            if sname is not None or lname is not None]


def membership_days(conn: Conn, account_id: str, group_id: str, first_day: int, days: int) -> dict[str, list[int]]:
    """Per UTC day (day numbers first_day … first_day+days-1): joins, leaves and the size at the day's end.

    From the membership rows: each row is a profile's latest joining (and leaving, if it left), so
    size at t = rows joined by t − rows left by t (a row leaves only after it joined).
    """
    start, end = first_day * 86400, (first_day + days) * 86400
    (joined_before,) = conn.one("SELECT COUNT(*) FROM group_members WHERE account_id = ? AND group_id = ? "
                                "AND joined_at < ?", (account_id, group_id, start))
    (left_before,) = conn.one("SELECT COUNT(*) FROM group_members WHERE account_id = ? AND group_id = ? "
                              "AND left_at < ?", (account_id, group_id, start))
    joins = _per_day(conn, "joined_at", account_id, group_id, start, end, first_day, days)
    leaves = _per_day(conn, "left_at", account_id, group_id, start, end, first_day, days)
    size, running = [], int(joined_before) - int(left_before)
    for j, lv in zip(joins, leaves):
        running += j - lv
        size.append(running)
    return {"joins": joins, "leaves": leaves, "size": size}


def _per_day(conn: Conn, column: str, account_id: str, group_id: str, start: float, end: float,
             first_day: int, days: int) -> list[int]:
    rows = conn.all(f"SELECT CAST(FLOOR({column} / 86400) AS INTEGER), COUNT(*) FROM group_members "
                    f"WHERE account_id = ? AND group_id = ? AND {column} >= ? AND {column} < ? GROUP BY 1",
                    (account_id, group_id, start, end)) if conn.dialect == "postgresql" else conn.all(
        f"SELECT CAST({column} / 86400 AS INTEGER), COUNT(*) FROM group_members "
        f"WHERE account_id = ? AND group_id = ? AND {column} >= ? AND {column} < ? GROUP BY 1",
        (account_id, group_id, start, end))
    out = [0] * days
    for day, n in rows:
        i = int(day) - first_day
        if 0 <= i < days:
            out[i] += int(n)
    return out


def profiles_by_ids_in_order(rows: Sequence[dict[str, Any]], order: Sequence[str]) -> list[dict[str, Any]]:
    by_id = {r["id"]: r for r in rows}
    return [by_id[i] for i in order if i in by_id]
