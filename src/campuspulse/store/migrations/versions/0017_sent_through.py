"""What each agent says it sent: a tail that never arrives is declared lost after the reorder window

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agent_progress", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_through", sa.BigInteger(), nullable=False, server_default="-1"))
        batch_op.add_column(sa.Column("tail_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agent_progress", schema=None) as batch_op:
        batch_op.drop_column("tail_since")
        batch_op.drop_column("sent_through")
