"""The regulator's rollups on PostgreSQL under concurrent writers: several threads (as several
gateways would) anchor overlapping sets of loans and retire overlapping sets at once; every loan
counts once, and the rollups equal a recomputation and the count of the submissions' path."""

from __future__ import annotations

import random
import threading
from typing import Any

from sqlalchemy import delete, select

from ledger.analytics import IndexedLoan, LoanIndexRow, add_loans, recompute, retire_loans
from ledger.analytics.maintain import ROLLUPS
from ledger.queries import stats
from ledger.store import Database


def _loans(count: int) -> list[IndexedLoan]:
    rng = random.Random(3)
    kinds = ("bank", "consumer_finance", "small_loan")
    return [
        IndexedLoan(
            record_id=f"0x{n:064x}",
            platform_id=rng.randrange(1, 20),
            funder_id=100 + n % 9,
            guarantor_id=0,
            co_funder_id=0,
            institution_type=kinds[n % 9 % 3],
            principal=rng.randrange(1, 10**8),
            apr_bps=rng.randrange(0, 4_000),
            issued_at=1_735_000_000 + rng.randrange(0, 3 * 10**7),
            legacy=rng.random() < 0.1,
        )
        for n in range(count)
    ]


def _rollups(db: Database) -> list[tuple[Any, ...]]:
    with db.session() as s:
        rows = s.execute(select(ROLLUPS).where(ROLLUPS.c["count"] > 0)).all()
    return sorted(tuple(int(v) if hasattr(v, "as_integer_ratio") else v for v in r) for r in rows)


def _clear(db: Database) -> None:
    """The cluster is shared with the other PostgreSQL tests of this worker."""
    with db.session() as s:
        s.execute(delete(LoanIndexRow))
        s.execute(delete(ROLLUPS))


def test_concurrent_anchoring_and_retirement_count_each_loan_once(postgres_url: str) -> None:
    db = Database(postgres_url)
    _clear(db)
    loans = _loans(3_000)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(15):  # overlapping batches: every loan is offered by several threads
                batch = rng.sample(loans, 400)
                with db.session() as s:
                    add_loans(s, batch)
                retiring = [x.record_id for x in rng.sample(loans[:600], 20)]
                with db.session() as s:
                    retire_loans(s, retiring, "revoked")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with db.session() as s:
        add_loans(s, loans)  # whatever no thread offered
    incremental = _rollups(db)
    first = stats(db, group_by="funder", period="month", include_retired=True)
    index_count = stats(db, group_by="funder", period="month", include_retired=True, source="index")
    assert first == index_count
    assert sum(t["count"] for t in first["totals"]) == len(loans)
    with db.session() as s:
        recompute(s)
    assert _rollups(db) == incremental
    _clear(db)
    db.engine.dispose()
