"""`ledger migrate`: show or bring a database's schema to the newest revision."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def migrate(
    db: Annotated[
        str | None,
        typer.Option(envvar="LEDGER_DB", help="SQLAlchemy URL; default: SQLite in the data dir"),
    ] = None,
    data_dir: Annotated[Path, typer.Option(envvar="LEDGER_DATA_DIR")] = Path("data"),
    check: Annotated[
        bool, typer.Option("--check", help="only say whether an upgrade is pending (exit 1 if so)")
    ] = False,
) -> None:
    """Upgrade the database schema (what every gateway also does when it starts)."""
    from sqlalchemy import create_engine

    from ledger.schema import current_revision, head_revision

    url = db or f"sqlite:///{(data_dir / 'ledger.db').resolve()}"
    engine = create_engine(url)
    try:
        before, head = current_revision(engine), head_revision()
        typer.echo(f"schema revision {before or 'none'}; newest {head}")
        if check:
            raise typer.Exit(0 if before == head else 1)
        if before != head:
            from ledger.store import Database

            engine.dispose()
            Database(url).engine.dispose()  # upgrades under the database-wide lock
            typer.echo(f"upgraded to {head}")
    finally:
        engine.dispose()
