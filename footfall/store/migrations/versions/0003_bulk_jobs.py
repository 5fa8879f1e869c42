"""Bulk event create jobs, whose status can be read back.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Epoch = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "bulk_jobs",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("completed", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("errors", Json, nullable=False),
        sa.Column("created", Epoch, nullable=False),
        sa.Column("completed_at", Epoch),
        sa.PrimaryKeyConstraint("account_id", "id"),
    )
