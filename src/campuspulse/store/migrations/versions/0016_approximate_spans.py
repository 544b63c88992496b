"""Approximate spans: segments mark the time whose state was inferred; rollups sum it as approximate_ms

Revision ID: 0016
Revises: 0015

Segments folded before this revision carry no mark (the inference left no trace), so their days count 0.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_ROLLUPS = ("device_day_rollups", "school_day_rollups", "school_month_rollups")


def upgrade() -> None:
    with op.batch_alter_table("state_segments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approx_start_ms", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("approx_end_ms", sa.BigInteger(), nullable=False, server_default="0"))
    for table in _ROLLUPS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("approximate_ms", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    for table in _ROLLUPS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("approximate_ms")
    with op.batch_alter_table("state_segments", schema=None) as batch_op:
        batch_op.drop_column("approx_end_ms")
        batch_op.drop_column("approx_start_ms")
