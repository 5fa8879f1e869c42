"""Where dedup is decided: which stored event a retry or a repeat is, in one place.

An event is stored once per (account, profile, metric, dedup key): the key below, the unique
constraint store/schema.py declares on DEDUP_COLUMNS, and the insert that falls back to reading
the stored copy (store/event_rows.insert_event) all follow it. Within one bulk request, a
unique_id repeated for a profile and metric refuses the request (repeated_unique_id).
"""

from __future__ import annotations

from typing import Any

# The unique constraint on events (store/schema.py) and the ON CONFLICT target of the insert.
DEDUP_COLUMNS = ("account_id", "profile_id", "metric_id", "dedup_key")
DEDUP_CONSTRAINT = "uq_events_dedup"

TRACK_ONCE = "__track_once__"  # a property set by trackOnce(): only the first such event per profile and metric


# How an event without a unique id is deduplicated (FOOTFALL_DEDUP_WITHOUT_ID): by its epoch second
# (Klaviyo's rule, the default) or by its full timestamp as sent, to the microsecond.
DEDUP_BY_SECOND = "second"
DEDUP_BY_TIMESTAMP = "timestamp"
DEDUP_MODES = (DEDUP_BY_SECOND, DEDUP_BY_TIMESTAMP)


def dedup_key(unique: str | None, time: int, microsecond: int = 0, by: str = DEDUP_BY_SECOND) -> str:
    """The one place an event's dedup key is decided. Klaviyo's rule: the event's unique id, or else
    its epoch second. By timestamp, an event without an id whose time has a fraction of a second is
    keyed to the microsecond instead (a whole-second time keeps the same key under both rules, so
    switching rules never makes a retry of such an event a second copy). Prefixed: never collide."""
    if unique is not None:
        return f"u:{unique}"
    if by == DEDUP_BY_TIMESTAMP and microsecond:
        return f"t:{time}.{microsecond:06d}"
    return f"t:{time}"


def once_unique_id(properties: dict[str, Any], unique: str | None) -> str | None:
    """The unique id of an event: `__track_once__: true` without one of its own makes the dedup key
    the same for every such event of a profile and metric, so only the first is stored."""
    if unique is None and properties.get(TRACK_ONCE) is True:
        return TRACK_ONCE
    return unique


def repeated_unique_id(seen: set[tuple[str, str, str]], profile_id: str, metric_id: str, unique: str | None) -> bool:
    """Klaviyo's bulk rule: a unique_id repeated for the same profile and metric in one request fails it.

    Records the key in `seen`; True when it was there already. Events without a unique_id never repeat here.
    """
    if unique is None:
        return False
    key = (profile_id, metric_id, unique)
    if key in seen:
        return True
    seen.add(key)
    return False
