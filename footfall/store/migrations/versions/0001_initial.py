"""Accounts, keys, profiles and their identifiers, metrics, events.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Epoch = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("public_key", sa.String(16), nullable=False, unique=True),
        sa.Column("created", Epoch, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("scopes", Json, nullable=False),
        sa.Column("created", Epoch, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id"),
    )
    op.create_table(
        "profiles",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("id", sa.String(26), nullable=False),
        *[sa.Column(name, sa.Text) for name in (
            "email", "phone_number", "external_id", "anonymous_id", "exchange_id", "first_name",
            "last_name", "organization", "title", "locale", "image",
        )],
        sa.Column("location", Json, nullable=False),
        sa.Column("properties", Json, nullable=False),
        sa.Column("consent", Json, nullable=False),
        sa.Column("created", Epoch, nullable=False),
        sa.Column("updated", Epoch, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id"),
    )
    op.create_index("ix_profiles_created", "profiles", ["account_id", "created"])
    op.create_index("ix_profiles_updated", "profiles", ["account_id", "updated"])
    op.create_table(
        "profile_identifiers",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("profile_id", sa.String(26), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "kind", "value"),
    )
    op.create_index("ix_profile_identifiers_profile", "profile_identifiers", ["account_id", "profile_id"])
    op.create_table(
        "profile_merges",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("old_id", sa.String(26), nullable=False),
        sa.Column("new_id", sa.String(26), nullable=False),
        sa.Column("merged", Epoch, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "old_id"),
    )
    op.create_table(
        "metrics",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("id", sa.String(8), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("integration", sa.Text, nullable=False),
        sa.Column("created", Epoch, nullable=False),
        sa.Column("updated", Epoch, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id"),
        sa.UniqueConstraint("account_id", "name", name="uq_metrics_name"),
    )
    op.create_table(
        "events",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("metric_id", sa.String(8), nullable=False),
        sa.Column("profile_id", sa.String(26), nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float(precision=53)),
        sa.Column("value_currency", sa.String(8)),
        sa.Column("unique_id", sa.Text),
        sa.Column("dedup_key", sa.Text, nullable=False),
        sa.Column("properties", Json, nullable=False),
        sa.Column("received", Epoch, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id"),
        sa.UniqueConstraint("account_id", "profile_id", "metric_id", "dedup_key", name="uq_events_dedup"),
    )
    op.create_index("ix_events_metric_time", "events", ["account_id", "metric_id", "time"])
    op.create_index("ix_events_profile_time", "events", ["account_id", "profile_id", "time"])
    op.create_index("ix_events_time", "events", ["account_id", "time"])
