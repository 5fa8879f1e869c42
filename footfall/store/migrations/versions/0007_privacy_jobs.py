"""Privacy and profile jobs: deletion / suppression / bulk import jobs, deletion records, per-account secrets.

Revision ID: 0007_privacy_jobs
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007_privacy_jobs"
down_revision = "0006_console_sessions"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Epoch = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "profile_jobs",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("completed", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("details", Json, nullable=False),
        sa.Column("created", Epoch, nullable=False),
        sa.Column("completed_at", Epoch),
        sa.PrimaryKeyConstraint("account_id", "id"),
    )
    op.create_index("ix_profile_jobs_kind", "profile_jobs", ["account_id", "kind", "created"])
    op.create_table(
        "deletion_records",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("identifier_kind", sa.String(16), nullable=False),
        sa.Column("identifier_hash", sa.String(64), nullable=False),
        sa.Column("requested_at", Epoch, nullable=False),
        sa.Column("completed_at", Epoch, nullable=False),
        sa.Column("key_id", sa.String(26)),
        sa.Column("counts", Json, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id"),
    )
    op.create_index("ix_deletion_records_hash", "deletion_records", ["account_id", "identifier_hash"])
    op.create_table(
        "account_secrets",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("account_secrets")
    op.drop_index("ix_deletion_records_hash", "deletion_records")
    op.drop_table("deletion_records")
    op.drop_index("ix_profile_jobs_kind", "profile_jobs")
    op.drop_table("profile_jobs")
