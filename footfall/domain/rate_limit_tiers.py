"""Rate limits: Klaviyo's tiers, which routes get which tier, and how settings change them.

Klaviyo limits each account per endpoint with two fixed windows, a burst window (1 s) and a steady
window (1 min). Each endpoint has one of five published tiers; the route table below gives every
Footfall route under /api and /client its tier, so route modules need not name one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple


@dataclass(frozen=True)
class Limit:
    burst: int    # requests per burst window
    steady: int   # requests per steady window


TIERS: dict[str, Limit] = {
    "XS": Limit(1, 15),
    "S": Limit(3, 60),
    "M": Limit(10, 150),
    "L": Limit(75, 700),
    "XL": Limit(350, 3500),
}

# (method, route path template) -> tier, from the spec's x-klaviyo-ratelimit values (reference 3.10).
# Where the spec's steady figure is not one of the tiers (POST /client/subscriptions 350/s·750/m,
# profiles 75/s·750/m) the nearest tier is used.
ROUTE_TIERS: dict[tuple[str, str], str] = {
    ("POST", "/client/events"): "XL",
    ("POST", "/client/profiles"): "XL",
    ("POST", "/client/subscriptions"): "XL",
    ("POST", "/client/event-bulk-create"): "M",
    ("GET", "/api/events"): "XL",
    ("POST", "/api/events"): "XL",
    ("GET", "/api/events/{id}"): "M",
    ("GET", "/api/events/{id}/metric"): "M",
    ("GET", "/api/events/{id}/profile"): "M",
    ("GET", "/api/events/{id}/relationships/metric"): "M",
    ("GET", "/api/events/{id}/relationships/profile"): "M",
    ("POST", "/api/event-bulk-create-jobs"): "M",
    ("GET", "/api/event-bulk-create-jobs/{id}"): "L",
    ("GET", "/api/metrics"): "M",
    ("GET", "/api/metrics/{id}"): "M",
    ("POST", "/api/metric-aggregates"): "S",
    ("GET", "/api/profiles"): "L",
    ("POST", "/api/profiles"): "L",
    ("GET", "/api/profiles/{id}"): "L",
    ("PATCH", "/api/profiles/{id}"): "L",
    ("POST", "/api/profile-import"): "L",
    ("POST", "/api/profile-subscription-bulk-create-jobs"): "L",   # 75/s, 700/m in Klaviyo's spec
    ("POST", "/api/profile-subscription-bulk-delete-jobs"): "L",
    ("POST", "/api/profile-merge"): "M",
    ("GET", "/api/profiles/{id}/lists"): "S",
    ("GET", "/api/profiles/{id}/segments"): "S",
    ("POST", "/api/data-privacy-deletion-jobs"): "S",
    ("GET", "/api/data-privacy-deletion-jobs"): "L",
    ("GET", "/api/data-privacy-deletion-jobs/{id}"): "L",
    ("POST", "/api/profile-suppression-bulk-create-jobs"): "L",
    ("GET", "/api/profile-suppression-bulk-create-jobs"): "L",
    ("GET", "/api/profile-suppression-bulk-create-jobs/{id}"): "L",
    ("POST", "/api/profile-suppression-bulk-delete-jobs"): "L",
    ("GET", "/api/profile-suppression-bulk-delete-jobs"): "L",
    ("GET", "/api/profile-suppression-bulk-delete-jobs/{id}"): "L",
    ("POST", "/api/profile-bulk-import-jobs"): "M",
    ("GET", "/api/profile-bulk-import-jobs"): "M",
    ("GET", "/api/profile-bulk-import-jobs/{id}"): "M",
    ("GET", "/api/segments"): "L",
    ("POST", "/api/segments"): "XS",
    ("GET", "/api/segments/{id}"): "L",
    ("PATCH", "/api/segments/{id}"): "M",
    ("DELETE", "/api/segments/{id}"): "M",
    ("GET", "/api/segments/{id}/profiles"): "L",
    ("GET", "/api/lists"): "L",
    ("POST", "/api/lists"): "M",
    ("GET", "/api/lists/{id}"): "L",
    ("PATCH", "/api/lists/{id}"): "M",
    ("DELETE", "/api/lists/{id}"): "M",
    ("GET", "/api/lists/{id}/profiles"): "L",
    ("POST", "/api/lists/{id}/relationships/profiles"): "M",
    ("DELETE", "/api/lists/{id}/relationships/profiles"): "M",
    # Klaviyo's webhook routes are all 1/s burst, 15/m steady.
    **{(m, p): "XS" for m, p in (("GET", "/api/webhooks"), ("POST", "/api/webhooks"), ("GET", "/api/webhooks/{id}"),
                                 ("PATCH", "/api/webhooks/{id}"), ("DELETE", "/api/webhooks/{id}"),
                                 ("GET", "/api/webhook-topics"), ("GET", "/api/webhook-topics/{id}"))},
}

# A route missing from the table: reads get L, writes M (the tiers most Klaviyo endpoints have).
DEFAULT_TIER = {"GET": "L", "HEAD": "L"}
DEFAULT_WRITE_TIER = "M"

_PARAM = re.compile(r"\{[^}]+\}")


def tier_for(method: str, path: str) -> str:
    """The tier of a route, given its path template (`{id}` or any `{name}` placeholder)."""
    key = (method.upper(), _PARAM.sub("{id}", path.rstrip("/") or "/"))
    return ROUTE_TIERS.get(key) or DEFAULT_TIER.get(key[0], DEFAULT_WRITE_TIER)


@dataclass(frozen=True)
class RateLimitSettings:
    """enabled=False turns limiting off; multiplier scales every tier; overrides replace tiers."""

    enabled: bool = True
    multiplier: float = 1.0
    overrides: dict[str, Limit] = field(default_factory=dict)
    burst_window: int = 1    # seconds
    steady_window: int = 60  # seconds

    def limit(self, tier: str) -> Limit:
        # Asked on every rate-limited request: each tier's Limit is worked out once per settings
        # (they are frozen; a Limit is too, so one can be shared).
        known = self._limits.get(tier)
        return known if known is not None else self._limit(tier)

    @cached_property
    def _limits(self) -> dict[str, Limit]:  # cached_property writes the instance dict, past frozen's __setattr__
        return {tier: self._limit(tier) for tier in TIERS}

    def _limit(self, tier: str) -> Limit:
        if tier in self.overrides:
            return self.overrides[tier]
        base = TIERS[tier]
        return Limit(max(1, round(base.burst * self.multiplier)), max(1, round(base.steady * self.multiplier)))


def parse_overrides(text: str) -> dict[str, Limit]:
    """'S=5/100,XS=2/30' -> {'S': Limit(5, 100), 'XS': Limit(2, 30)} (burst/steady per tier)."""
    out: dict[str, Limit] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        tier, _, figures = part.partition("=")
        burst, _, steady = figures.partition("/")
        tier = tier.strip().upper()
        if tier not in TIERS or not burst.strip().isdigit() or not steady.strip().isdigit():
            raise ValueError(f"bad rate limit override {part!r}: use TIER=BURST/STEADY, TIER one of {', '.join(TIERS)}")
        out[tier] = Limit(int(burst), int(steady))
    return out


class Decision(NamedTuple):
    """The answer for one request: allowed or not, and what to tell the client. A NamedTuple, made
    once per rate-limited request: a frozen dataclass's __init__ sets each field through
    object.__setattr__ (callgrind: ~4k instructions per request more)."""

    allowed: bool
    limit: int          # steady-window limit (RateLimit-Limit)
    remaining: int      # left in the steady window after this request
    reset: int          # whole seconds until the steady window resets
    retry_after: int    # whole seconds until a throttled request may succeed (0 when allowed)
