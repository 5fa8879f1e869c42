"""Ingestion limits and the check that enforces them on a decoded payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from footfall.domain.errors import InvalidInput, LimitExceeded

# PostgreSQL cannot store U+0000 in text or jsonb; refuse it on every backend alike.
NUL_REFUSED = "contains a NUL character (\\u0000), which cannot be stored"


@dataclass(frozen=True)
class Limits:
    max_metrics_per_account: int = 200
    legacy_payload_bytes: int = 1024 * 1024
    modern_payload_bytes: int = 5 * 1024 * 1024
    max_properties: int = 400
    max_string_bytes: int = 100 * 1024
    max_array_items: int = 4000
    max_depth: int = 10
    # Not a size: the rule for the dedup key of an event without a unique id, which travels with the
    # limits to every parser and applier (domain/events.DEDUP_MODES; FOOTFALL_DEDUP_WITHOUT_ID).
    dedup_without_id: str = "second"
    # Nor this: drop later events naming a person deleted while it is on (FOOTFALL_SUPPRESS_AFTER_DELETE;
    # store/deleted.py). It travels here because deletion and ingest both run in the writer, which gets the limits.
    suppress_after_delete: bool = False


def check_properties(props: dict[str, Any], limits: Limits, path: str = "properties") -> None:
    """Refuse a property object over the count, string, array or nesting limits."""
    if len(props) > limits.max_properties:
        raise LimitExceeded(
            f"{len(props)} properties, more than the limit of {limits.max_properties}", path
        )
    check_value(props, limits, path, 1)


def check_value(value: Any, limits: Limits, path: str, depth: int) -> None:
    """Walk a JSON value; depth counts the containers entered (the top object is level 1)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(NUL_REFUSED, path)
        if len(value) > limits.max_string_bytes // 4 and len(value.encode()) > limits.max_string_bytes:
            raise LimitExceeded(
                f"string of {len(value.encode())} bytes, more than the limit of {limits.max_string_bytes}",
                path,
            )
        return
    if isinstance(value, dict):
        _check_depth(depth, limits, path)
        for key, item in value.items():
            if len(key.encode()) > limits.max_string_bytes:
                raise LimitExceeded("property name too long", path)
            if "\x00" in key:
                raise InvalidInput(f"a property name {NUL_REFUSED}", path)
            check_value(item, limits, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        _check_depth(depth, limits, path)
        if len(value) > limits.max_array_items:
            raise LimitExceeded(
                f"array of {len(value)} items, more than the limit of {limits.max_array_items}", path
            )
        for i, item in enumerate(value):
            check_value(item, limits, f"{path}[{i}]", depth + 1)


def _check_depth(depth: int, limits: Limits, path: str) -> None:
    if depth > limits.max_depth:
        raise LimitExceeded(f"nested more than {limits.max_depth} levels deep", path)


def may_hold_nul(text: str) -> bool:
    """Cheap pre-check on JSON text: could a decoded string contain U+0000?"""
    return "\\u0000" in text or "\x00" in text


def reject_nul(value: Any, path: str = "") -> None:
    """Refuse U+0000 anywhere (keys or strings): PostgreSQL text and jsonb cannot store it."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(NUL_REFUSED, path or "data")
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_nul(key, path)
            reject_nul(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            reject_nul(item, f"{path}[{i}]")
