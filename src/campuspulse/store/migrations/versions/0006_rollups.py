"""rollups

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_day_rollups",
        sa.Column("school", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("available_ms", sa.BigInteger(), nullable=False),
        sa.Column("in_use_ms", sa.BigInteger(), nullable=False),
        sa.Column("known_ms", sa.BigInteger(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("used_periods", sa.Integer(), nullable=False),
        sa.Column("available_periods", sa.Integer(), nullable=False),
        sa.Column("continues_from", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("school", "day", "device"),
    )
    with op.batch_alter_table("device_day_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_device_day_rollups_day", ["day"], unique=False)

    op.create_table(
        "rolled_days",
        sa.Column("school", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("school", "day"),
    )
    op.create_table(
        "stale_days",
        sa.Column("school", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("marked", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("school", "day"),
    )
    with op.batch_alter_table("state_segments", schema=None) as batch_op:
        batch_op.create_index("ix_state_segments_school_end", ["school", "end_ms"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("state_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_state_segments_school_end")

    op.drop_table("stale_days")
    op.drop_table("rolled_days")
    with op.batch_alter_table("device_day_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_device_day_rollups_day")

    op.drop_table("device_day_rollups")
