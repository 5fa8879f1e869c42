"""ISO 8601 renderings of epoch seconds, as every surface writes them, and the one reading of ISO 8601 text."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from functools import lru_cache


def iso(seconds: float | None) -> str | None:
    """2022-11-08T01:23:45+00:00 (microseconds kept when there are any): what
    datetime.fromtimestamp(seconds, timezone.utc).isoformat() gives, in about half its time (the
    whole second's text is cached; every message a webhook sends carries several)."""
    if seconds is None:
        return None
    fraction, whole = math.modf(seconds)
    micros = round(fraction * 1e6)  # half to even, as datetime rounds
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    second = _second(int(whole))
    return f"{second}.{micros:06d}+00:00" if micros else f"{second}+00:00"


@lru_cache(maxsize=8192)
def _second(whole: int) -> str:
    return datetime.fromtimestamp(whole, tz=timezone.utc).replace(tzinfo=None).isoformat()


def parse_iso(text: str) -> datetime:
    """An ISO 8601 date or datetime, in UTC when it names no offset; ValueError when it is not one.
    Each caller says in its own words what it expected."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)
