"""Schema migrations (Alembic) on SQLite and PostgreSQL: a database made by the last release
before migrations (its `create_all`, frozen in `release-c424c20.<dialect>.sql`), with data in
it, is upgraded to the newest revision when a gateway opens it, and keeps every row; the
migrated schema is exactly the models' (what new databases get), and so is the schema the
migrations build from nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text

from ledger.analytics.tables import LoanIndexRow
from ledger.schema import BASELINE, alembic_config, current_revision, head_revision
from ledger.store import Base, Database, MetaRow, ParticipantRow, SubmissionRow

HERE = Path(__file__).resolve().parent

ROWS = {
    "meta": [
        {"key": "deployment:31337", "value": '{"chain_id": 31337}'},
        {"key": "indexer:last_block", "value": "42"},
    ],
    "participants": [
        {
            "id": 1,
            "role": "regulator",
            "institution_type": "none",
            "name": "Regulator",
            "signer_address": "0x" + "11" * 20,
            "status": "active",
            "custodial": True,
            "encrypted_key": b"\x01" * 60,
            "registered_at": 1_760_000_000,
        }
    ],
    "submissions": [
        {
            "record_id": "0x" + f"{n:064x}",
            "status": status,
            "anchoring": "batch",
            "agreement_digest": "0x" + "ab" * 32,
            "platform_id": 3,
            "funder_id": 2,
            "guarantor_id": 0,
            "co_funder_id": 0,
            "institution_type": "bank",
            "principal": 2_000_000 + n,
            "apr_bps": 1_800,
            "issued_at": 1_760_000_000 + n,
            "flags": 0,
            "record_json": "{}",
            "signatures_json": "{}",
            "document_json": "{}",
            "disclosure_json": None,
            "provenance_json": "{}",
            "entry_timestamp_json": None,
            "created_at": 1_760_000_000.5,
            "queued_at": 1_760_000_001.0 if status == "queued" else None,
            "anchored_at": None,
            "batch_root": "0x" + "cd" * 32 if status == "anchored" else None,
            "proof_json": None,
            "tx_hash": None,
            "block_number": 7 if status == "anchored" else None,
            "block_time": None,
            "rejection_code": None,
            "rejection_reason": None,
            "retired": None,
        }
        for n, status in enumerate(("queued", "anchored", "awaiting_funder"))
    ],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        yield request.getfixturevalue("fresh_postgres_url")


def _dialect(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _release_database(url: str) -> None:
    """The database the last release without migrations made, with rows in it."""
    engine = create_engine(url)
    ddl = (HERE / f"release-c424c20.{_dialect(url)}.sql").read_text()
    statements = [s for s in ddl.split(";") if s.strip().strip("-").strip() and "CREATE" in s]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
        for table, rows in ROWS.items():
            conn.execute(Base.metadata.tables[table].insert().values(rows))
    engine.dispose()


def _schema_differences(url: str) -> list[object]:
    engine = create_engine(url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    return list(diffs)


def test_a_release_database_is_upgraded_with_its_data(url: str) -> None:
    _release_database(url)
    db = Database(url)  # what a gateway does when it opens its database
    assert current_revision(db.engine) == head_revision() != BASELINE
    with db.session() as s:
        meta = {r.key: r.value for r in s.execute(select(MetaRow)).scalars()}
        assert meta == {r["key"]: r["value"] for r in ROWS["meta"]}
        regulator = s.get(ParticipantRow, 1)
        assert regulator is not None and regulator.encrypted_key == b"\x01" * 60
        rows = s.execute(select(SubmissionRow).order_by(SubmissionRow.record_id)).scalars().all()
        assert [(r.record_id, r.status, r.principal, r.batch_root) for r in rows] == [
            (r["record_id"], r["status"], r["principal"], r["batch_root"])
            for r in ROWS["submissions"]
        ]
        assert all(r.claimed_by is None and r.claimed_until is None for r in rows)
        indexed = s.execute(select(LoanIndexRow.record_id)).scalars().all()
        assert indexed == [r["record_id"] for r in ROWS["submissions"] if r["status"] == "anchored"]
    indexes = {i["name"] for i in inspect(db.engine).get_indexes("submissions")}
    assert "ix_submissions_agreement_platform" in indexes
    db.engine.dispose()
    assert _schema_differences(url) == []
    Database(url).engine.dispose()  # opening it again changes nothing
    assert _schema_differences(url) == []


def test_the_migrations_build_the_models_schema(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    engine.dispose()
    assert _schema_differences(url) == []


def test_a_new_database_is_created_at_the_newest_revision(url: str) -> None:
    db = Database(url)
    assert current_revision(db.engine) == head_revision()
    db.engine.dispose()
    assert _schema_differences(url) == []


def test_downgrade_to_the_baseline_and_back(url: str) -> None:
    _release_database(url)
    Database(url).engine.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), BASELINE)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    engine.dispose()
    assert _schema_differences(url) == []


def test_the_migrate_command_says_and_upgrades(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ledger.cli import app

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _release_database(url)
    runner = CliRunner()
    pending = runner.invoke(app, ["migrate", "--db", url, "--check"])
    assert pending.exit_code == 1 and "revision none" in pending.output
    done = runner.invoke(app, ["migrate", "--db", url])
    assert done.exit_code == 0 and f"upgraded to {head_revision()}" in done.output
    assert runner.invoke(app, ["migrate", "--db", url, "--check"]).exit_code == 0
