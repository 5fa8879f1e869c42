"""What the Segment-spec and PostHog wires share: traits as profile fields, the client-clock
correction, value and currency, and what an event keeps of its source and context.

The mapping tables here are the ones docs/sources.md shows; change them together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import msgspec

from footfall.domain import events, normalize
from footfall.refusals import InvalidInput
from footfall.domain.limits import Limits, check_properties
from footfall.domain.models import ProfilePatch
from footfall.timefmt import parse_iso

# Traits (Segment) and person properties (PostHog `$set`) that are profile fields, by name.
TRAIT_IDENTIFIERS: dict[str, str] = {"email": "email", "phone": "phone_number", "phone_number": "phone_number"}
TRAIT_ATTRIBUTES: dict[str, str] = {
    "firstName": "first_name", "first_name": "first_name",
    "lastName": "last_name", "last_name": "last_name",
    "title": "title",
    "company": "organization", "organization": "organization",
    "avatar": "image", "image": "image",
    "locale": "locale",
}
# Segment's `address` trait (an object) -> profile location fields.
ADDRESS_FIELDS: dict[str, str] = {
    "street": "address1", "address1": "address1", "address2": "address2", "city": "city",
    "state": "region", "region": "region", "postalCode": "zip", "postal_code": "zip", "zip": "zip",
    "country": "country",
}
# Context fields an event keeps (under the `$context` property); `ip` also becomes the profile's location ip.
CONTEXT_KEPT: tuple[str, ...] = ("ip", "userAgent", "page", "locale", "library", "campaign", "timezone", "referrer")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Source:
    """Which write key sent a request: its account, and the key's id and name (the source)."""

    account_id: str
    key_id: str
    name: str


class SharedPatches:
    """One profile patch for each run of a batch's messages with the same profile inputs.

    An SDK's batch is mostly one person's messages in a row, each with the same ids and traits: their
    patch is mapped and checked once and the run holds that one object, which the hand-off to the
    writer sends once (pickle remembers objects it has written) and the writer recognises at once
    (store/source_batch.py). Inputs are compared as JSON, so that 1, 1.0 and true differ."""

    def __init__(self) -> None:
        self._inputs: bytes | None = None
        self._patch: ProfilePatch | None = None

    def patch(self, inputs: tuple[Any, ...], build: Callable[[], ProfilePatch]) -> ProfilePatch:
        """The patch of the message before when `inputs` (all that `build` reads) are the same, else build()."""
        key = _encode(inputs)
        if self._patch is None or key != self._inputs:
            self._patch = build()  # a refusal keeps the run before as it was
            self._inputs = key
        return self._patch


class SharedContexts:
    """One `$context` dict for each run of a batch's Segment messages that keep the same context (an
    SDK sends its library, page and locale alike with every message), checked against the property
    limits once: the hand-off to the writer then sends it once (pickle remembers objects it has
    written) and the writer process reads it once. Compared as JSON, as SharedPatches' inputs are."""

    def __init__(self) -> None:
        self._key: bytes | None = None
        self._kept: dict[str, Any] | None = None

    def kept(self, context: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """(what an event keeps of `context`, whether that very dict was checked in an event before)."""
        kept = kept_context(context)
        if not kept:
            return kept, False
        key = _encode(kept)
        if key == self._key:
            return self._kept, True  # type: ignore[return-value]
        # Remembered before its event's check: if that refuses, the whole batch is refused.
        self._key, self._kept = key, kept
        return kept, False


def placed(refusal: InvalidInput, place: str) -> InvalidInput:
    """A refusal of one message of a batch, with the message's place ('batch[3]', '' for a body of
    one) in front of its path in the message ('traits.email'; '' for the whole message)."""
    path = f"{place}.{refusal.path}" if place and refusal.path else place or refusal.path
    return type(refusal)(refusal.detail, path)


def apply_traits(patch: ProfilePatch, traits: dict[str, Any], path: str, limits: Limits,
                 phone_region: str | None, *, once: bool = False) -> None:
    """Traits onto a patch: identifiers (email, phone), attributes, address, the rest as properties.

    once: PostHog's `$set_once`: properties are set only where the profile has none yet; identifiers
    are added as always (an identifier is only ever added), attributes are left to `$set`."""
    check_properties(traits, limits, path)
    for key, value in traits.items():
        where = f"{path}.{key}"
        if key in TRAIT_IDENTIFIERS:
            if value is None or value == "":
                continue  # an empty identifier changes nothing
            kind = TRAIT_IDENTIFIERS[key]
            patch.identifiers[kind] = (normalize.email(value, where) if kind == "email"
                                       else normalize.phone(value, where, phone_region))
        elif key in TRAIT_ATTRIBUTES and not once and _attribute_value(value) is not _SKIP:
            patch.attributes[TRAIT_ATTRIBUTES[key]] = _attribute_value(value)
        elif key == "address" and isinstance(value, dict) and not once:
            for name, item in value.items():
                if name in ADDRESS_FIELDS and (item is None or isinstance(item, str)):
                    patch.location[ADDRESS_FIELDS[name]] = item
                else:  # the rest of the address stays a property (over a non-object one set earlier)
                    rest = patch.properties.get("address")
                    if not isinstance(rest, dict):
                        rest = patch.properties["address"] = {}
                    rest[name] = item
        elif key == "timezone" and isinstance(value, str) and not once:
            patch.location["timezone"] = value
        elif once:
            patch.once_properties[key] = value
        else:
            patch.properties[key] = value


_SKIP = object()


def _attribute_value(value: Any) -> Any:
    """A trait bound for an attribute: a string (or None, which clears); a company object gives its
    name; anything else stays a custom property (_SKIP)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value["name"]
    return _SKIP


def identifier(value: Any, path: str) -> str | None:
    """A user / anonymous / distinct id as text (numbers accepted); None or "" means absent."""
    if value is None or value == "":
        return None
    return normalize.identifier_text(value, path)


def parse_time(value: Any, path: str) -> float | None:
    """ISO 8601 (what the SDKs send; `Z` or an offset, UTC assumed without one), or epoch
    milliseconds as a number (some clients); None when absent."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 1000.0
    if not isinstance(value, str):
        raise InvalidInput(f"must be an ISO 8601 datetime string, got {_kind(value)}", path)
    try:
        return parse_iso(value.strip()).timestamp()
    except ValueError:
        raise InvalidInput(f"{value!r} is not an ISO 8601 datetime (e.g. 2024-05-01T12:00:00.000Z)", path) from None


class Times:
    """parse_time for one request, remembering the times it read by their text: an SDK's batch sends
    one `sentAt` and, often, a run of messages with one timestamp. A few kept (the last 64 texts):
    most messages have a time of their own."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def parse(self, value: Any, path: str) -> float | None:
        if type(value) is not str:
            return parse_time(value, path)
        seen = self._seen
        seconds = seen.get(value)
        if seconds is None:
            seconds = parse_time(value, path)  # refused: nothing kept
            if len(seen) >= 64:
                seen.clear()
            seen[value] = seconds  # type: ignore[assignment]
        return seconds


def corrected_time(timestamp: float | None, sent_at: float | None, now: float, path: str,
                   *, offset_ms: float | None = None) -> int:
    """When the event happened, on the server's clock, in epoch seconds.

    With the client's send time: now - (sent_at - timestamp), so a client clock that is off moves
    both alike (Segment's and PostHog's rule). With an offset (PostHog: ms before sending): now -
    offset. With only a timestamp: as sent. With nothing: now. Then Footfall's time window applies."""
    if timestamp is not None and sent_at is not None:
        seconds = now - (sent_at - timestamp)
    elif timestamp is not None:
        seconds = timestamp
    elif offset_ms is not None:
        seconds = now - offset_ms / 1000.0
    else:
        seconds = now
    return events.check_time(int(seconds // 1), path, now)


def value_and_currency(props: dict[str, Any], path: str) -> tuple[float | None, str | None]:
    """`revenue`, else `value`, as the event value; `currency` (ISO 4217) as its currency."""
    key = "revenue" if props.get("revenue") is not None else "value"
    value = events.numeric_value(props.get(key), f"{path}.{key}")
    currency = props.get("currency")
    if currency is None or value is None:
        return value, None
    if not isinstance(currency, str) or not _CURRENCY.match(currency.strip()):
        raise InvalidInput(f"must be an ISO 4217 currency code such as 'USD', got {currency!r}", f"{path}.currency")
    return value, currency.strip().upper()


def kept_context(context: dict[str, Any]) -> dict[str, Any]:
    return {key: context[key] for key in CONTEXT_KEPT if context.get(key) is not None}


def obj(value: Any, path: str) -> dict[str, Any]:
    """An optional JSON object field: {} when absent."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"must be an object, got {_kind(value)}", path)
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


kind_of = _kind
