"""The POST /api/metric-aggregates body, decoded and checked: every refusal names its pointer.

`filter` is a list of filter strings in the GET filter syntax. A datetime range is required:
`greater-or-equal|greater-than(datetime,…)` and `less-than|less-or-equal(datetime,…)`; datetimes
without an offset are read in the request's `timezone`. Dimension filters: `equals(<dimension>,v)`
and `any(<dimension>,[v,…])`, comparing the dimension's text form.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from footfall.analytics.buckets import INTERVALS
from footfall.wire.jsonapi import decode_cursor, invalid
from footfall.domain.limits import (
    AGGREGATE_DIMENSIONS as MAX_DIMENSIONS,
    AGGREGATE_PAGE_MAX as MAX_PAGE_SIZE,
    AGGREGATE_PAGE_DEFAULT as DEFAULT_PAGE_SIZE,
    AGGREGATE_RANGE_SECONDS as MAX_RANGE_SECONDS,
    PROPERTY_NAME_CHARS,
    TIMEZONE_CHARS,
)
from footfall.domain.json_numbers import whole_number

MEASUREMENTS = ("count", "sum_value", "unique")
RETURN_FIELDS = ("dates", "data")
EARLIEST = 631152000                    # 1990-01-01T00:00:00Z: no event is older
_BASE = "/data/attributes"


@dataclass
class AggregateQuery:
    metric_id: str
    measurements: list[str]
    interval: str
    zone: ZoneInfo
    start: int
    end: int
    by: list[str] = field(default_factory=list)
    dimension_filters: list[tuple[str, list[str]]] = field(default_factory=list)  # (dimension, allowed texts)
    page_size: int = DEFAULT_PAGE_SIZE
    offset: int = 0
    sort: tuple[str, bool] | None = None  # (dimension or measurement, descending)
    return_fields: tuple[str, ...] = RETURN_FIELDS


def decode(document: Any) -> AggregateQuery:
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise invalid("The body must be a JSON:API document with a `data` object.", pointer="/data")
    if data.get("type") != "metric-aggregate":
        raise invalid(f"`data.type` must be \"metric-aggregate\", not {data.get('type')!r}.", pointer="/data/type")
    attrs = data.get("attributes")
    if not isinstance(attrs, dict):
        raise invalid("`data.attributes` must be an object.", pointer=_BASE)
    unknown = sorted(set(attrs) - _KNOWN)
    if unknown:
        raise invalid(f"Unknown attribute {unknown[0]!r}; allowed: {', '.join(sorted(_KNOWN))}.",
                      pointer=f"{_BASE}/{unknown[0]}")
    metric_id = attrs.get("metric_id")
    if not isinstance(metric_id, str) or not metric_id:
        raise invalid("`metric_id` is required: the id of the metric to aggregate.", pointer=f"{_BASE}/metric_id")
    measurements = _names(attrs.get("measurements"), "measurements", MEASUREMENTS, required=True)
    interval = attrs.get("interval", "day")
    if interval not in INTERVALS:
        raise invalid(f"`interval` must be one of {', '.join(INTERVALS)}, not {interval!r}.", pointer=f"{_BASE}/interval")
    zone = _zone(attrs.get("timezone", "UTC"))
    by = _dimensions(attrs.get("by"))
    start, end, dims = _filters(attrs.get("filter"), zone)
    query = AggregateQuery(metric_id, measurements, interval, zone, start, end, by, dims)
    query.page_size = _page_size(attrs.get("page_size", DEFAULT_PAGE_SIZE))
    if attrs.get("page_cursor") is not None:
        query.offset = _cursor(attrs["page_cursor"])
    if attrs.get("sort") is not None:
        query.sort = _sort(attrs["sort"], by, measurements)
    if attrs.get("return_fields") is not None:
        query.return_fields = tuple(_names(attrs["return_fields"], "return_fields", RETURN_FIELDS, required=False))
    return query


_KNOWN = {"metric_id", "measurements", "interval", "timezone", "filter", "by", "page_size", "page_cursor",
          "sort", "return_fields"}


def _names(value: Any, name: str, allowed: tuple[str, ...], *, required: bool) -> list[str]:
    pointer = f"{_BASE}/{name}"
    if not isinstance(value, list) or (required and not value):
        raise invalid(f"`{name}` must be a {'non-empty ' if required else ''}list from {', '.join(allowed)}.",
                      pointer=pointer)
    out: list[str] = []
    for i, item in enumerate(value):
        if item not in allowed:
            raise invalid(f"{item!r} is not one of {', '.join(allowed)}.", pointer=f"{pointer}/{i}")
        if item not in out:
            out.append(item)
    return out


def _zone(value: Any) -> ZoneInfo:
    pointer = f"{_BASE}/timezone"
    if not isinstance(value, str) or not value or len(value) > TIMEZONE_CHARS or ".." in value or value.startswith("/"):
        raise invalid(f"`timezone` must be an IANA time zone name such as America/New_York, not {value!r}.",
                      pointer=pointer)
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise invalid(f"{value!r} is not an IANA time zone name (names are case-sensitive, e.g. Europe/Berlin).",
                      pointer=pointer) from None


def _dimensions(value: Any) -> list[str]:
    pointer = f"{_BASE}/by"
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_DIMENSIONS:
        raise invalid(f"`by` must be a list of at most {MAX_DIMENSIONS} dimension names.", pointer=pointer)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item or len(item) > PROPERTY_NAME_CHARS or '"' in item:
            raise invalid(f"{item!r} is not a dimension: use an event property name (without double quotes) "
                          "or $value_currency.", pointer=f"{pointer}/{i}")
    if len(set(value)) != len(value):
        raise invalid("`by` names a dimension twice.", pointer=pointer)
    return list(value)


def _page_size(value: Any) -> int:
    size = whole_number(value)
    if size is None or not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid(f"`page_size` must be an integer from 1 to {MAX_PAGE_SIZE}.", pointer=f"{_BASE}/page_size")
    return size


def _cursor(value: Any) -> int:
    pointer = f"{_BASE}/page_cursor"
    if not isinstance(value, str):
        raise invalid("`page_cursor` must be a cursor string from a previous answer.", pointer=pointer)
    position = decode_cursor(value, parameter="page_cursor")
    if len(position) != 1 or not isinstance(position[0], int) or position[0] < 0:
        raise invalid(f"{value!r} is not a cursor this server issued.", pointer=pointer)
    return position[0]


def _sort(value: Any, by: list[str], measurements: list[str]) -> tuple[str, bool]:
    pointer = f"{_BASE}/sort"
    if not isinstance(value, str) or not value.lstrip("-"):
        raise invalid("`sort` must be a dimension in `by` or a measurement, with a leading - for descending.",
                      pointer=pointer)
    name = value[1:] if value.startswith("-") else value
    if name not in by and name not in measurements:
        raise invalid(f"Cannot sort by {name!r}: sort by a dimension in `by` or a requested measurement.",
                      pointer=pointer)
    return name, value.startswith("-")


# -- filter strings -----------------------------------------------------------------------------------

_LOWER = {"greater-or-equal", "greater-than"}
_UPPER = {"less-than", "less-or-equal"}


def _filters(value: Any, zone: ZoneInfo) -> tuple[int, int, list[tuple[str, list[str]]]]:
    pointer = f"{_BASE}/filter"
    if not isinstance(value, list) or not value:
        raise invalid("`filter` is required: a list of filter strings including the datetime range, e.g. "
                      "[\"greater-or-equal(datetime,2025-01-01T00:00:00)\", \"less-than(datetime,2025-02-01T00:00:00)\"].",
                      pointer=pointer)
    start: int | None = None
    end: int | None = None
    dims: list[tuple[str, list[str]]] = []
    for i, text in enumerate(value):
        item_pointer = f"{pointer}/{i}"
        if not isinstance(text, str):
            raise invalid("Each filter must be a string such as greater-or-equal(datetime,2025-01-01T00:00:00).",
                          pointer=item_pointer)
        for op, fld, val in parse_filter(text, item_pointer):
            if fld == "datetime":
                if op not in _LOWER | _UPPER:
                    raise invalid(f"`datetime` takes greater-or-equal, greater-than, less-than or less-or-equal, "
                                  f"not {op}.", pointer=item_pointer)
                moment = _datetime(val, zone, item_pointer)
                if op in _LOWER:
                    bound = math.floor(moment) + 1 if op == "greater-than" else math.ceil(moment)
                    start = bound if start is None else max(start, bound)
                else:
                    bound = math.floor(moment) + 1 if op == "less-or-equal" else math.ceil(moment)
                    end = bound if end is None else min(end, bound)
            elif op == "equals":
                dims.append((fld, [_text(val, item_pointer)]))
            elif op == "any":
                if not isinstance(val, list) or not val:
                    raise invalid("`any` takes a non-empty list, e.g. any(Item,[\"a\",\"b\"]).", pointer=item_pointer)
                dims.append((fld, [_text(v, item_pointer) for v in val]))
            else:
                raise invalid(f"Operator {op} is not supported on {fld!r}: dimensions take equals or any.",
                              pointer=item_pointer)
    if start is None or end is None:
        raise invalid("`filter` must give a datetime range: greater-or-equal(datetime,…) and less-than(datetime,…).",
                      pointer=pointer)
    if start < EARLIEST:
        raise invalid("The datetime range must start after 1990-01-01.", pointer=pointer)
    if end <= start:
        raise invalid("The datetime range is empty: its end is not after its start.", pointer=pointer)
    if end - start > MAX_RANGE_SECONDS:
        raise invalid("The datetime range is longer than the limit of one year (366 days) per query.",
                      pointer=pointer)
    return start, end, dims


def _datetime(value: Any, zone: ZoneInfo, pointer: str) -> float:
    if not isinstance(value, str):
        raise invalid(f"{value!r} is not a datetime; write it unquoted, e.g. 2025-01-01T00:00:00.", pointer=pointer)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(value), datetime.min.time())
        except ValueError:
            raise invalid(f"{value!r} is not an ISO 8601 datetime.", pointer=pointer) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.timestamp()
    except (OverflowError, ValueError, OSError):
        raise invalid(f"{value!r} is out of range.", pointer=pointer) from None


def _text(value: Any, pointer: str) -> str:
    """The text a dimension value is compared as: strings as they are, JSON scalars as JSON writes them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    raise invalid(f"{value!r} cannot be compared with a dimension.", pointer=pointer)


_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<punct>[(),\[\]])|(?P<bare>[^(),\[\]"']+))""")


def parse_filter(text: str, pointer: str) -> list[tuple[str, str, Any]]:
    """'op(field,value)[,op(field,value)…]' or 'and(…)' -> [(op, field, value)]; values: str, number, bool, list."""
    tokens = _tokenize(text, pointer)
    out: list[tuple[str, str, Any]] = []
    pos = 0

    def take(kind: str, what: str | None = None) -> str:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos][0] != kind or (what is not None and tokens[pos][1] != what):
            found = tokens[pos][1] if pos < len(tokens) else "the end"
            raise invalid(f"Invalid filter {text!r}: expected {what or 'a name or value'} at {found!r}.", pointer=pointer)
        pos += 1
        return tokens[pos - 1][1]

    def value() -> Any:
        nonlocal pos
        if pos < len(tokens) and tokens[pos] == ("punct", "["):
            pos += 1
            items: list[Any] = []
            while not (pos < len(tokens) and tokens[pos] == ("punct", "]")):
                items.append(value())
                if pos < len(tokens) and tokens[pos] == ("punct", ","):
                    pos += 1
            take("punct", "]")
            return items
        if pos < len(tokens) and tokens[pos][0] == "str":
            pos += 1
            return tokens[pos - 1][1]
        return _scalar(take("bare"))

    def expression() -> None:
        nonlocal pos
        op = take("bare").strip()
        take("punct", "(")
        if op == "and":
            expression()
            while pos < len(tokens) and tokens[pos] == ("punct", ","):
                pos += 1
                expression()
        else:
            if pos < len(tokens) and tokens[pos][0] == "str":  # a quoted field name
                fld = tokens[pos][1]
                pos += 1
            else:
                fld = take("bare").strip()
            take("punct", ",")
            out.append((op, fld, value()))
        take("punct", ")")

    expression()
    while pos < len(tokens):
        take("punct", ",")
        expression()
    return out


def _tokenize(text: str, pointer: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise invalid(f"Invalid filter {text!r} at character {pos}.", pointer=pointer)
        if match.group("str") is not None:
            raw = match.group("str")
            tokens.append(("str", re.sub(r"\\(.)", r"\1", raw[1:-1])))
        elif match.group("punct") is not None:
            tokens.append(("punct", match.group("punct")))
        else:
            tokens.append(("bare", match.group("bare").strip()))
        pos = match.end()
    return tokens


def _scalar(raw: str) -> Any:
    if raw in ("true", "false"):
        return raw == "true"
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if re.fullmatch(r"-?\d+\.\d+(?:[eE][-+]?\d+)?", raw):
        return float(raw)
    return raw
