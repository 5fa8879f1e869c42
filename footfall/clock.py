"""The one source of "now", so tests can drive time-relative behaviour."""

from __future__ import annotations

import time

_offset = 0.0


def now() -> float:
    """Seconds since the epoch, plus any offset a test has set."""
    return time.time() + _offset


def offset() -> float:
    """The offset a test has set (the writer process is handed it with every batch)."""
    return _offset


def set_offset(seconds: float) -> None:
    global _offset
    _offset = seconds
