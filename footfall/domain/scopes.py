"""API key scopes: read and write per resource family."""

from __future__ import annotations

FAMILIES: tuple[str, ...] = (
    "accounts", "events", "metrics", "profiles", "lists", "segments", "subscriptions", "data-privacy", "webhooks",
)
ALL_SCOPES: tuple[str, ...] = tuple(f"{family}:{mode}" for family in FAMILIES for mode in ("read", "write"))
READ_ONLY: tuple[str, ...] = tuple(f"{family}:read" for family in FAMILIES)


def allows(scopes: list[str] | tuple[str, ...], family: str, mode: str) -> bool:
    """A write scope implies read on the same family, as in Klaviyo."""
    if f"{family}:{mode}" in scopes:
        return True
    return mode == "read" and f"{family}:write" in scopes


def parse(text: str) -> tuple[str, ...]:
    """'all', 'read' or a comma list like 'events:read,profiles:write'."""
    if text in ("all", "full", "*"):
        return ALL_SCOPES
    if text in ("read", "read-only"):
        return READ_ONLY
    scopes = tuple(s.strip() for s in text.split(",") if s.strip())
    for scope in scopes:
        family, _, mode = scope.partition(":")
        if family not in FAMILIES or mode not in ("read", "write"):
            raise ValueError(f"unknown scope {scope!r}: use FAMILY:read or FAMILY:write, FAMILY one of {', '.join(FAMILIES)}")
    return scopes
