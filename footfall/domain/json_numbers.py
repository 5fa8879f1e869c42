"""JSON numbers as JSON Schema (and so the OpenAPI document) reads them: 2 and 2.0 are the same integer."""

from __future__ import annotations

from typing import Any


def whole_number(value: Any) -> int | None:
    """value as an int if it is a JSON integer (2, or 2.0 as some encoders write it), else None (booleans too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
