"""Equipment history and classes per grade: each ledger line's quantity and status over time (compliance as of a
date), the date its status took effect, and a school's classes grade by grade

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("equipment_items") as batch:
        batch.add_column(sa.Column("status_since", sa.Date(), nullable=True))
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("classes_by_grade", sa.JSON(), nullable=True))
    op.create_table(
        "equipment_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("school", sa.String(length=64), nullable=False),
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("catalog_code", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("purchase_date", sa.Date(), nullable=True),
        sa.Column("removed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_equipment_history_line", "equipment_history", ["school", "item", "since"])
    op.execute(
        "INSERT INTO equipment_history (school, item, since, catalog_code, quantity, unit_value_fen, status,"
        " purchase_date, removed) SELECT school, item, COALESCE(purchase_date, DATE '2000-01-01'), catalog_code,"
        " quantity, unit_value_fen, status, purchase_date, false FROM equipment_items"
        if op.get_context().dialect.name == "postgresql"
        else "INSERT INTO equipment_history (school, item, since, catalog_code, quantity, unit_value_fen, status,"
        " purchase_date, removed) SELECT school, item, COALESCE(purchase_date, '2000-01-01'), catalog_code,"
        " quantity, unit_value_fen, status, purchase_date, 0 FROM equipment_items"
    )


def downgrade() -> None:
    op.drop_index("ix_equipment_history_line", table_name="equipment_history")
    op.drop_table("equipment_history")
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("classes_by_grade")
    with op.batch_alter_table("equipment_items") as batch:
        batch.drop_column("status_since")
