"""Rules for events: time window, value, metric name (the dedup key: domain/event_dedup.py)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from footfall.refusals import InvalidInput
from footfall.domain.limits import METRIC_NAME_CHARS as MAX_METRIC_NAME, UNIQUE_ID_CHARS

EARLIEST = 946_684_800  # 2000-01-01T00:00:00Z
ONE_YEAR = 366 * 24 * 3600
# Klaviyo's onsite script tracks page activity as `__activity__`; Klaviyo stores and shows it as this metric.
METRIC_ALIASES = {"__activity__": "Active on Site"}


def epoch_seconds(value: Any, path: str, now: float) -> tuple[int, int]:
    """Legacy `time`: int, float or numeric string of epoch seconds; None means now.

    Returns (seconds, microseconds within that second): the event is stored to the second, and the
    fraction is kept only for a dedup key by full timestamp."""
    if value is None:
        return split_seconds(now)
    if isinstance(value, bool):
        raise InvalidInput("must be a number of epoch seconds, got a boolean", path)
    if isinstance(value, str):
        try:
            exact = Decimal(value.strip())  # not float: "1700000000.000001" keeps its last digit
        except ArithmeticError:  # InvalidOperation, or Overflow beyond the context's exponent range
            raise InvalidInput(f"{value!r} is not a number of epoch seconds", path) from None
        if exact.is_finite() and exact.adjusted() < 15:  # beyond: a float, never a huge int (1e999999999)
            seconds = math.floor(exact)
            return check_time(seconds, path, now), min(int((exact - seconds) * 1_000_000), 999_999)
        value = float(exact)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"must be a number of epoch seconds, got {value!r}", path)
    seconds, micros = split_seconds(value)
    return check_time(seconds, path, now), micros


def split_seconds(value: float) -> tuple[int, int]:
    """(whole epoch seconds, microseconds within them) of a number of epoch seconds."""
    seconds = math.floor(value)
    return int(seconds), min(round((value - seconds) * 1_000_000), 999_999)


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
    if len(text) > UNIQUE_ID_CHARS:
        raise InvalidInput(f"longer than {UNIQUE_ID_CHARS} characters", path)
    return text


