"""ISO 8601 renderings of epoch seconds, as every surface writes them."""

from __future__ import annotations

from datetime import datetime, timezone


def iso(seconds: float | None) -> str | None:
    """2022-11-08T01:23:45+00:00 (microseconds kept when there are any)."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()
