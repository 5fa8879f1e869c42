"""A plain-Python reading of segment definitions, written from docs/segments.md, sharing no code with
footfall.segments: the tests compare what the server computes in SQL with what this says."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

UNIT = {"hour": 3600, "day": 86400, "week": 604800}
MISSING = object()


@dataclass
class Event:
    metric: str
    time: int
    value: float | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class Person:
    email: str
    first_name: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    location: dict[str, Any] = field(default_factory=dict)
    consent: list[str] = field(default_factory=list)  # channels with legacy $consent
    events: list[Event] = field(default_factory=list)
    created: float | None = None  # when the server stored it (set by the test after loading)


def members(definition: dict, people: list[Person], now: float, metric_names: dict[str, str],
            groups: dict[str, set[str]]) -> set[str]:
    """Emails of the people who qualify; metric_names maps metric id -> name, groups id -> emails."""
    out = set()
    for person in people:
        if all(any(_condition(c, person, now, metric_names, groups) for c in g["conditions"])
               for g in definition["condition_groups"]):
            out.add(person.email)
    return out


def _condition(c: dict, p: Person, now: float, metric_names: dict[str, str], groups: dict[str, set[str]]) -> bool:
    kind = c["type"]
    if kind == "profile-property":
        return _filter(_lookup(c["property"], p), c["filter"], now)
    if kind == "profile-location":
        return _filter(p.location.get(c["field"], MISSING), c["filter"], now)
    if kind == "profile-marketing-consent":
        can = c["consent"]["channel"] in p.consent
        return can if c["consent"].get("can_receive_marketing", True) else not can
    if kind == "profile-group-membership":
        inside = any(p.email in groups[g] for g in c["group_ids"])
        return inside if c.get("is_member", True) else not inside
    if kind == "profile-metric":
        return _metric(c, p, now, metric_names)
    raise AssertionError(kind)


def _lookup(prop: str, p: Person) -> Any:
    if prop == "email":
        return p.email
    if prop == "created":
        return p.created
    if prop == "first_name":
        return p.first_name if p.first_name is not None else MISSING
    if prop.startswith("location."):
        return p.location.get(prop[9:], MISSING)
    name = prop[len("properties['"):-2]
    return p.properties.get(name, MISSING)


def _metric(c: dict, p: Person, now: float, metric_names: dict[str, str]) -> bool:
    name = metric_names[c["metric_id"]]
    tf = c.get("timeframe_filter") or {"operator": "alltime"}
    chosen = []
    for e in p.events:
        if e.metric != name or not _in_timeframe(e.time, tf, now):
            continue
        if all(_filter(e.properties.get(f["property"], MISSING), f["filter"], now) for f in c.get("metric_filters") or []):
            chosen.append(e)
    measure = len(chosen) if c.get("measurement", "count") == "count" else sum(e.value or 0 for e in chosen)
    mf = c["measurement_filter"]
    op = mf["operator"]
    if op == "not-equals":
        return not measure == mf["value"]
    return _compare(op, measure, mf["value"])


def _in_timeframe(t: float, tf: dict, now: float) -> bool:
    op = tf["operator"]
    if op == "alltime":
        return True
    if op == "in-the-last":
        return now - tf["quantity"] * UNIT[tf["unit"]] <= t <= now
    if op in ("between-static", "between"):
        return _iso(tf["start"]) <= t <= _iso(tf["end"])
    if op == "after":
        return t >= _iso(tf["date"])
    if op == "before":
        return t < _iso(tf["date"])
    raise AssertionError(op)


def _compare(op: str, a: float, b: float) -> bool:
    return {"equals": a == b, "greater-than": a > b, "greater-than-or-equal": a >= b,
            "less-than": a < b, "less-than-or-equal": a <= b}[op]


def _kind(v: Any) -> str:
    if v is MISSING:
        return "missing"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _filter(v: Any, f: dict, now: float) -> bool:
    op = f["operator"]
    if op == "not-set":
        return not _filter(v, {**f, "operator": "is-set"}, now)
    if op.startswith("not-") or op.startswith("length-not-"):
        positive = op[4:] if op.startswith("not-") else "length-" + op[len("length-not-"):]
        return not _filter(v, {**f, "operator": positive}, now)
    t, k = f["type"], _kind(v)
    value = f.get("value")
    if t == "existence":
        return k not in ("missing", "null")
    if t == "string":
        if k != "string":
            return False
        return {"equals": lambda: v == value, "contains": lambda: value in v, "starts-with": lambda: v.startswith(value),
                "ends-with": lambda: v.endswith(value), "in": lambda: v in value}[op]()
    if t == "numeric":
        return k == "number" and _compare(op, v, value)
    if t == "boolean":
        return k == "boolean" and v == value
    if t == "list":
        if k != "array":
            return False
        if op.startswith("length-"):
            return _compare(op[7:], len(v), value)
        if op == "contains":
            return _has(v, value)
        if op == "contains-any":
            return any(_has(v, x) for x in value)
        return all(_has(v, x) for x in value)
    if t == "date":
        x = _epoch(v)
        if x is None:
            return False
        if op == "before":
            return x < _iso(f["date"])
        if op == "after":
            return x > _iso(f["date"])
        if op in ("between-static", "between"):
            return _iso(f["start"]) <= x <= _iso(f["end"])
        span = f["quantity"] * UNIT[f["unit"]]
        if op == "in-the-last":
            return now - span <= x <= now
        if op == "in-the-next":
            return now <= x <= now + span
        if op == "at-least":
            return x <= now - span
    raise AssertionError(f)


def _has(items: list, x: Any) -> bool:
    for item in items:
        if isinstance(item, bool) or isinstance(x, bool):
            continue
        if isinstance(x, str) and isinstance(item, str) and item == x:
            return True
        if isinstance(x, (int, float)) and isinstance(item, (int, float)) and item == x:
            return True
    return False


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\+00:00|Z)?)?$")


def _epoch(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and _DATE.match(v):
        return _iso(v)
    return None


def _iso(text: str) -> float:
    d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
