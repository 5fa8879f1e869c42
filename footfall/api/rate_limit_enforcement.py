"""Per-account, per-endpoint rate limits on /api and /client, answered the way Klaviyo answers them.

Admitted requests carry RateLimit-Limit / -Remaining / -Reset for the steady window; a throttled one
gets 429 `throttled` with an integer Retry-After and no RateLimit-* headers. If the counter store
(Redis) cannot be reached the request is let through unlimited and a warning logged: an outage of
the limiter must not become an outage of ingestion.
"""

from __future__ import annotations

import logging
import time

from footfall.api.app_state import Services
from footfall.refusals import RateLimited

log = logging.getLogger("footfall.ratelimit")
_WARN_EVERY = 60.0
_last_warning = 0.0


async def admit(svc: Services, account_id: str | None, method: str, path: str, tier: str) -> dict[str, str]:
    """Count one request of `account_id` on `method path`; the headers to send, or RateLimited raised."""
    limiter = svc.limiter
    if limiter is None or account_id is None:  # limits off, or a caller the route will refuse anyway
        return {}
    config = svc.settings.rate_limits
    try:
        decision = await limiter.hit(f"{account_id}:{method} {path}", config.limit(tier),
                                     config.burst_window, config.steady_window)
    except Exception as exc:  # Redis down or slow: fail open, loudly
        _warn(exc)
        return {}
    if not decision.allowed:
        raise RateLimited(decision.retry_after)  # answered through footfall/refusals.py's table
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset),
    }


def _warn(exc: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > _WARN_EVERY:
        _last_warning = now
        log.warning("rate limiter unavailable, requests are not limited: %s", exc)
