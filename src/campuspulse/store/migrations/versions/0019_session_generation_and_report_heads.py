"""Session generations and report heads: a password change, role change or disabling ends a user's sessions;
an issued report keeps the audit chain's head at its issuance

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_gen", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("issued_reports") as batch:
        batch.add_column(sa.Column("audit_seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("audit_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issued_reports") as batch:
        batch.drop_column("audit_hash")
        batch.drop_column("audit_seq")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_gen")
