"""The outbox, webhooks, their deliveries and attempts.

Revision ID: 0008_webhooks
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008_webhooks"
down_revision = "0007_privacy_jobs"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Epoch = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("profile_id", sa.String(26)),
        sa.Column("subject_id", sa.String(26)),
        sa.Column("payload", Json),
        sa.Column("created", Epoch, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "position"),
    )
    op.create_table(
        "outbox_positions",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "webhooks",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("endpoint_url", sa.Text, nullable=False),
        sa.Column("secret_key", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("topics", Json, nullable=False),
        sa.Column("group_ids", Json, nullable=False),
        sa.Column("batch_size", sa.Integer, nullable=False),
        sa.Column("cursor", sa.BigInteger, nullable=False),
        sa.Column("lease_owner", sa.String(32)),
        sa.Column("lease_until", Epoch),
        sa.Column("failing_since", Epoch),
        sa.Column("disabled_reason", sa.Text),
        sa.Column("created", Epoch, nullable=False),
        sa.Column("updated", Epoch, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("webhook_id", sa.String(26), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", Epoch),
        sa.Column("first_position", sa.BigInteger, nullable=False),
        sa.Column("last_position", sa.BigInteger, nullable=False),
        sa.Column("message_ids", Json, nullable=False),
        sa.Column("items", Json),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created", Epoch, nullable=False),
        sa.Column("updated", Epoch, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id"),
    )
    op.create_index("ix_webhook_deliveries_webhook", "webhook_deliveries", ["account_id", "webhook_id", "status", "id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("delivery_id", sa.String(26), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("webhook_id", sa.String(26), nullable=False),
        sa.Column("started", Epoch, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("latency_ms", sa.Float(precision=53), nullable=False),
        sa.Column("response", sa.Text),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("account_id", "delivery_id", "attempt"),
    )


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_webhook", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_table("outbox_positions")
    op.drop_table("outbox")
