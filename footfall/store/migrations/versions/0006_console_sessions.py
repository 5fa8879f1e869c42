"""Console sign-in sessions, kept in the database so every worker sees them and sign-out ends them everywhere.

Revision ID: 0006_console_sessions
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_console_sessions"
down_revision = "0005_key_kinds"
branch_labels = None
depends_on = None

Epoch = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created", Epoch, nullable=False),
        sa.Column("expires", Epoch, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id"),
    )


def downgrade() -> None:
    op.drop_table("console_sessions")
