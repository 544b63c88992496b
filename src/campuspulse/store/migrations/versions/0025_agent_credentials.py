"""When and by whom an agent's broker credentials were last issued (from the dashboard), audited

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("credentials_issued_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("credentials_issued_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("credentials_issued_by")
        batch.drop_column("credentials_issued_at")
