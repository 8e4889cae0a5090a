"""SQLite's faults, met for real, come out of every path as `DatabaseUnavailable` with their
stable code, `probe` reports them while they last, and the database works again after."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from gateway.errors import status_for
from ledger import store
from ledger.codes import DATABASE_CODES
from ledger.dbfaults import classify
from ledger.errors import DatabaseUnavailable
from ledger.store import Database, MetaRow


@pytest.fixture(autouse=True)
def _no_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """`probe` is ok as soon as a fault has cleared (not `FAULT_HOLD_SECONDS` later)."""
    monkeypatch.setattr(store, "FAULT_HOLD_SECONDS", 0.0)


def _db(tmp_path: Path, **kwargs: Any) -> tuple[Database, Path]:
    path = tmp_path / "ledger.db"
    return Database(f"sqlite:///{path}", **kwargs), path


def test_a_database_fault_is_a_503_with_its_code() -> None:
    for code in DATABASE_CODES:
        assert status_for(DatabaseUnavailable("x", code=code)) == 503


def _on_connect(db: Database, pragma: Any) -> None:
    """Runs `pragma()`'s statement on every new connection of the pool (the pool emptied)."""

    def run(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(pragma())

    db.engine.dispose()
    event.listen(db.engine, "connect", run)


def test_a_read_only_database_refuses_writes_as_read_only(tmp_path: Path) -> None:
    db, _ = _db(tmp_path)
    db.set_meta("k", "1")
    # SQLite's own read-only mode: its SQLITE_READONLY is the one a read-only file gives
    mode = {"query_only": 1}
    _on_connect(db, lambda: f"PRAGMA query_only = {mode['query_only']}")
    assert db.get_meta("k") == "1"  # reads work
    assert db.probe()["ok"]  # no write failed yet: nothing to tell
    with pytest.raises(DatabaseUnavailable) as caught:
        db.set_meta("k", "2")
    assert caught.value.code == "DATABASE_READ_ONLY"
    probe = db.probe()  # a write failed: the probe writes, and fails as well
    assert probe == {**probe, "ok": False, "read_only": True, "code": "DATABASE_READ_ONLY"}
    # the raw connection path (API keys, receipts) says the same
    with pytest.raises(DatabaseUnavailable), db.engine.connect() as conn:
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('x', 'y')"))
    mode["query_only"] = 0
    db.engine.dispose()
    assert db.probe() == {"ok": True, "read_only": False}
    db.set_meta("k", "2")
    assert db.get_meta("k") == "2"


def test_a_file_locked_by_another_process_is_busy_until_released(tmp_path: Path) -> None:
    db, path = _db(tmp_path, busy_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(DatabaseUnavailable) as caught:
        db.set_meta("k", "1")
    assert caught.value.code == "DATABASE_BUSY"
    assert db.fault is not None and not db.probe()["ok"]
    other.execute("ROLLBACK")
    other.close()
    assert db.probe() == {"ok": True, "read_only": False}  # the probe's write clears it
    assert db.fault is None
    db.set_meta("k", "1")
    assert db.get_meta("k") == "1"


def test_a_full_database_is_full_and_recovers_when_space_comes_back(tmp_path: Path) -> None:
    db, _ = _db(tmp_path)
    db.set_meta("seed", "x")
    with db.engine.connect() as conn:
        pages = int(conn.execute(text("PRAGMA page_count")).scalar_one())
    limit = {"pages": pages + 2}
    # SQLite's own size limit: its SQLITE_FULL is the one a full disk gives
    _on_connect(db, lambda: f"PRAGMA max_page_count = {limit['pages']}")
    with pytest.raises(DatabaseUnavailable) as caught, db.session() as s:
        for n in range(200):
            s.add(MetaRow(key=f"big{n}", value="x" * 4000))
    assert caught.value.code == "DATABASE_FULL"
    assert db.fault is not None and db.fault.code == "DATABASE_FULL"  # until a write commits
    limit["pages"] = 100_000  # space again (new connections get the new limit)
    db.engine.dispose()
    assert db.probe()["ok"]
    db.set_meta("after", "y")
    assert db.get_meta("after") == "y"


def test_a_fault_is_reported_a_while_after_the_last_statement_met_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "FAULT_HOLD_SECONDS", 60.0)
    db, path = _db(tmp_path, busy_timeout=0.1)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(DatabaseUnavailable):
        db.set_meta("k", "1")
    other.execute("ROLLBACK")
    other.close()
    probe = db.probe()  # its write got through, yet a write failed a moment ago
    assert probe == {**probe, "ok": False, "code": "DATABASE_BUSY"}
    assert db.fault is None
    monkeypatch.setattr(store, "FAULT_HOLD_SECONDS", 0.0)
    assert db.probe()["ok"]


def test_other_errors_are_not_faults(tmp_path: Path) -> None:
    db, _ = _db(tmp_path)
    with pytest.raises(Exception) as caught, db.engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    assert not isinstance(caught.value, DatabaseUnavailable)
    assert classify(caught.value) is None
    assert db.fault is None


def test_a_registration_is_refused_before_the_chain_or_taken_over_when_asked_again(
    tmp_path: Path,
) -> None:
    """The general rule: a database fault leaves no half-done change. A registration writes the
    chain, then the database: the database is checked writable first, and a participant the
    chain has but the database lost (its write failed after the transaction) is taken over when
    the registration is asked again."""
    from web3 import EthereumTesterProvider, Web3

    from ledger.chain.client import ChainClient
    from ledger.enums import InstitutionType, Role
    from ledger.service import LedgerService, ServiceConfig
    from ledger.signing import LocalSigner

    db, _ = _db(tmp_path)
    client = ChainClient(Web3(EthereumTesterProvider()))
    service, _ = LedgerService.open(db, client, ServiceConfig(data_dir=tmp_path))

    def on_chain() -> int:
        service.registry.follow()
        return len(service.registry.registry().participants)

    before = on_chain()
    mode = {"query_only": 1}
    _on_connect(db, lambda: f"PRAGMA query_only = {mode['query_only']}")
    with pytest.raises(DatabaseUnavailable) as caught:
        service.register_participant(Role.FUNDER, "Bank", InstitutionType.BANK)
    assert caught.value.code == "DATABASE_READ_ONLY"
    assert on_chain() == before  # refused before anything was sent
    mode["query_only"] = 0
    db.engine.dispose()

    # the state a database failure after the transaction leaves: on chain, not in the database
    own = LocalSigner.generate().address
    regulator = service.custody.account(1, "test")
    orphan = service.chain.register_participant(regulator, Role.PLATFORM, own, "P")
    assert on_chain() == before + 1
    row, key = service.register_participant(Role.PLATFORM, "P", signer_address=own)
    assert row.id == orphan and on_chain() == before + 1  # taken over, not registered twice
    assert service.authenticate(key).participant_id == orphan
    # asked once more, it is a signer in use as before
    with pytest.raises(Exception) as again:
        service.register_participant(Role.PLATFORM, "P", signer_address=own)
    assert getattr(again.value, "code", None) == "SIGNER_IN_USE"
