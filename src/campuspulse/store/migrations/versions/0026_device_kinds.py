"""Names of device kinds a city gives them (over the built-in ones), audited

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_kinds",
        sa.Column("kind", sa.String(length=64), primary_key=True),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("device_kinds")
