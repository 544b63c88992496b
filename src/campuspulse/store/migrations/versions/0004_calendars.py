"""calendars

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendars",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "day_schedules",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("weekdays", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "school_timetables",
        sa.Column("school", sa.String(length=64), nullable=False),
        sa.Column("calendar", sa.String(length=64), nullable=False),
        sa.Column("schedule", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("school"),
    )
    with op.batch_alter_table("school_timetables", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_school_timetables_calendar"), ["calendar"], unique=False)
        batch_op.create_index(batch_op.f("ix_school_timetables_schedule"), ["schedule"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("school_timetables", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_school_timetables_schedule"))
        batch_op.drop_index(batch_op.f("ix_school_timetables_calendar"))

    op.drop_table("school_timetables")
    op.drop_table("day_schedules")
    op.drop_table("calendars")
