"""The gateway's storage on PostgreSQL: the same flows as on SQLite, on a real server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from sqlalchemy import text
from web3 import EthereumTesterProvider, Web3

from ledger.chain.client import ChainClient
from ledger.enums import InstitutionType, Role
from ledger.indexer import EventIndexer
from ledger.queries import LoanFilter, list_loans, stats
from ledger.service import Caller, LedgerService, LoanSubmission, ServiceConfig
from ledger.store import Database
from ledger.testing import build_disclosure
from ledger.verify import verify_receipt

pytestmark = pytest.mark.slow


def test_service_queue_batches_queries_and_index_on_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    db = Database(postgres_url)
    with db.session() as s:
        assert s.execute(text("select version()")).scalar_one().startswith("PostgreSQL")
    client = ChainClient(Web3(EthereumTesterProvider()))
    service, regulator_key = LedgerService.open(db, client, ServiceConfig(data_dir=tmp_path))
    assert regulator_key is not None
    bank, _ = service.register_participant(Role.FUNDER, "Bank A", InstitutionType.BANK)
    platform, _ = service.register_participant(Role.PLATFORM, "Platform 1")
    service.whitelist_add(bank.id, platform.id)
    now = client.latest_timestamp()
    issued = datetime.fromtimestamp(now, UTC)
    form = build_disclosure(
        2_000_000,
        12,
        Fraction(1, 100),
        issued.date(),
        lender="Bank A",
        confirmed_at=issued - timedelta(minutes=5),
    )
    subs = [
        LoanSubmission(
            agreement_sha256=f"{i:064x}",
            disclosure=form,
            borrower_id=f"1101011990030{i:05d}",
            funder_id=bank.id,
            term_days=365,
        )
        for i in range(1, 26)
    ]
    results = service.submit_batch(Caller(platform.id, Role.PLATFORM), [*subs, subs[0]])
    assert [r.get("duplicate") for r in results].count(True) == 1
    ids = [r["record_id"] for r in results[:25]]
    confirmed = service.confirm_batch(Caller(bank.id, Role.FUNDER), ids)
    assert all(r["status"] == "queued" for r in confirmed)
    assert service.anchor_pending() == 25
    regulator = Caller(1, Role.REGULATOR)
    receipt = service.receipt(regulator, ids[7])
    assert verify_receipt(receipt, client, trust=service.trust_root).ok
    # queries and statistics over PostgreSQL
    page, cursor = list_loans(db, LoanFilter(funder_id=bank.id), limit=10)
    assert len(page) == 10 and cursor is not None
    rest, _ = list_loans(db, LoanFilter(funder_id=bank.id), cursor=cursor, limit=100)
    assert {i["record_id"] for i in page + rest} == set(ids)
    report = stats(db, group_by="funder", period="quarter", caps_bps={"24%": 2400})
    assert sum(g["count"] for g in report["groups"]) == 25
    # the event index, rebuilt from the chain alone
    indexer = EventIndexer(db, client, service.deployment)
    first = indexer.sync()
    assert first > 0 and indexer.rebuild() == first
    # reopening the gateway on the same database keeps its identity and data
    reopened, key = LedgerService.open(db, client, ServiceConfig(data_dir=tmp_path))
    assert key is None and reopened.gateway_id == service.gateway_id
    assert reopened.submission(regulator, ids[3]).status == "anchored"
