"""Suppress after delete: keyed hashes of deleted people's identifiers.

Revision ID: 0010_deleted_identifiers
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_deleted_identifiers"
down_revision = "0009_metric_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deleted_identifiers",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("identifier_hash", sa.String(64), nullable=False),
        sa.Column("deletion_id", sa.String(26), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "identifier_hash"),
    )


def downgrade() -> None:
    op.drop_table("deleted_identifiers")
