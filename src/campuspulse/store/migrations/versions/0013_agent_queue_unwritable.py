"""agent queue disk trouble from the status payload

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queue_unwritable_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("queue_held", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("queue_held")
        batch_op.drop_column("queue_unwritable_since")
