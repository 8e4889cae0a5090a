"""The database schema's migrations (Alembic): one history for SQLite and PostgreSQL.

`ledger.schema.upgrade` runs them; `versions/` holds one module per revision, oldest first.
"""
