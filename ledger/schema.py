"""The database schema's version: every gateway brings its database to the newest revision when
it opens it (`upgrade`), under a database-wide lock so that several gateways starting at once
upgrade it once.

- An empty database gets the current models (`create_all`) and is stamped with the newest
  revision (Alembic's recipe for new databases; a test checks that the migrations build the same
  schema).
- A database from before migrations (tables, no `alembic_version`) was made by release
  `BASELINE`'s `create_all`: it is stamped `BASELINE`, then upgraded.
- Otherwise the pending migrations run, oldest first.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

__all__ = ["BASELINE", "alembic_config", "current_revision", "head_revision", "upgrade"]

#: the revision whose schema the releases before migrations created
BASELINE = "0001"
_SCRIPTS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for our migrations, bound to `connection`."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Brings the database to the newest revision (see the module's docstring)."""
    from ledger.store import Base

    with engine.begin() as connection:
        tables = set(inspect(connection).get_table_names())
        config = alembic_config(connection)
        if not tables - {"alembic_version"}:
            Base.metadata.create_all(connection)
            MigrationContext.configure(connection).stamp(_scripts(), "head")
            return
        if "alembic_version" not in tables:
            command.stamp(config, BASELINE)
        if MigrationContext.configure(connection).get_current_revision() != head_revision():
            command.upgrade(config, "head")
