"""PostHog capture (`/capture/`, `/batch/`, `/e/`, `/i/v0/e/`): events as TrackOps.

`distinct_id` is the external id, except for PostHog's personless events
(`$process_person_profile: false`, what the SDKs send for an anonymous visitor), whose distinct id
is an anonymous id. `$identify` ties `$anon_distinct_id` (an anonymous id) to the distinct id and
`$create_alias` ties the distinct id to `alias` the same way: an anonymous-only profile is merged
into the identified one, two identified profiles never are. `$set` / `$set_once` / `$unset` change
the profile (email and phone there are identifiers); `$identify`, `$create_alias`, `$set` and `$set_once` store
no event, every other event is stored under its own name.
"""

from __future__ import annotations

from typing import Any

from footfall import ids
from footfall.domain import events
from footfall.refusals import InvalidInput
from footfall.domain.limits import Limits, check_properties
from footfall.domain.models import Event, ProfilePatch, TrackOp
from footfall.wire.sources import (
    SharedPatches,
    Source,
    apply_traits,
    corrected_time,
    identifier,
    Times,
    kind_of,
    obj,
    placed,
    value_and_currency,
)

PROFILE_ONLY = frozenset({"$identify", "$create_alias", "$set", "$set_once"})
# The event names whose patch is their own, and what else _patch reads (of the properties, of the event).
_PATCH_NAMES = frozenset({"$identify", "$create_alias", "$groupidentify"})
_PERSON_KEYS = ("$set", "$set_once", "$unset")
_PATCH_PROPERTIES = ("$process_person_profile", "$anon_distinct_id", "alias", "$ip", *_PERSON_KEYS)
# Properties that are instructions, not data (and `token`, the source key, which is never stored).
_CONTROL = frozenset({"$set", "$set_once", "$unset", "token", "$token", "api_key", "distinct_id",
                      "$anon_distinct_id", "alias"})


def api_key_of(body: Any) -> str | None:
    """The project key of a body: `api_key` / `token` at the top, or in the first event (or its properties)."""
    candidates: list[Any] = []
    if isinstance(body, dict):
        candidates += [body.get("api_key"), body.get("token")]
        first = body.get("batch")
        first = first[0] if isinstance(first, list) and first else body
    elif isinstance(body, list) and body:
        first = body[0]
    else:
        first = None
    if isinstance(first, dict):
        props = first.get("properties")
        candidates += [first.get("api_key"), first.get("token")]
        if isinstance(props, dict):
            candidates += [props.get("token"), props.get("$token")]
    return next((c for c in candidates if isinstance(c, str) and c), None)


def events_of(body: Any) -> tuple[list[Any], str]:
    """The events of a body and the path of their list: `{"batch": [...]}`, `[...]` or one event."""
    if isinstance(body, dict) and "batch" in body:
        items = body["batch"]
        if not isinstance(items, list):
            raise InvalidInput(f"must be an array of events, got {kind_of(items)}", "batch")
        return items, "batch"
    if isinstance(body, list):
        return body, ""
    if isinstance(body, dict):
        return [body], "-"
    raise InvalidInput(f"the body must be an event object, an array of events or {{\"batch\": [...]}}, "
                       f"got {kind_of(body)}", "")


def decode(body: Any, source: Source, limits: Limits, now: float, *, phone_region: str | None = None,
           body_bytes: int | None = None) -> tuple[list[TrackOp], list[str]]:
    """A capture body -> (ops, paths); `sent_at` of the body applies to every event without its own.

    body_bytes: the size of the JSON text `body` was read from by source_body.json_value (which refuses
    a NUL anywhere in it); within the string limit, no string can exceed that
    (limits.check_properties, strings_checked)."""
    items, where = events_of(body)
    if not items:
        raise InvalidInput("at least one event is required", where if where != "-" else "")
    times = Times()
    sent_at = times.parse(body.get("sent_at"), "sent_at") if isinstance(body, dict) else None
    strings_checked = body_bytes is not None and body_bytes <= limits.max_string_bytes
    decode_event = _Events(source, limits, now, sent_at, phone_region, strings_checked, times).decode
    ops, paths = [], []
    for i, item in enumerate(items):
        path = "" if where == "-" else (f"{where}[{i}]" if where else f"[{i}]")
        try:
            ops.append(decode_event(item))
        except InvalidInput as exc:
            raise placed(exc, path) from None
        paths.append(path)
    return ops, paths


class _Events:
    """The events of one request, decoded in order: refusals name a field of the event
    ('properties.$set.email'). A run of events for one person maps its profile part once (one patch
    object: SharedPatches), and a time is read once for the request (Times)."""

    def __init__(self, source: Source, limits: Limits, now: float, sent_at: float | None,
                 phone_region: str | None, strings_checked: bool, times: Times) -> None:
        self.source, self.limits, self.now, self.sent_at = source, limits, now, sent_at
        self.phone_region, self.strings_checked, self.times = phone_region, strings_checked, times
        self.patches = SharedPatches()

    def decode(self, item: Any) -> TrackOp:
        if not isinstance(item, dict):
            raise InvalidInput(f"an event must be an object, got {kind_of(item)}", "")
        name = events.metric_name(item.get("event"), "event")
        props = item.get("properties")
        if props is None:
            props = {}
        elif not isinstance(props, dict):
            raise InvalidInput(f"must be an object, got {kind_of(props)}", "properties")
        patch = self.patches.patch(_profile_inputs(name, item, props),
                                   lambda: _patch(name, item, props, self.limits, self.phone_region))
        if name in PROFILE_ONLY:
            return TrackOp(self.source.account_id, patch, None)
        return TrackOp(self.source.account_id, patch, self._event(name, item, props))

    def _event(self, name: str, item: dict[str, Any], props: dict[str, Any]) -> Event:
        kept = dict(props)
        for key in _CONTROL.intersection(props):
            del kept[key]
        value, currency = value_and_currency(kept, "properties")
        kept["$source"] = self.source.key_id
        check_properties(kept, self.limits, "properties", strings_checked=self.strings_checked)
        times = self.times
        timestamp = times.parse(item.get("timestamp"), "timestamp")
        own_sent = times.parse(item.get("sent_at"), "sent_at")
        offset = item.get("offset")
        if offset is not None and (isinstance(offset, bool) or not isinstance(offset, (int, float))):
            raise InvalidInput(f"must be a number of milliseconds, got {kind_of(offset)}", "offset")
        sent = None if props.get("$ignore_sent_at") is True else (own_sent if own_sent is not None else self.sent_at)
        return Event(
            name,
            corrected_time(timestamp, sent, self.now, "timestamp", offset_ms=offset),
            kept,
            value,
            currency,
            events.unique_id(item.get("uuid"), "uuid") or ids.new_ulid(),
        )


def _profile_inputs(name: str, item: dict[str, Any], props: dict[str, Any]) -> tuple[Any, ...]:
    """Everything _patch reads of an event (equal inputs, equal patch)."""
    return (name if name in _PATCH_NAMES else None, _distinct_id(item, props),
            *map(props.get, _PATCH_PROPERTIES), *map(item.get, _PERSON_KEYS))


def _distinct_id(item: dict[str, Any], props: dict[str, Any]) -> Any:
    return item.get("distinct_id", item.get("$distinct_id", props.get("distinct_id")))


def _patch(name: str, item: dict[str, Any], props: dict[str, Any], limits: Limits,
           region: str | None) -> ProfilePatch:
    """The profile part of an event: who (the distinct id, an alias), `$set` and the rest, the ip."""
    distinct = identifier(_distinct_id(item, props), "distinct_id")
    if distinct is None:
        raise InvalidInput("`distinct_id` is required", "distinct_id")
    patch = ProfilePatch()
    if name == "$groupidentify" or props.get("$process_person_profile") is False:
        patch.identifiers["anonymous_id"] = distinct  # personless: nobody identified
    else:
        patch.identifiers["external_id"] = distinct
    if name == "$identify":
        anon = identifier(props.get("$anon_distinct_id"), "properties.$anon_distinct_id")
        if anon is not None and anon != distinct:
            patch.identifiers["anonymous_id"] = anon
    elif name == "$create_alias":
        alias = identifier(props.get("alias"), "properties.alias")
        if alias is None:
            raise InvalidInput("$create_alias needs `alias` in its properties", "properties.alias")
        if alias != distinct:  # the alias is the identified id; the distinct id the one it absorbs
            patch.identifiers = {"external_id": alias, "anonymous_id": distinct}
    _person(patch, item, props, limits, region)
    if isinstance(props.get("$ip"), str) and props["$ip"]:
        patch.location.setdefault("ip", props["$ip"])
    return patch


def _person(patch: ProfilePatch, item: dict[str, Any], props: dict[str, Any], limits: Limits,
            region: str | None) -> None:
    """`$set` / `$set_once` / `$unset`, at the top of the event (posthog-python's set()) or in its properties."""
    for key, once in (("$set", False), ("$set_once", True)):
        for holder, where in ((item, key), (props, f"properties.{key}")):
            if holder.get(key) is not None:
                apply_traits(patch, obj(holder[key], where), where, limits, region, once=once)
    for holder, where in ((item, "$unset"), (props, "properties.$unset")):
        unset = holder.get("$unset")
        if unset is None:
            continue
        if not isinstance(unset, list) or not all(isinstance(k, str) for k in unset):
            raise InvalidInput("must be an array of property names", where)
        patch.unset_properties.extend(unset)
