"""school day rollups

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "school_day_rollups",
        sa.Column("school", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("available_ms", sa.BigInteger(), nullable=False),
        sa.Column("in_use_ms", sa.BigInteger(), nullable=False),
        sa.Column("known_ms", sa.BigInteger(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("used_periods", sa.Integer(), nullable=False),
        sa.Column("available_periods", sa.Integer(), nullable=False),
        sa.Column("continued", sa.Integer(), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.Column("used_bits", postgresql.BIT(varying=True).with_variant(sa.Text(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("school", "day"),
    )


def downgrade() -> None:
    op.drop_table("school_day_rollups")
