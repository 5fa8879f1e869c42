"""Per-metric rollups: event count and sum of value per 15-minute UTC bucket, backfilled from the events.

Revision ID: 0009_metric_rollups
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_metric_rollups"
down_revision = "0008_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_rollups",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("metric_id", sa.String(8), nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("sum_value", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "metric_id", "bucket"),
    )
    # The same statement as store/rollups.rebuild (a migration must not import code that may change later).
    op.execute("INSERT INTO metric_rollups (account_id, metric_id, bucket, count, sum_value) "
               "SELECT account_id, metric_id, time / 900 * 900, COUNT(*), COALESCE(SUM(value), 0) "
               "FROM events GROUP BY account_id, metric_id, time / 900 * 900")


def downgrade() -> None:
    op.drop_table("metric_rollups")
