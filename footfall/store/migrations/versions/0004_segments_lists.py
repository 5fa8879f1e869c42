"""Segments, lists and their materialised membership; footfall_epoch() for dates in JSON on PostgreSQL.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Epoch = sa.Float(precision=53)

# ISO 8601 text -> epoch seconds, NULL for anything else (SQLite has unixepoch(), which never raises).
_EPOCH_FUNCTION = r"""
CREATE OR REPLACE FUNCTION footfall_epoch(value text) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET TimeZone = 'UTC' AS $$
BEGIN
  IF value !~ '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$' THEN
    RETURN NULL;
  END IF;
  RETURN floor(extract(epoch FROM value::timestamptz));
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("id", sa.String(8), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("definition", Json, nullable=False),
        sa.Column("created", Epoch, nullable=False),
        sa.Column("updated", Epoch, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("is_processing", sa.Boolean, nullable=False),
        sa.Column("swept_at", Epoch),
        sa.PrimaryKeyConstraint("account_id", "id"),
    )
    op.create_table(
        "lists",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("id", sa.String(8), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created", Epoch, nullable=False),
        sa.Column("updated", Epoch, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id"),
    )
    op.create_table(
        "group_members",
        sa.Column("account_id", sa.String(26), nullable=False),
        sa.Column("group_id", sa.String(8), nullable=False),
        sa.Column("profile_id", sa.String(26), nullable=False),
        sa.Column("joined_at", Epoch, nullable=False),
        sa.Column("left_at", Epoch),
        sa.PrimaryKeyConstraint("account_id", "group_id", "profile_id"),
    )
    op.create_index("ix_group_members_profile", "group_members", ["account_id", "profile_id"])
    op.create_index("ix_group_members_joined", "group_members", ["account_id", "group_id", "joined_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_EPOCH_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS footfall_epoch(text)")
    op.drop_table("group_members")
    op.drop_table("lists")
    op.drop_table("segments")
