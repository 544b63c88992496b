"""agent epochs: seq progress, waiting records, gaps and clock skew per (agent, epoch)

Revision ID: 0015
Revises: 0014
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

NOW = sa.text("(CURRENT_TIMESTAMP)")
EPOCH = "epoch"


def _columns(name: str) -> list[sa.Column[Any]]:
    agent = sa.Column("agent", sa.String(length=64), nullable=False)
    epoch = sa.Column(EPOCH, sa.String(length=64), nullable=False, server_default="")
    seq = sa.BigInteger()
    if name == "agent_progress":
        return [
            agent,
            epoch,
            sa.Column("watermark", seq, nullable=False),
            sa.Column("max_seq", seq, nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        ]
    if name == "pending_records":
        return [
            agent,
            epoch,
            sa.Column("seq", seq, nullable=False),
            sa.Column("school", sa.String(length=64), nullable=False),
            sa.Column("type", sa.String(length=16), nullable=False),
            sa.Column("device", sa.String(length=64), nullable=False),
            sa.Column("ts_ms", seq, nullable=False),
            sa.Column("state", sa.String(length=16), nullable=True),
            sa.Column("valid_s", sa.Integer(), nullable=True),
            sa.Column("received_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        ]
    if name == "seq_gaps":
        return [
            agent,
            epoch,
            sa.Column("first_seq", seq, nullable=False),
            sa.Column("last_seq", seq, nullable=False),
            sa.Column("reason", sa.String(length=16), nullable=False),
            sa.Column("settled_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        ]
    return [  # clock_skew
        agent,
        epoch,
        sa.Column("seq", seq, nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("ts_ms", seq, nullable=False),
        sa.Column("received_ms", seq, nullable=False),
    ]


KEYS = {
    "agent_progress": ("agent", EPOCH),
    "pending_records": ("agent", EPOCH, "seq"),
    "seq_gaps": ("agent", EPOCH, "first_seq"),
    "clock_skew": ("agent", EPOCH, "seq"),
}


def upgrade() -> None:
    # Each table again with `epoch` in its key; what is there belongs to the epoch "" (payloads that name none).
    for name, key in KEYS.items():
        columns = _columns(name)
        old = [c.name for c in columns if c.name not in (EPOCH, "started_at")]
        op.create_table(f"{name}_epochs", *columns, sa.PrimaryKeyConstraint(*key, name=f"{name}_epoch_pkey"))
        names = ", ".join(old)
        op.execute(f"INSERT INTO {name}_epochs ({names}) SELECT {names} FROM {name}")
        op.drop_table(name)
        op.rename_table(f"{name}_epochs", name)


def downgrade() -> None:
    raise NotImplementedError("records of several epochs of one agent cannot be keyed by (agent, seq) again")
