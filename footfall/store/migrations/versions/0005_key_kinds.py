"""API keys: name (was label), kind (private | write), last_used, revoked.

Revision ID: 0005_key_kinds
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_key_kinds"
down_revision = "0004"
branch_labels = None
depends_on = None

Epoch = sa.Float(precision=53)


def upgrade() -> None:
    # batch mode: SQLite rebuilds the table, PostgreSQL alters it in place
    with op.batch_alter_table("api_keys") as table:
        table.alter_column("label", new_column_name="name", existing_type=sa.Text, existing_nullable=False)
        table.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="private"))
        table.add_column(sa.Column("last_used", Epoch))
        table.add_column(sa.Column("revoked", Epoch))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("revoked")
        table.drop_column("last_used")
        table.drop_column("kind")
        table.alter_column("name", new_column_name="label", existing_type=sa.Text, existing_nullable=False)
