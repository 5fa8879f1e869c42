"""Metric rollups: a `changes` counter per row, raised by every write to the row and never lowered
(rows are no longer deleted: a recount to no events leaves a zero row), so the sum of a range's
counters tells a reader whether anything in it changed (store/aggregate_cache.py).

Revision ID: 0012_rollup_changes
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_rollup_changes"
down_revision = "0011_account_timezone"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("metric_rollups") as table:
        table.add_column(sa.Column("changes", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("metric_rollups") as table:
        table.drop_column("changes")
