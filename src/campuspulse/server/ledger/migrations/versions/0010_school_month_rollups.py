"""school month rollups, filled from the school-day rollups already there

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "school_month_rollups",
        sa.Column("school", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("first_day", sa.String(length=10), nullable=False),
        sa.Column("last_day", sa.String(length=10), nullable=False),
        sa.Column("available_ms", sa.BigInteger(), nullable=False),
        sa.Column("in_use_ms", sa.BigInteger(), nullable=False),
        sa.Column("known_ms", sa.BigInteger(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("used_periods", sa.Integer(), nullable=False),
        sa.Column("available_periods", sa.Integer(), nullable=False),
        sa.Column("continued", sa.Integer(), nullable=False),
        sa.Column("first_continued", sa.Integer(), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.Column("used_bits", postgresql.BIT(varying=True).with_variant(sa.Text(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("school", "month"),
    )
    from campuspulse.server.metrics.month_rollups import refresh_all_months

    refresh_all_months(Session(bind=op.get_bind()))


def downgrade() -> None:
    op.drop_table("school_month_rollups")
