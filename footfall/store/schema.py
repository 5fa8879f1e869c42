"""The tables, defined once for both dialects (SQLite and PostgreSQL).

Migrations under store/migrations create and change them; a test checks that a migrated database
matches this definition. Every primary and unique key leads with account_id, and nothing refers
across accounts, so the schema can be distributed by account later.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON, BigInteger, Boolean, Column, Float, Index, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from footfall.domain.event_dedup import DEDUP_COLUMNS, DEDUP_CONSTRAINT

metadata = MetaData()

Json = JSON().with_variant(JSONB(), "postgresql")
Epoch = Float(precision=53)  # seconds since the epoch, microseconds kept

accounts = Table(
    "accounts", metadata,
    Column("id", String(26), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("public_key", String(16), nullable=False, unique=True),
    Column("created", Epoch, nullable=False),
    Column("timezone", Text, nullable=False, server_default="UTC"),  # IANA name: the console's days
)

api_keys = Table(
    "api_keys", metadata,
    Column("account_id", String(26), nullable=False),
    Column("id", String(26), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False, server_default="private"),  # private | write (store/keys.py)
    Column("scopes", Json, nullable=False),
    Column("created", Epoch, nullable=False),
    Column("last_used", Epoch),  # kept to within a minute, not written per request
    Column("revoked", Epoch),  # set when revoked; a revoked key is never accepted again
    PrimaryKeyConstraint("account_id", "id"),
)

profiles = Table(
    "profiles", metadata,
    Column("account_id", String(26), nullable=False),
    Column("id", String(26), nullable=False),
    Column("email", Text),
    Column("phone_number", Text),
    Column("external_id", Text),
    Column("anonymous_id", Text),
    Column("exchange_id", Text),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("organization", Text),
    Column("title", Text),
    Column("locale", Text),
    Column("image", Text),
    Column("location", Json, nullable=False),
    Column("properties", Json, nullable=False),
    Column("consent", Json, nullable=False),
    Column("created", Epoch, nullable=False),
    Column("updated", Epoch, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    Index("ix_profiles_created", "account_id", "created"),
    Index("ix_profiles_updated", "account_id", "updated"),
)

# Every identifier a profile holds, one row each: the primary key makes "never owned twice" a fact.
profile_identifiers = Table(
    "profile_identifiers", metadata,
    Column("account_id", String(26), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", Text, nullable=False),
    Column("profile_id", String(26), nullable=False),
    PrimaryKeyConstraint("account_id", "kind", "value"),
    Index("ix_profile_identifiers_profile", "account_id", "profile_id"),
)

# Profiles merged away, so an old id still finds the profile it became.
profile_merges = Table(
    "profile_merges", metadata,
    Column("account_id", String(26), nullable=False),
    Column("old_id", String(26), nullable=False),
    Column("new_id", String(26), nullable=False),
    Column("merged", Epoch, nullable=False),
    PrimaryKeyConstraint("account_id", "old_id"),
)

metrics = Table(
    "metrics", metadata,
    Column("account_id", String(26), nullable=False),
    Column("id", String(8), nullable=False),
    Column("name", String(128), nullable=False),
    Column("integration", Text, nullable=False),
    Column("created", Epoch, nullable=False),
    Column("updated", Epoch, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    UniqueConstraint("account_id", "name", name="uq_metrics_name"),
)

events = Table(
    "events", metadata,
    Column("account_id", String(26), nullable=False),
    Column("id", String(26), nullable=False),
    Column("metric_id", String(8), nullable=False),
    Column("profile_id", String(26), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("value", Float(precision=53)),
    Column("value_currency", String(8)),
    Column("unique_id", Text),
    Column("dedup_key", Text, nullable=False),
    Column("properties", Json, nullable=False),
    Column("received", Epoch, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    UniqueConstraint(*DEDUP_COLUMNS, name=DEDUP_CONSTRAINT),  # the dedup rule: domain/event_dedup.py
    # profile_id last: distinct profiles per bucket (aggregates' `unique`) are counted from the index alone.
    Index("ix_events_metric_time", "account_id", "metric_id", "time", "profile_id"),
    Index("ix_events_profile_time", "account_id", "profile_id", "time"),
    Index("ix_events_time", "account_id", "time"),
)

# Per metric and 15-minute UTC bucket: how many events and the sum of their values (store/rollups.py).
# Kept in the transaction that inserts or deletes the events; every UTC offset in use is a multiple of
# 15 minutes, so these buckets add up to any zone's hour, day, week and month.
metric_rollups = Table(
    "metric_rollups", metadata,
    Column("account_id", String(26), nullable=False),
    Column("metric_id", String(8), nullable=False),
    Column("bucket", BigInteger, nullable=False),  # epoch second the 15 minutes start at (a multiple of 900)
    Column("count", BigInteger, nullable=False),
    Column("sum_value", Float(precision=53), nullable=False),
    # Raised by every write to the row, never lowered (store/rollups.py; store/aggregate_cache.py reads it).
    Column("changes", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("account_id", "metric_id", "bucket"),
)

# Running totals that make silent behaviour visible (duplicates dropped, events stored).
counters = Table(
    "counters", metadata,
    Column("account_id", String(26), nullable=False),
    Column("name", String(64), nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "name"),
)


bulk_jobs = Table(
    "bulk_jobs", metadata,
    Column("account_id", String(26), nullable=False),
    Column("id", String(26), nullable=False),
    Column("status", String(16), nullable=False),
    Column("total", Integer, nullable=False),
    Column("completed", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("errors", Json, nullable=False),
    Column("created", Epoch, nullable=False),
    Column("completed_at", Epoch),
    PrimaryKeyConstraint("account_id", "id"),
)


# Segments (definitions evaluated into group_members) and lists (members added explicitly).
# Segment and list ids share one namespace, so a membership condition can name either.
segments = Table(
    "segments", metadata,
    Column("account_id", String(26), nullable=False),
    Column("id", String(8), nullable=False),
    Column("name", Text, nullable=False),
    Column("definition", Json, nullable=False),
    Column("created", Epoch, nullable=False),
    Column("updated", Epoch, nullable=False),
    Column("version", Integer, nullable=False),
    Column("is_processing", Boolean, nullable=False),
    Column("swept_at", Epoch),  # the "now" up to which time-relative conditions have been re-checked
    PrimaryKeyConstraint("account_id", "id"),
)

lists = Table(
    "lists", metadata,
    Column("account_id", String(26), nullable=False),
    Column("id", String(8), nullable=False),
    Column("name", Text, nullable=False),
    Column("created", Epoch, nullable=False),
    Column("updated", Epoch, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
)

# Membership of a profile in a segment or list: left_at is NULL while the profile is a member.
group_members = Table(
    "group_members", metadata,
    Column("account_id", String(26), nullable=False),
    Column("group_id", String(8), nullable=False),
    Column("profile_id", String(26), nullable=False),
    Column("joined_at", Epoch, nullable=False),
    Column("left_at", Epoch),
    PrimaryKeyConstraint("account_id", "group_id", "profile_id"),
    Index("ix_group_members_profile", "account_id", "profile_id"),
    Index("ix_group_members_joined", "account_id", "group_id", "joined_at"),
)


# -- outbound: the outbox, webhooks and their deliveries (footfall/webhooks/) ------------------------

# What must go out, written in the same transaction as the change it reports. `position` is the
# account's commit order (outbox_positions), so a reader that has seen position p has seen everything
# before it. Events carry no payload (it is the event row, read when sent); other topics carry theirs.
outbox = Table(
    "outbox", metadata,
    Column("account_id", String(26), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("id", String(26), nullable=False),  # the message id receivers deduplicate on (an event's id)
    Column("topic", Text, nullable=False),
    Column("profile_id", String(26)),
    Column("subject_id", String(26)),  # the event, or the segment / list of a membership change
    Column("payload", Json),
    Column("created", Epoch, nullable=False),
    PrimaryKeyConstraint("account_id", "position"),
)

# The last position handed out per account: taken (row-locked) at the end of each writing transaction,
# so positions are in commit order even with several writers.
outbox_positions = Table(
    "outbox_positions", metadata,
    Column("account_id", String(26), nullable=False),
    Column("position", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id"),
)

webhooks = Table(
    "webhooks", metadata,
    Column("account_id", String(26), nullable=False),
    Column("id", String(26), nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("endpoint_url", Text, nullable=False),
    Column("secret_key", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("format", String(16), nullable=False),  # klaviyo | standard
    Column("topics", Json, nullable=False),
    Column("group_ids", Json, nullable=False),  # segment / list topics only for these groups ([]: all)
    Column("batch_size", Integer, nullable=False),
    Column("cursor", BigInteger, nullable=False),  # outbox position handed to deliveries so far
    Column("lease_owner", String(32)),  # the deliverer delivering it now
    Column("lease_until", Epoch),
    Column("failing_since", Epoch),
    Column("disabled_reason", Text),
    Column("created", Epoch, nullable=False),
    Column("updated", Epoch, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
)

# One request's worth of messages to one webhook, with its retry state; attempts are its tries.
webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("account_id", String(26), nullable=False),
    Column("id", String(26), nullable=False),
    Column("webhook_id", String(26), nullable=False),
    Column("status", String(16), nullable=False),  # pending | succeeded | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Epoch),
    Column("first_position", BigInteger, nullable=False),
    Column("last_position", BigInteger, nullable=False),
    Column("message_ids", Json, nullable=False),
    Column("items", Json),  # the messages as sent, kept while the delivery may be tried again
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("created", Epoch, nullable=False),
    Column("updated", Epoch, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    Index("ix_webhook_deliveries_webhook", "account_id", "webhook_id", "status", "id"),
)

webhook_attempts = Table(
    "webhook_attempts", metadata,
    Column("account_id", String(26), nullable=False),
    Column("delivery_id", String(26), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("webhook_id", String(26), nullable=False),
    Column("started", Epoch, nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Float(precision=53), nullable=False),
    Column("response", Text),  # the first bytes of the answer
    Column("error", Text),
    PrimaryKeyConstraint("account_id", "delivery_id", "attempt"),
)


# Console sign-ins: id is the SHA-256 of the cookie's secret (the cookie itself is never stored); key_hash
# names the private key signed in with, so the session has that key's scopes and ends when the key does.
console_sessions = Table(
    "console_sessions", metadata,
    Column("account_id", String(26), nullable=False),
    Column("id", String(64), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created", Epoch, nullable=False),
    Column("expires", Epoch, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
)

# -- privacy and profile jobs (issue 13) ---------------------------------------------------------------
# Deletion, suppression and profile bulk import jobs: one row each, `details` holds what is particular
# to the kind (lists, segments, profile ids, per-record errors).
profile_jobs = Table(
    "profile_jobs", metadata,
    Column("account_id", String(26), nullable=False),
    Column("id", String(26), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("total", Integer, nullable=False),
    Column("completed", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("details", Json, nullable=False),
    Column("created", Epoch, nullable=False),
    Column("completed_at", Epoch),
    PrimaryKeyConstraint("account_id", "id"),
    Index("ix_profile_jobs_kind", "account_id", "kind", "created"),
)

# What remains of a deleted person: a keyed hash of the identifier (never the identifier), when, by
# which key, and what went. The hash lets "suppress after delete" recognise the identifier later.
deletion_records = Table(
    "deletion_records", metadata,
    Column("account_id", String(26), nullable=False),
    Column("id", String(26), nullable=False),
    Column("identifier_kind", String(16), nullable=False),
    Column("identifier_hash", String(64), nullable=False),
    Column("requested_at", Epoch, nullable=False),
    Column("completed_at", Epoch, nullable=False),
    Column("key_id", String(26)),
    Column("counts", Json, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    Index("ix_deletion_records_hash", "account_id", "identifier_hash"),
)

# Suppress after delete (FOOTFALL_SUPPRESS_AFTER_DELETE): keyed hashes of every identifier of a person deleted
# while it was on (store/deleted.py); ingest drops later events naming one of them.
deleted_identifiers = Table(
    "deleted_identifiers", metadata,
    Column("account_id", String(26), nullable=False),
    Column("identifier_hash", String(64), nullable=False),
    Column("deletion_id", String(26), nullable=False),
    PrimaryKeyConstraint("account_id", "identifier_hash"),
)

# Per-account secrets made by the server (the HMAC key of deletion records), created on first use.
account_secrets = Table(
    "account_secrets", metadata,
    Column("account_id", String(26), nullable=False),
    Column("name", String(32), nullable=False),
    Column("value", String(128), nullable=False),
    PrimaryKeyConstraint("account_id", "name"),
)
