"""Alembic's environment: the connection comes from `ledger.schema` (never from an ini file)."""

from __future__ import annotations

from alembic import context

from ledger.store import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
