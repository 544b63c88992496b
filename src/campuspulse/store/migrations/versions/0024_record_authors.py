"""Who entered each experiment record (a teacher deletes only the records they entered)

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiment_records") as batch:
        batch.add_column(sa.Column("recorded_by", sa.String(length=64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("experiment_records") as batch:
        batch.drop_column("recorded_by")
