"""school month rollups, filled from the school-day rollups already there

Revision ID: 0010
Revises: 0009
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

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
    _fill_from_days()


_ADDITIVE = ("available_ms", "in_use_ms", "known_ms", "sessions", "used_periods", "available_periods", "continued")


def _fill_from_days() -> None:
    """Month rows of the day rows already there, as the application wrote them when this migration was made
    (kept here, not imported, so that the migration means the same whatever the application becomes)."""
    conn = op.get_bind()
    columns = ", ".join(_ADDITIVE)
    days = conn.execute(sa.text(f"SELECT school, day, devices, used_bits, {columns} FROM school_day_rollups"))
    months: dict[tuple[str, str], list[sa.Row[Any]]] = {}
    for row in days:
        months.setdefault((row.school, row.day[:7]), []).append(row)
    out = []
    for (school, month), rows in months.items():
        rows.sort(key=lambda r: r.day)
        width = max(len(str(r.used_bits)) for r in rows)
        bits = 0
        for r in rows:
            bits |= int(str(r.used_bits).ljust(width, "0") or "0", 2)
        month_row: dict[str, object] = {name: sum(int(getattr(r, name)) for r in rows) for name in _ADDITIVE}
        month_row |= {
            "school": school,
            "month": month,
            "first_day": rows[0].day,
            "last_day": rows[-1].day,
            "first_continued": int(rows[0].continued),
            "devices": max(int(r.devices) for r in rows),
            "used_bits": format(bits, f"0{width}b") if width else "",
        }
        out.append(month_row)
    if out:
        names = [*_ADDITIVE, "school", "month", "first_day", "last_day", "first_continued", "devices", "used_bits"]
        cast = "CAST(:used_bits AS BIT VARYING)" if conn.dialect.name == "postgresql" else ":used_bits"
        values = ", ".join(cast if n == "used_bits" else f":{n}" for n in names)
        conn.execute(sa.text(f"INSERT INTO school_month_rollups ({', '.join(names)}) VALUES ({values})"), out)


def downgrade() -> None:
    op.drop_table("school_month_rollups")
