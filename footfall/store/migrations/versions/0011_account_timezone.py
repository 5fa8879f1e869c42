"""Accounts: a time zone (IANA name, default UTC) where the console's days begin.

Revision ID: 0011_account_timezone
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_account_timezone"
down_revision = "0010_deleted_identifiers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as table:
        table.add_column(sa.Column("timezone", sa.Text, nullable=False, server_default="UTC"))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as table:
        table.drop_column("timezone")
