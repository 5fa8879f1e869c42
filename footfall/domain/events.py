"""Rules for events: time window, value, metric name, and the dedup key."""

from __future__ import annotations

import math
from typing import Any

from footfall.domain.errors import InvalidInput

EARLIEST = 946_684_800  # 2000-01-01T00:00:00Z
ONE_YEAR = 366 * 24 * 3600
MAX_METRIC_NAME = 128
# Klaviyo's onsite script tracks page activity as `__activity__`; Klaviyo stores and shows it as this metric.
METRIC_ALIASES = {"__activity__": "Active on Site"}
TRACK_ONCE = "__track_once__"  # a property set by trackOnce(): only the first such event per profile and metric


def epoch_seconds(value: Any, path: str, now: float) -> int:
    """Legacy `time`: int, float or numeric string of epoch seconds; None means now."""
    if value is None:
        return int(now)
    if isinstance(value, bool):
        raise InvalidInput("must be a number of epoch seconds, got a boolean", path)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidInput(f"{value!r} is not a number of epoch seconds", path) from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"must be a number of epoch seconds, got {value!r}", path)
    return check_time(int(value), path, now)


def check_time(seconds: int, path: str, now: float) -> int:
    if seconds < EARLIEST:
        raise InvalidInput(f"{seconds} is before 2000-01-01", path)
    if seconds > now + ONE_YEAR:
        raise InvalidInput(f"{seconds} is more than one year in the future", path)
    return seconds


def numeric_value(value: Any, path: str) -> float | None:
    """`$value` / `value`: a number, or a numeric string."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInput("must be a number, got a boolean", path)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidInput(f"{value!r} is not a number", path) from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"must be a finite number, got {value!r}", path)
    return float(value)


def metric_name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("the metric (event) name is required and must be a non-empty string", path)
    name = value.strip()
    if "\x00" in name:
        raise InvalidInput("the metric name contains a NUL character (\\u0000)", path)
    if len(name) > MAX_METRIC_NAME:
        raise InvalidInput(f"metric name longer than {MAX_METRIC_NAME} characters", path)
    return METRIC_ALIASES.get(name, name)


def unique_id(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidInput(f"must be a string, got {type(value).__name__}", path)
    text = str(value)
    if len(text) > 512:
        raise InvalidInput("longer than 512 characters", path)
    return text


def once_unique_id(properties: dict[str, Any], unique: str | None) -> str | None:
    """The unique id of an event: `__track_once__: true` without one of its own makes the dedup key
    the same for every such event of a profile and metric, so only the first is stored."""
    if unique is None and properties.get(TRACK_ONCE) is True:
        return TRACK_ONCE
    return unique


def dedup_key(unique: str | None, time: int) -> str:
    """Klaviyo's rule: the event's unique id, or else its epoch second. Prefixed so they never collide."""
    return f"u:{unique}" if unique is not None else f"t:{time}"
