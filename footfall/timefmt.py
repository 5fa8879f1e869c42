"""ISO 8601 renderings of epoch seconds, as every surface writes them, and the one reading of ISO 8601 text."""

from __future__ import annotations

from datetime import datetime, timezone


def iso(seconds: float | None) -> str | None:
    """2022-11-08T01:23:45+00:00 (microseconds kept when there are any)."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


def parse_iso(text: str) -> datetime:
    """An ISO 8601 date or datetime, in UTC when it names no offset; ValueError when it is not one.
    Each caller says in its own words what it expected."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)
