"""Alembic environment: runs on the connection handed over by `campuspulse.store.db.upgrade`."""

from alembic import context

from campuspulse.store import (  # noqa: F401
    access_schema,
    alert_schema,
    inventory_schema,
    report_schema,
    rollup_schema,
)
from campuspulse.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through campuspulse.store.db.upgrade(engine)")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
