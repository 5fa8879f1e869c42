"""Modern event documents (POST /api/events, /client/events, bulk create) as domain objects.

Paths in InvalidInput are dotted from the document root ('data.attributes.metric.data.attributes.name'),
so the route can turn them into JSON:API source pointers. A `$event_id` inside `properties` is an
ordinary property here: only `unique_id` deduplicates on the modern API (as Klaviyo behaves).
"""

from __future__ import annotations

import re
from typing import Any

from footfall.domain import event_dedup, events
from footfall.refusals import InvalidInput, LimitExceeded
from footfall.domain.limits import Limits, check_properties, properties_refused
from footfall.domain.models import Event, ProfilePatch
from footfall.domain.operations import BulkEntry
from footfall.wire import modern_profile
from footfall.domain.limits import BULK_EVENTS_PER_JOB as MAX_BULK_EVENTS
from footfall.timefmt import parse_iso

EVENT_KEYS = {"properties", "time", "value", "value_currency", "unique_id", "backfill", "metric"}
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def decode_event(
    document: Any, limits: Limits, now: float, *, private: bool, phone_region: str | None = None
) -> tuple[ProfilePatch, Event]:
    """`{"data": {"type": "event", "attributes": {..., "metric": …, "profile": …}}}`."""
    data = resource(document, "data", "event")
    attrs = _object(data.get("attributes"), "data.attributes", required=True)
    profile = modern_profile.decode(
        related(attrs, "profile", "data.attributes"), "data.attributes.profile.data", limits,
        private=private, phone_region=phone_region,
    )
    event = _event(attrs, "data.attributes", limits, now, extra={"profile"})
    return profile, event


def decode_bulk_job(
    document: Any, limits: Limits, now: float, *, phone_region: str | None = None
) -> list[BulkEntry]:
    """POST /api/event-bulk-create-jobs: `data.attributes["events-bulk-create"].data` is a list of entries."""
    data = resource(document, "data", "event-bulk-create-job")
    attrs = _object(data.get("attributes"), "data.attributes", required=True)
    listing = _object(attrs.get("events-bulk-create"), "data.attributes.events-bulk-create", required=True)
    items = _list(listing.get("data"), "data.attributes.events-bulk-create.data")
    entries = [
        decode_bulk_entry(item, f"data.attributes.events-bulk-create.data[{i}]", limits, now,
                          private=True, phone_region=phone_region)
        for i, item in enumerate(items)
    ]
    _check_total(entries, "data.attributes.events-bulk-create.data")
    return entries


def decode_client_bulk(
    document: Any, limits: Limits, now: float, *, phone_region: str | None = None
) -> BulkEntry:
    """POST /client/event-bulk-create: one profile and its events."""
    entry = decode_bulk_entry(document.get("data") if isinstance(document, dict) else document, "data",
                              limits, now, private=False, phone_region=phone_region)
    _check_total([entry], "data.attributes.events.data")
    return entry


def decode_bulk_entry(
    item: Any, path: str, limits: Limits, now: float, *, private: bool, phone_region: str | None = None
) -> BulkEntry:
    """`{"type": "event-bulk-create", "attributes": {"profile": {"data": …}, "events": {"data": [event, …]}}}`."""
    item = _typed(item, path, "event-bulk-create")
    attrs = _object(item.get("attributes"), f"{path}.attributes", required=True)
    for key in attrs:
        if key not in ("profile", "events", "backfill"):
            raise InvalidInput(f"unknown attribute {key!r} (profile, events, backfill)", f"{path}.attributes.{key}")
    if not isinstance(attrs.get("backfill", False), bool):
        raise InvalidInput("must be true or false", f"{path}.attributes.backfill")
    profile = modern_profile.decode(related(attrs, "profile", f"{path}.attributes"),
                                    f"{path}.attributes.profile.data", limits,
                                    private=private, phone_region=phone_region)
    listing = _object(attrs.get("events"), f"{path}.attributes.events", required=True)
    items = _list(listing.get("data"), f"{path}.attributes.events.data")
    if not items:
        raise InvalidInput("at least one event is required", f"{path}.attributes.events.data")
    if len(items) > MAX_BULK_EVENTS:
        raise LimitExceeded(f"{len(items)} events, more than the limit of {MAX_BULK_EVENTS} per request",
                            f"{path}.attributes.events.data")
    events_, paths = [], []
    for i, raw in enumerate(items):
        at = f"{path}.attributes.events.data[{i}].attributes"
        attrs_i = raw.get("attributes") if type(raw) is dict and raw.get("type") == "event" else None
        if type(attrs_i) is not dict:  # the checks below, for their refusal
            where = f"{path}.attributes.events.data[{i}]"
            attrs_i = _object(_typed(raw, where, "event").get("attributes"), f"{where}.attributes", required=True)
        events_.append(_event(attrs_i, at, limits, now))
        paths.append(at)
    return BulkEntry(profile=profile, events=events_, path=path, event_paths=paths)


def _check_total(entries: list[BulkEntry], path: str) -> None:
    total = sum(len(e.events) for e in entries)
    if total > MAX_BULK_EVENTS:
        raise LimitExceeded(f"{total} events in one request, more than the limit of {MAX_BULK_EVENTS}", path)
    if not entries:
        raise InvalidInput("at least one entry (a profile and its events) is required", path)


def _event(attrs: dict[str, Any], path: str, limits: Limits, now: float, extra: set[str] = frozenset()) -> Event:
    """An event's attributes as an Event, or the refusal naming what is wrong and where (path: of attrs)."""
    event = _plain_event(attrs, limits, now, extra)
    return event if event is not None else _checked_event(attrs, path, limits, now, extra)


def _plain_event(attrs: dict[str, Any], limits: Limits, now: float, extra: set[str]) -> Event | None:
    """_checked_event's Event for attributes it accepts, made without the paths its refusals would
    name (a dozen strings per event, a third of a bulk request's decoding); None for anything it
    might refuse, which _checked_event then decodes (the same checks and values, in the same order)."""
    for key in attrs:
        if key not in EVENT_KEYS and key not in extra:
            return None
    props = attrs.get("properties")
    wrapper = attrs.get("metric")
    metric = wrapper.get("data") if isinstance(wrapper, dict) else None
    metric_attrs = metric.get("attributes") if isinstance(metric, dict) and metric.get("type") == "metric" else None
    if (not isinstance(props, dict) or not isinstance(metric_attrs, dict)
            or not isinstance(attrs.get("backfill", False), bool) or properties_refused(props, limits)):
        return None
    try:
        name = events.metric_name(metric_attrs.get("name"), "")
        seconds, microsecond = event_moment(attrs.get("time"), "", now)
        value = _value(attrs.get("value"), "")
        currency = _currency(attrs.get("value_currency"), "")
        unique = event_dedup.once_unique_id(props, events.unique_id(attrs.get("unique_id"), ""))
    except InvalidInput:
        return None
    return Event(metric=name, time=seconds, properties=props, value=value, value_currency=currency,
                 unique_id=unique, microsecond=microsecond)


def _checked_event(attrs: dict[str, Any], path: str, limits: Limits, now: float, extra: set[str]) -> Event:
    for key in attrs:
        if key not in EVENT_KEYS and key not in extra:
            raise InvalidInput(f"unknown event attribute {key!r}", f"{path}.{key}")
    if "properties" not in attrs:
        raise InvalidInput("`properties` is required (it may be an empty object)", f"{path}.properties")
    props = _object(attrs["properties"], f"{path}.properties", required=True)
    check_properties(props, limits, f"{path}.properties")
    metric = _typed(related(attrs, "metric", path), f"{path}.metric.data", "metric")
    metric_attrs = _object(metric.get("attributes"), f"{path}.metric.data.attributes", required=True)
    name = events.metric_name(metric_attrs.get("name"), f"{path}.metric.data.attributes.name")
    if not isinstance(attrs.get("backfill", False), bool):
        raise InvalidInput("must be true or false", f"{path}.backfill")
    seconds, microsecond = event_moment(attrs.get("time"), f"{path}.time", now)
    return Event(
        metric=name,
        time=seconds,
        properties=props,
        value=_value(attrs.get("value"), f"{path}.value"),
        value_currency=_currency(attrs.get("value_currency"), f"{path}.value_currency"),
        unique_id=event_dedup.once_unique_id(props, events.unique_id(attrs.get("unique_id"), f"{path}.unique_id")),
        microsecond=microsecond,
    )


def event_time(value: Any, path: str, now: float) -> int:
    """ISO 8601 datetime (offset optional, UTC assumed), truncated to the second; None means now."""
    return event_moment(value, path, now)[0]


def event_moment(value: Any, path: str, now: float) -> tuple[int, int]:
    """event_time, and the microseconds within its second (for a dedup key by full timestamp)."""
    if value is None:
        return events.split_seconds(now)
    if not isinstance(value, str):
        raise InvalidInput(f"must be an ISO 8601 datetime string such as 2024-05-01T12:00:00Z, got {value!r}", path)
    try:
        parsed = parse_iso(value.strip())
    except ValueError:
        raise InvalidInput(f"{value!r} is not an ISO 8601 datetime (e.g. 2024-05-01T12:00:00Z)", path) from None
    return events.check_time(int(parsed.timestamp() // 1), path, now), parsed.microsecond


def _value(value: Any, path: str) -> float | None:
    if isinstance(value, str):  # the spec types it as a number; a numeric string is refused to say so
        raise InvalidInput(f"must be a number, got the string {value!r}", path)
    return events.numeric_value(value, path)


def _currency(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _CURRENCY.match(value.strip()):
        raise InvalidInput(f"must be an ISO 4217 currency code such as 'USD', got {value!r}", path)
    return value.strip().upper()


# -- JSON:API shapes --------------------------------------------------------------------------------

def resource(document: Any, path: str, type_: str) -> dict[str, Any]:
    """The top-level `data` resource object of a document, of the given type."""
    if not isinstance(document, dict):
        raise InvalidInput(f"the body must be a JSON:API document (an object with `data`), got {_kind(document)}", "")
    return _typed(document.get(path), path, type_)


def related(attrs: dict[str, Any], name: str, path: str) -> Any:
    """`attrs[name].data`, the to-one relationship-style wrapper Klaviyo uses inside attributes."""
    wrapper = _object(attrs.get(name), f"{path}.{name}", required=True)
    if "data" not in wrapper:
        raise InvalidInput("must be an object with `data`", f"{path}.{name}.data")
    return wrapper["data"]


def _typed(value: Any, path: str, type_: str) -> dict[str, Any]:
    obj = _object(value, path, required=True)
    if obj.get("type") != type_:
        raise InvalidInput(f"type must be {type_!r}, not {obj.get('type')!r}", f"{path}.type")
    return obj


def _object(value: Any, path: str, *, required: bool = False) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"must be an object, got {_kind(value)}", path)
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"must be an array, got {_kind(value)}", path)
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
