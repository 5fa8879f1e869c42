"""What an attempt's answer means and when to try again (pure: no I/O).

Only 2xx is success; a redirect is not followed and counts as a failure; 410 Gone disables the
endpoint; anything else (including a timeout or a refused connection) is tried again on the retry
schedule (Standard Webhooks': at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h), with
jitter, and never sooner than a Retry-After the endpoint asked for.
"""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass

DEFAULT_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
JITTER = 0.1  # up to ±10% of a delay
MAX_RETRY_AFTER = 86400.0


@dataclass(frozen=True)
class Verdict:
    kind: str  # "success" | "retry" | "gone"
    reason: str


def judge(status: int | None, error: str | None) -> Verdict:
    if status is None:
        return Verdict("retry", error or "no answer")
    if 200 <= status < 300:
        return Verdict("success", f"{status}")
    if status == 410:
        return Verdict("gone", "the endpoint answered 410 Gone; the webhook was disabled")
    if 300 <= status < 400:
        return Verdict("retry", f"the endpoint answered {status} (redirects are not followed)")
    return Verdict("retry", f"the endpoint answered {status}")


def next_delay(schedule: tuple[float, ...], attempts_made: int, retry_after: float | None,
               rng: random.Random | None = None) -> float | None:
    """Seconds until the next attempt after `attempts_made` failed ones; None when the schedule is spent.
    schedule[i] is the wait before attempt i+1 (schedule[0], normally 0, is the first attempt's)."""
    if attempts_made >= len(schedule):
        return None
    delay = float(schedule[attempts_made])
    if delay > 0:
        delay *= 1 + (rng or random).uniform(-JITTER, JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment is None:
        return None
    return max(0.0, moment.timestamp() - now)


def parse_schedule(text: str) -> tuple[float, ...]:
    """FOOTFALL_WEBHOOK_RETRY_SCHEDULE: comma-separated seconds, e.g. '0,5,300'."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        schedule = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"FOOTFALL_WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds, not {text!r}") from None
    if not schedule or any(s < 0 for s in schedule):
        raise ValueError(f"FOOTFALL_WEBHOOK_RETRY_SCHEDULE must list at least one delay >= 0, not {text!r}")
    return schedule
