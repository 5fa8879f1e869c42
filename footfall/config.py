"""Settings, read from FOOTFALL_* environment variables and overridden by CLI flags."""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass, field
from typing import Mapping

from footfall.domain.event_dedup import DEDUP_MODES
from footfall.domain.limits import Limits
from footfall.domain.rate_limit_tiers import RateLimitSettings, parse_overrides
from footfall.webhooks.policy import DEFAULT_SCHEDULE as DEFAULT_RETRY_SCHEDULE, parse_schedule
from footfall.failures import ConfigError

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
    # A handler waits at most this long for its commit (then 503; the op may still commit later),
    # and a writer stuck in one commit for over store_stall_seconds makes new work get 503 at once.
    ack_timeout_seconds: float = 5.0
    store_stall_seconds: float = 2.0
    # While the event loop runs this far behind its timers, new ingest work is refused at once: the
    # HTTP front is the bottleneck and admitting more only makes every answer later. 0 turns it off.
    loop_lag_limit_seconds: float = 0.25
    # Where phone numbers without a leading + are assumed to be (None: they are refused).
    default_phone_region: str | None = None
    sqlite_synchronous: str = "FULL"
    # Segments: how often time-relative conditions are re-checked at the latest (and a clock jump noticed).
    segment_sweep_seconds: float = 60.0
    # Per-account rate limits (Klaviyo's tiers); counters in Redis when a URL is set, else in process.
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    redis_url: str | None = None
    # Slow clients: the longest to send a request head / a body, idle time between requests, and the
    # most connections (beyond it, 503). See footfall/serving.py.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    keepalive_timeout_seconds: float = 5.0
    max_connections: int = 4096
    # Key guessing: unknown keys allowed per client address per window, then 429 (api/keyguard.py).
    unknown_key_budget: int = 100
    unknown_key_window_seconds: float = 60.0
    # Webhooks and the live stream (footfall/webhooks/).
    webhook_allow: str = ""  # hosts and CIDR networks that may be private / loopback and plain http
    webhook_retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    webhook_timeout_seconds: float = 15.0
    webhook_disable_after_seconds: float = 5 * 86400.0  # failing this long disables the endpoint
    webhook_batch_size: int = 100  # messages per request (Klaviyo envelope)
    webhook_linger_seconds: float = 0.1  # a batch not yet full waits this long for more (fewer, fuller requests)
    webhook_poll_seconds: float = 1.0  # how soon another worker's or host's commits are noticed
    webhook_lease_seconds: float = 10.0  # a killed deliverer's webhooks are taken over this long after
    # How much lower the deliverer process's CPU priority is than its worker's (os.nice): on a busy
    # core ingest runs first and delivery takes the time left (its batches fill up meanwhile).
    webhook_deliverer_nice: int = 10
    outbox_retention_seconds: float = 7 * 86400.0  # the stream's resumable window, and replays'
    # PostgreSQL: how often a worker looks for tables grown past their planner statistics, and
    # analyses them (store/statistics.py); 0: never, autovacuum alone.
    analyze_check_seconds: float = 5.0
    public_url: str | None = None  # base of links in payloads (default http://host:port)
    # Proxies (addresses or CIDR networks) whose X-Forwarded-For names the client (for `$use_ip`);
    # from anyone else the header is ignored. FOOTFALL_TRUSTED_PROXIES, comma-separated.
    trusted_proxies: tuple[str, ...] = ()
    # Operating (footfall/observability/): one access-log line per request, text or JSON; Prometheus
    # metrics at /metrics (on the main port only with a bearer token; or on a port of its own).
    access_log: bool = False
    log_format: str = "text"  # text | json
    metrics: bool = True
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    metrics_token: str | None = None
    # The directory `footfall serve` owns for its workers' heartbeats and metrics files (None: this
    # process is the only one, e.g. an in-process test server).
    run_dir: str | None = None

    def replace(self, **changes: object) -> "Settings":
        return dataclasses.replace(self, **changes)


def _env_number(env: Mapping[str, str], cast: type, name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return cast(raw)
    except ValueError:
        kind = "a whole number" if cast is int else "a number"
        raise ConfigError(f"{name}={raw!r} is not {kind}") from None


def check_port(port: int, source: str) -> int:
    """A TCP port, 1..65535 (ConfigError naming where it came from otherwise)."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"{source} {port} is not a port: use 1..65535")
    return port


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment; unset variables keep their defaults."""
    e = os.environ if env is None else env
    # every number from the same mapping as the rest
    _int = functools.partial(_env_number, e, int)
    _float = functools.partial(_env_number, e, float)
    base = Settings()
    limits = Limits(
        max_metrics_per_account=_int("FOOTFALL_MAX_METRICS", base.limits.max_metrics_per_account),
        legacy_payload_bytes=_int("FOOTFALL_LEGACY_PAYLOAD_BYTES", base.limits.legacy_payload_bytes),
        modern_payload_bytes=_int("FOOTFALL_MODERN_PAYLOAD_BYTES", base.limits.modern_payload_bytes),
        max_properties=_int("FOOTFALL_MAX_PROPERTIES", base.limits.max_properties),
        max_string_bytes=_int("FOOTFALL_MAX_STRING_BYTES", base.limits.max_string_bytes),
        max_array_items=_int("FOOTFALL_MAX_ARRAY_ITEMS", base.limits.max_array_items),
        max_depth=_int("FOOTFALL_MAX_DEPTH", base.limits.max_depth),
        dedup_without_id=_dedup_mode(e.get("FOOTFALL_DEDUP_WITHOUT_ID") or base.limits.dedup_without_id),
        suppress_after_delete=_env_switch(e, "FOOTFALL_SUPPRESS_AFTER_DELETE", base.limits.suppress_after_delete),
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
        ack_timeout_seconds=_float("FOOTFALL_ACK_TIMEOUT_SECONDS", base.ack_timeout_seconds),
        store_stall_seconds=_float("FOOTFALL_STORE_STALL_SECONDS", base.store_stall_seconds),
        loop_lag_limit_seconds=_float("FOOTFALL_LOOP_LAG_LIMIT_SECONDS", base.loop_lag_limit_seconds),
        default_phone_region=e.get("FOOTFALL_DEFAULT_PHONE_REGION") or None,
        sqlite_synchronous=e.get("FOOTFALL_SQLITE_SYNCHRONOUS") or base.sqlite_synchronous,
        segment_sweep_seconds=_float("FOOTFALL_SEGMENT_SWEEP_SECONDS", base.segment_sweep_seconds),
        rate_limits=_rate_limits(e, base.rate_limits),
        redis_url=e.get("FOOTFALL_REDIS_URL") or None,
        header_timeout_seconds=_float("FOOTFALL_HEADER_TIMEOUT_SECONDS", base.header_timeout_seconds),
        body_timeout_seconds=_float("FOOTFALL_BODY_TIMEOUT_SECONDS", base.body_timeout_seconds),
        keepalive_timeout_seconds=_float("FOOTFALL_KEEPALIVE_TIMEOUT_SECONDS", base.keepalive_timeout_seconds),
        max_connections=_int("FOOTFALL_MAX_CONNECTIONS", base.max_connections),
        unknown_key_budget=_int("FOOTFALL_UNKNOWN_KEY_BUDGET", base.unknown_key_budget),
        unknown_key_window_seconds=_float("FOOTFALL_UNKNOWN_KEY_WINDOW_SECONDS", base.unknown_key_window_seconds),
        webhook_allow=e.get("FOOTFALL_WEBHOOK_ALLOW") or "",
        webhook_retry_schedule=(parse_schedule(e["FOOTFALL_WEBHOOK_RETRY_SCHEDULE"])
                                if e.get("FOOTFALL_WEBHOOK_RETRY_SCHEDULE") else base.webhook_retry_schedule),
        webhook_timeout_seconds=_float("FOOTFALL_WEBHOOK_TIMEOUT_SECONDS", base.webhook_timeout_seconds),
        webhook_disable_after_seconds=_float("FOOTFALL_WEBHOOK_DISABLE_AFTER_SECONDS",
                                             base.webhook_disable_after_seconds),
        webhook_batch_size=_int("FOOTFALL_WEBHOOK_BATCH_SIZE", base.webhook_batch_size),
        webhook_linger_seconds=_float("FOOTFALL_WEBHOOK_LINGER_SECONDS", base.webhook_linger_seconds),
        webhook_poll_seconds=_float("FOOTFALL_WEBHOOK_POLL_SECONDS", base.webhook_poll_seconds),
        webhook_lease_seconds=_float("FOOTFALL_WEBHOOK_LEASE_SECONDS", base.webhook_lease_seconds),
        webhook_deliverer_nice=_int("FOOTFALL_WEBHOOK_DELIVERER_NICE", base.webhook_deliverer_nice),
        outbox_retention_seconds=_float("FOOTFALL_OUTBOX_RETENTION_SECONDS", base.outbox_retention_seconds),
        analyze_check_seconds=_float("FOOTFALL_ANALYZE_CHECK_SECONDS", base.analyze_check_seconds),
        public_url=e.get("FOOTFALL_PUBLIC_URL") or None,
        trusted_proxies=tuple(p.strip() for p in (e.get("FOOTFALL_TRUSTED_PROXIES") or "").split(",") if p.strip()),
        access_log=_env_switch(e, "FOOTFALL_ACCESS_LOG", base.access_log),
        log_format=_log_format(e.get("FOOTFALL_LOG_FORMAT") or base.log_format),
        metrics=_env_switch(e, "FOOTFALL_METRICS", base.metrics),
        metrics_port=(check_port(int(_int("FOOTFALL_METRICS_PORT", 0)), "FOOTFALL_METRICS_PORT")
                      if e.get("FOOTFALL_METRICS_PORT") else None),
        metrics_host=e.get("FOOTFALL_METRICS_HOST") or base.metrics_host,
        metrics_token=e.get("FOOTFALL_METRICS_TOKEN") or None,
        run_dir=e.get("FOOTFALL_RUN_DIR") or None,
    )


_ON, _OFF = ("1", "on", "true", "yes"), ("0", "off", "false", "no")


def _env_switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in _ON or raw in _OFF:
        return raw in _ON
    raise ConfigError(f"{name}={env[name]!r} is not a switch: use 1 / on or 0 / off")


def _log_format(value: str) -> str:
    if value.lower() not in ("text", "json"):
        raise ConfigError(f"FOOTFALL_LOG_FORMAT={value!r} is not a log format: use text or json")
    return value.lower()


def _dedup_mode(raw: str) -> str:
    mode = raw.strip().lower()
    if mode not in DEDUP_MODES:
        raise ConfigError(f"FOOTFALL_DEDUP_WITHOUT_ID={raw!r} is not one of: {', '.join(DEDUP_MODES)}")
    return mode


def _rate_limits(e, base: RateLimitSettings) -> RateLimitSettings:
    """FOOTFALL_RATE_LIMITS=off disables; _MULTIPLIER scales the tiers; _TIERS='S=5/100,…' overrides."""
    return RateLimitSettings(
        enabled=(e.get("FOOTFALL_RATE_LIMITS") or "on").lower() not in ("0", "off", "false", "no"),
        multiplier=_env_number(e, float, "FOOTFALL_RATE_LIMIT_MULTIPLIER", base.multiplier),
        overrides=_overrides(e.get("FOOTFALL_RATE_LIMIT_TIERS") or ""),
        burst_window=_env_number(e, int, "FOOTFALL_RATE_LIMIT_BURST_WINDOW", base.burst_window),
        steady_window=_env_number(e, int, "FOOTFALL_RATE_LIMIT_STEADY_WINDOW", base.steady_window),
    )


def _overrides(text: str):
    try:
        return parse_overrides(text)
    except ValueError as exc:
        raise ConfigError(f"FOOTFALL_RATE_LIMIT_TIERS: {exc}") from None
