"""The few objects every wire format is decoded into, and what the store answers."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

_T = TypeVar("_T")


def compact_pickle(cls: type[_T]) -> type[_T]:
    """Pickled as the class and its fields' values in order (a tuple), not as an instance dict: every
    operation crosses to the writer process pickled, and its results come back so (ingest/
    writer_process.py). Dumps 5.6 -> 3.5 µs and loads 6.4 -> 2.6 µs per track operation. For a
    dataclass whose fields are all arguments of its __init__; a subclass pickles as usual.

    The track operation's classes (ProfilePatch, Event, TrackOp) also have __slots__: the writer reads
    a group of them as msgpack (ingest/writer_process.decode_message), and msgspec sets each field of
    a slotted instance without building its instance dict (callgrind per legacy track op: 30.2k ->
    23.4k instructions; pickle's loads 19.4k -> 18.9k, its dumps 29.1k -> 27.0k)."""
    values = operator.attrgetter(*(f.name for f in fields(cls)))  # type: ignore[arg-type]
    default = object.__reduce_ex__

    def __reduce_ex__(self: Any, protocol: int) -> Any:
        return (cls, values(self)) if type(self) is cls else default(self, protocol)

    cls.__reduce_ex__ = __reduce_ex__  # type: ignore[method-assign]
    return cls

# Identifier kinds, in the order identity resolution tries them (the first match wins).
IDENTIFIER_ORDER: tuple[str, ...] = ("external_id", "email", "phone_number", "anonymous_id", "exchange_id")
# Kinds a profile holds at most one of; the others (device-like ids) may be many per profile.
SINGLE_VALUED: frozenset[str] = frozenset({"external_id", "email", "phone_number"})

PROFILE_ATTRIBUTES: tuple[str, ...] = ("first_name", "last_name", "organization", "title", "locale", "image")
LOCATION_FIELDS: tuple[str, ...] = (
    "address1", "address2", "city", "region", "country", "zip", "timezone", "latitude", "longitude", "ip",
)
CONSENT_CHANNELS: tuple[str, ...] = ("email", "sms", "web", "directmail", "mobile", "push", "whatsapp")


@compact_pickle
@dataclass(slots=True)
class ProfilePatch:
    """A change to one person: who they are (identifiers) and what to set on them.

    In `attributes`, `location` and `properties` a value of None clears the field; an absent key
    leaves it unchanged.
    """

    identifiers: dict[str, str] = field(default_factory=dict)
    profile_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    location: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    unset_properties: list[str] = field(default_factory=list)
    # Set only where the profile has no value yet (PostHog's `$set_once`).
    once_properties: dict[str, Any] = field(default_factory=dict)
    append_properties: dict[str, Any] = field(default_factory=dict)
    unappend_properties: dict[str, Any] = field(default_factory=dict)
    consent: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Subscribe / unsubscribe / suppress / unsuppress, applied in order after `consent` (domain/consent.py).
    consent_changes: list[Any] = field(default_factory=list)
    # Private-key writes may change an identifier the profile already has; public-key writes only add.
    may_replace_identifiers: bool = False
    # An exchange id ("<token>.<public key>") to give the profile unless it has one with that suffix
    # already; the one it ends up with is WriteResult.exchange_id (onsite identify, links in emails).
    mint_exchange_id: str | None = None

    def identifies(self) -> bool:
        return bool(self.profile_id or any(self.identifiers.values()))


@compact_pickle
@dataclass(slots=True)
class Event:
    metric: str
    time: int
    properties: dict[str, Any] = field(default_factory=dict)
    value: float | None = None
    value_currency: str | None = None
    unique_id: str | None = None
    # The fraction of `time`'s second as sent (stored events keep whole seconds): only a dedup key by
    # full timestamp reads it (domain/event_dedup.dedup_key).
    microsecond: int = 0


@compact_pickle
@dataclass(slots=True)
class TrackOp:
    """One unit of ingest work: a profile change, with an event for track and none for identify."""

    account_id: str
    profile: ProfilePatch
    event: Event | None = None
    size: int = 0  # bytes of the request, for the queue's memory bound


@compact_pickle
@dataclass
class WriteResult:
    profile_id: str
    event_id: str | None = None
    duplicate: bool = False
    profile_created: bool = False
    warnings: list[str] = field(default_factory=list)
    exchange_id: str | None = None  # when the patch asked for one (ProfilePatch.mint_exchange_id)
    # Not stored: the event named a deleted person (suppress after delete); profile_id is then "".
    dropped: bool = False

    # What each kind of result says of its events, for the ingest metrics (app._count_events).
    @property
    def events_stored(self) -> int:
        return int(self.event_id is not None and not self.duplicate and not self.dropped)

    @property
    def events_duplicate(self) -> int:
        return int(self.event_id is not None and self.duplicate)
