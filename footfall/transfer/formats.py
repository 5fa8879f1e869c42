"""The line formats `footfall import` reads, each turned into what the writer applies.

- Footfall's own export (JSON Lines, or its CSV): restored with the ids it was exported with.
- Klaviyo-shaped events: the body of POST /api/events, or just its `data` object, one per line.
- Segment-shaped events: track / identify / page / screen messages (userId, anonymousId, traits,
  messageId → unique_id).
- Klaviyo-shaped profiles: a profile resource (or `{"data": …}`) per line, or a CSV with a header row.

A line without an idempotency key gets a deterministic one (a hash of the line), so importing the
same file twice stores nothing twice.
"""

from __future__ import annotations

import csv
import hashlib
import re
from typing import Any

import msgspec

from footfall.domain import events as event_rules
from footfall.refusals import InvalidInput
from footfall.domain.limits import Limits, check_properties
from footfall.domain.models import LOCATION_FIELDS, PROFILE_ATTRIBUTES, Event, TrackOp
from footfall.domain.operations import ImportProfileOp
from footfall.domain.privacy import RestoredEvent, RestoredProfile
from footfall.wire import modern_events, modern_profile
from footfall.timefmt import parse_iso

_decode = msgspec.json.Decoder().decode
FOOTFALL_PROFILE_KEYS = ("id", "email", "phone_number", "external_id", "anonymous_id", *PROFILE_ATTRIBUTES,
                         "location", "properties", "consent", "created", "updated")
FOOTFALL_EVENT_KEYS = ("id", "metric", "profile_id", "time", "timestamp", "value", "value_currency", "unique_id",
                       "properties")
_IDENTIFIER_KINDS = ("external_id", "email", "phone_number", "anonymous_id")


def json_line(raw: bytes) -> Any:
    try:
        return _decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"not valid JSON ({exc})") from None


def detect(kind: str, first: Any) -> str:
    """Which format a file is in, from its first record: footfall | klaviyo | segment."""
    if isinstance(first, dict):
        if kind == "events" and "metric" in first and "profile_id" in first:
            return "footfall"
        if kind == "profiles" and "id" in first and "created" in first and "attributes" not in first:
            return "footfall"
        if "data" in first or first.get("type") in ("event", "profile"):
            return "klaviyo"
        if first.get("type") in ("track", "identify", "page", "screen") or "userId" in first or "anonymousId" in first:
            return "segment"
    raise InvalidInput("cannot tell the format: expected footfall export lines, Klaviyo-shaped "
                       f"{kind} (a JSON:API document) or Segment-shaped messages")


def _epoch(value: Any, what: str) -> float:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be an ISO 8601 datetime string")
    try:
        return parse_iso(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidInput(f"{what} {value!r} is not an ISO 8601 datetime") from None


def _text(value: Any, what: str, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string")
    return value


def footfall_profile(record: Any, line: int, limits: Limits) -> RestoredProfile:
    if not isinstance(record, dict):
        raise InvalidInput("a profile line must be a JSON object")
    unknown = [k for k in record if k not in FOOTFALL_PROFILE_KEYS]
    if unknown:
        raise InvalidInput(f"unknown key {unknown[0]!r} in an exported profile")
    profile_id = _text(record.get("id"), "id", optional=False)
    row: dict[str, Any] = {"id": profile_id}
    identifiers = []
    for kind in _IDENTIFIER_KINDS:
        value = _text(record.get(kind), kind)
        row[kind] = value
        if value is not None:
            identifiers.append((kind, value))
    for key in PROFILE_ATTRIBUTES:
        row[key] = _text(record.get(key), key)
    location = record.get("location") or {}
    if not isinstance(location, dict) or any(k not in LOCATION_FIELDS for k in location):
        raise InvalidInput(f"location must be an object with keys among {', '.join(LOCATION_FIELDS)}")
    row["location"] = {k: v for k, v in location.items() if v is not None}
    for key in ("properties", "consent"):
        value = record.get(key) or {}
        if not isinstance(value, dict):
            raise InvalidInput(f"{key} must be an object")
        row[key] = value
    check_properties(row["properties"], limits, "properties")
    row["created"] = _epoch(record.get("created"), "created")
    row["updated"] = _epoch(record.get("updated") or record.get("created"), "updated")
    return RestoredProfile(line, profile_id, identifiers, row)


def footfall_event(record: Any, line: int, limits: Limits) -> RestoredEvent:
    if not isinstance(record, dict):
        raise InvalidInput("an event line must be a JSON object")
    unknown = [k for k in record if k not in FOOTFALL_EVENT_KEYS and k != "dedup_key"]
    if unknown:
        raise InvalidInput(f"unknown key {unknown[0]!r} in an exported event")
    event_id = _text(record.get("id"), "id", optional=False)
    metric = event_rules.metric_name(record.get("metric"), "metric")
    profile_id = _text(record.get("profile_id"), "profile_id", optional=False)
    timestamp = record.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        timestamp = int(_epoch(record.get("time"), "time"))
    value = record.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise InvalidInput("value must be a number or null")
    props = record.get("properties") or {}
    if not isinstance(props, dict):
        raise InvalidInput("properties must be an object")
    check_properties(props, limits, "properties")
    event = Event(metric=metric, time=timestamp, properties=props, value=None if value is None else float(value),
                  value_currency=_text(record.get("value_currency"), "value_currency"),
                  unique_id=_text(record.get("unique_id"), "unique_id"))
    return RestoredEvent(line, event_id, metric, profile_id, event, _dedup_key(record.get("dedup_key"), event))


def _dedup_key(value: Any, event: Event) -> str | None:
    """An exported event keyed by its full timestamp carries its key (the stored time is whole seconds)."""
    key = _text(value, "dedup_key")
    if key is not None and (event.unique_id is not None or not re.fullmatch(rf"t:{event.time}\.[0-9]{{6}}", key)):
        raise InvalidInput(f"dedup_key {key!r} is not t:<the event's timestamp>.<6 digits> "
                           "of an event without a unique_id")
    return key


def line_key(raw: bytes) -> str:
    """The deterministic idempotency key of a line that carries none."""
    return "import-" + hashlib.sha256(raw.strip()).hexdigest()[:32]


def klaviyo_event(record: Any, raw: bytes, account_id: str, limits: Limits, now: float,
                  phone_region: str | None) -> TrackOp:
    document = record if isinstance(record, dict) and "data" in record else {"data": record}
    data = document.get("data")
    if isinstance(data, dict) and isinstance(data.get("attributes"), dict) and data["attributes"].get("unique_id") is None:
        data["attributes"]["unique_id"] = line_key(raw)
    profile, event = modern_events.decode_event(document, limits, now, private=True, phone_region=phone_region)
    return TrackOp(account_id=account_id, profile=profile, event=event, size=len(raw))


_SEGMENT_TRAITS = {"email": "email", "phone": "phone_number", "firstName": "first_name", "first_name": "first_name",
                   "lastName": "last_name", "last_name": "last_name", "title": "title", "company": "organization"}


def segment_event(record: Any, raw: bytes, account_id: str, limits: Limits, now: float,
                  phone_region: str | None) -> TrackOp:
    """A Segment message as the Klaviyo event document it means (identify: a profile change only)."""
    if not isinstance(record, dict):
        raise InvalidInput("a Segment message must be a JSON object")
    kind = record.get("type") or "track"
    if kind not in ("track", "identify", "page", "screen"):
        raise InvalidInput(f"Segment message type {kind!r} is not imported (track, identify, page, screen)")
    traits = {**((record.get("context") or {}).get("traits") or {}), **(record.get("traits") or {})}
    profile: dict[str, Any] = {}
    if record.get("userId") is not None:
        profile["external_id"] = str(record["userId"])
    if record.get("anonymousId") is not None:
        profile["anonymous_id"] = str(record["anonymousId"])
    extra: dict[str, Any] = {}
    for key, value in traits.items():
        if key in _SEGMENT_TRAITS and value is not None:
            profile[_SEGMENT_TRAITS[key]] = value
        elif key not in ("address",):
            extra[key] = value
    if extra:
        profile["properties"] = extra
    profile_doc = {"type": "profile", "attributes": profile}
    if kind == "identify":
        patch = modern_profile.decode(profile_doc, "traits", limits, private=True, phone_region=phone_region)
        return TrackOp(account_id=account_id, profile=patch, size=len(raw))
    name = record.get("event") if kind == "track" else ("Viewed Page" if kind == "page" else "Viewed Screen")
    props = dict(record.get("properties") or {})
    if kind in ("page", "screen") and record.get("name"):
        props.setdefault("name", record["name"])
    attributes: dict[str, Any] = {
        "properties": props,
        "metric": {"data": {"type": "metric", "attributes": {"name": name}}},
        "profile": {"data": profile_doc},
        "unique_id": str(record.get("messageId") or line_key(raw)),
    }
    if record.get("timestamp") is not None:
        attributes["time"] = record["timestamp"]
    revenue = props.get("revenue", props.get("value"))
    if isinstance(revenue, (int, float)) and not isinstance(revenue, bool):
        attributes["value"] = revenue
    document = {"data": {"type": "event", "attributes": attributes}}
    p, event = modern_events.decode_event(document, limits, now, private=True, phone_region=phone_region)
    return TrackOp(account_id=account_id, profile=p, event=event, size=len(raw))


def klaviyo_profile(record: Any, raw: bytes, account_id: str, limits: Limits, phone_region: str | None) -> ImportProfileOp:
    resource = record.get("data") if isinstance(record, dict) and "data" in record else record
    patch = modern_profile.decode(resource, "profile", limits, private=True, phone_region=phone_region)
    return ImportProfileOp(account_id, patch, modern_profile.cleared_identifiers(resource), len(raw))


# -- CSV profiles -----------------------------------------------------------------------------------
_CSV_ATTRIBUTES = {"email", "phone_number", "external_id", "anonymous_id", *PROFILE_ATTRIBUTES}
CSV_PROFILE_COLUMNS = ("id", "email", "phone_number", "external_id", "anonymous_id", *PROFILE_ATTRIBUTES,
                       *(f"location.{k}" for k in LOCATION_FIELDS), "properties", "consent", "created", "updated")


def csv_is_export(header: list[str]) -> bool:
    return list(header) == list(CSV_PROFILE_COLUMNS)


def csv_export_profile(row: dict[str, str], line: int, limits: Limits) -> RestoredProfile:
    """A row of `footfall export profiles --format csv` (empty cell: null; JSON cells for the objects)."""
    record: dict[str, Any] = {k: (row[k] or None) for k in ("id", "email", "phone_number", "external_id",
                                                            "anonymous_id", *PROFILE_ATTRIBUTES, "created", "updated")}
    location: dict[str, Any] = {}
    for key in LOCATION_FIELDS:
        cell = row[f"location.{key}"]
        if cell:
            location[key] = json_line(cell.encode()) if key in ("latitude", "longitude") else cell
    record["location"] = location
    for key in ("properties", "consent"):
        record[key] = json_line(row[key].encode()) if row[key] else {}
    return footfall_profile(record, line, limits)


def csv_profile(row: dict[str, str], account_id: str, limits: Limits, phone_region: str | None) -> ImportProfileOp:
    """A row of any CSV with a header: known columns are profile fields (location.* or a location
    field's own name), the others custom properties; empty cells are left out."""
    attributes: dict[str, Any] = {}
    location: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for key, cell in row.items():
        if key is None or cell is None or cell == "":
            continue
        name = key.strip()
        if name in _CSV_ATTRIBUTES:
            attributes[name] = cell
        elif name.removeprefix("location.") in LOCATION_FIELDS:
            field = name.removeprefix("location.")
            location[field] = _number(cell) if field in ("latitude", "longitude") else cell
        else:
            properties[name] = cell
    if location:
        attributes["location"] = location
    if properties:
        attributes["properties"] = properties
    patch = modern_profile.decode({"type": "profile", "attributes": attributes}, "row", limits, private=True,
                                  phone_region=phone_region)
    return ImportProfileOp(account_id, patch, [], 0)


def _number(cell: str) -> Any:
    try:
        return float(cell)
    except ValueError:
        return cell


def csv_reader(stream: Any) -> csv.DictReader:
    return csv.DictReader(stream)
