"""PostgreSQL's faults, met for real on a throwaway database: read-only (per database, as a
failover or an operator makes it) and a server that is not there are `DatabaseUnavailable` with
their stable codes, `probe` reports them, and the same `Database` works again once they clear.
Stopping a server under a running gateway is the drill's (`tests/process/test_database_faults.py`,
on a cluster of its own)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ledger import store
from ledger.errors import DatabaseUnavailable
from ledger.store import Database


def _admin(postgres_url: str, statement: str) -> None:
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(statement))
    admin.dispose()


def test_a_read_only_database_is_read_only_until_made_writable(
    postgres_url: str, fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "FAULT_HOLD_SECONDS", 0.0)  # ok as soon as it has cleared
    db = Database(fresh_postgres_url)
    db.set_meta("k", "1")
    name = make_url(fresh_postgres_url).database
    _admin(postgres_url, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    # only sessions opened from now on are read-only: the pool's, opened before, write on
    db.set_meta("k", "1")
    db.engine.dispose()
    with pytest.raises(DatabaseUnavailable) as caught:
        db.set_meta("k", "2")
    assert caught.value.code == "DATABASE_READ_ONLY"
    probe = db.probe()
    assert probe == {**probe, "ok": False, "read_only": True, "code": "DATABASE_READ_ONLY"}
    assert db.get_meta("k") == "1"  # reads work

    _admin(postgres_url, f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
    # a session opened while it was read-only stays so: its first refusal drops the pool's
    # sessions, and the next write gets a new one
    refused = 0
    while True:
        try:
            db.set_meta("k", "3")
            break
        except DatabaseUnavailable:
            refused += 1
            assert refused == 1
    assert db.get_meta("k") == "3"
    assert db.probe() == {"ok": True, "read_only": False}
    db.engine.dispose()


def test_no_server_is_unavailable(fresh_postgres_url: str) -> None:
    url = make_url(fresh_postgres_url)
    gone = url.set(query={**url.query, "port": "1"}).render_as_string(hide_password=False)
    with pytest.raises(DatabaseUnavailable) as caught:
        Database(gone)
    assert caught.value.code == "DATABASE_UNAVAILABLE"
