"""Settings, read from FOOTFALL_* environment variables and overridden by CLI flags."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from footfall.domain.limits import Limits
from footfall.domain.ratelimits import RateLimitSettings, parse_overrides

DEFAULT_DATABASE_URL = "sqlite:///footfall.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    limits: Limits = field(default_factory=Limits)
    # Ingest pipeline: a bounded queue in front of one writer that commits in groups.
    queue_max_items: int = 20_000
    queue_max_bytes: int = 64 * 1024 * 1024
    batch_max_items: int = 1000
    retry_after_seconds: int = 1
    # Where phone numbers without a leading + are assumed to be (None: they are refused).
    default_phone_region: str | None = None
    sqlite_synchronous: str = "FULL"
    # Per-account rate limits (Klaviyo's tiers); counters in Redis when a URL is set, else in process.
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    redis_url: str | None = None

    def replace(self, **changes: object) -> "Settings":
        return dataclasses.replace(self, **changes)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def from_env(env: dict[str, str] | None = None) -> Settings:
    """Settings from the environment; unset variables keep their defaults."""
    e = os.environ if env is None else env
    base = Settings()
    limits = Limits(
        max_metrics_per_account=_int("FOOTFALL_MAX_METRICS", base.limits.max_metrics_per_account),
        legacy_payload_bytes=_int("FOOTFALL_LEGACY_PAYLOAD_BYTES", base.limits.legacy_payload_bytes),
        modern_payload_bytes=_int("FOOTFALL_MODERN_PAYLOAD_BYTES", base.limits.modern_payload_bytes),
        max_properties=_int("FOOTFALL_MAX_PROPERTIES", base.limits.max_properties),
        max_string_bytes=_int("FOOTFALL_MAX_STRING_BYTES", base.limits.max_string_bytes),
        max_array_items=_int("FOOTFALL_MAX_ARRAY_ITEMS", base.limits.max_array_items),
        max_depth=_int("FOOTFALL_MAX_DEPTH", base.limits.max_depth),
    )
    return Settings(
        database_url=e.get("FOOTFALL_DATABASE_URL") or base.database_url,
        host=e.get("FOOTFALL_HOST") or base.host,
        port=_int("FOOTFALL_PORT", base.port),
        workers=_int("FOOTFALL_WORKERS", base.workers),
        limits=limits,
        queue_max_items=_int("FOOTFALL_QUEUE_MAX_ITEMS", base.queue_max_items),
        queue_max_bytes=_int("FOOTFALL_QUEUE_MAX_BYTES", base.queue_max_bytes),
        batch_max_items=_int("FOOTFALL_BATCH_MAX_ITEMS", base.batch_max_items),
        default_phone_region=e.get("FOOTFALL_DEFAULT_PHONE_REGION") or None,
        sqlite_synchronous=e.get("FOOTFALL_SQLITE_SYNCHRONOUS") or base.sqlite_synchronous,
        rate_limits=_rate_limits(e, base.rate_limits),
        redis_url=e.get("FOOTFALL_REDIS_URL") or None,
    )


def _rate_limits(e, base: RateLimitSettings) -> RateLimitSettings:
    """FOOTFALL_RATE_LIMITS=off disables; _MULTIPLIER scales the tiers; _TIERS='S=5/100,…' overrides."""
    return RateLimitSettings(
        enabled=(e.get("FOOTFALL_RATE_LIMITS") or "on").lower() not in ("0", "off", "false", "no"),
        multiplier=float(e.get("FOOTFALL_RATE_LIMIT_MULTIPLIER") or base.multiplier),
        overrides=parse_overrides(e.get("FOOTFALL_RATE_LIMIT_TIERS") or ""),
        burst_window=int(e.get("FOOTFALL_RATE_LIMIT_BURST_WINDOW") or base.burst_window),
        steady_window=int(e.get("FOOTFALL_RATE_LIMIT_STEADY_WINDOW") or base.steady_window),
    )
