"""The regulator's index and rollups (`ledger.analytics`): maintained incrementally as loans are
anchored and retired, they equal a recomputation from scratch, and `stats`, the consumer-finance
rule, legacy stock and the loan lists answer from them exactly as from the submissions.

Randomized: several seeds, each over a thousand loans over 3 years (Beijing-time period edges
included), several funders, platforms and institution types, legacy loans, anchoring in
batches (some anchored twice, as a recovery would), retirements (some seen twice, some
re-stated as amendments) interleaved with anchoring."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from ledger.analytics import (
    LoanIndexRow,
    add_loans,
    index_anchored,
    rebuild,
    recompute,
    retire_loans,
)
from ledger.analytics.maintain import ROLLUPS, IndexedLoan, period_bounds, period_labels
from ledger.queries import ConsumerFinancePolicy, LoanFilter, list_loans, stats, violations
from ledger.queries.statistics import BEIJING, _period_label, consumer_finance_breaches
from ledger.records import FLAG_LEGACY
from ledger.store import Database, SubmissionRow

TYPES = ("bank", "trust", "consumer_finance", "small_loan", "other")
START = int(datetime(2025, 1, 1, tzinfo=BEIJING).timestamp()) - 3600  # an edge: Dec 31 UTC+8
SPAN = 3 * 365 * 86_400


def _submission(rng: random.Random, n: int, funder_types: dict[int, str]) -> dict[str, Any]:
    funder = rng.choice(list(funder_types))
    edge = rng.random() < 0.05
    issued = (
        int(
            datetime(
                2025 + rng.randrange(3), rng.choice((1, 4, 7, 10)), 1, tzinfo=BEIJING
            ).timestamp()
        )
        - rng.choice((1, 0))
        if edge
        else START + rng.randrange(SPAN)
    )
    apr = rng.choice((rng.randrange(0, 4000), rng.choice((100, 1200, 1201, 2400, 3600, 3601))))
    return {
        "record_id": f"0x{n:064x}",
        "status": "queued",
        "anchoring": rng.choice(("batch", "batch", "per_record")),
        "agreement_digest": f"0x{n:064x}",
        "platform_id": 100 + min(int(rng.paretovariate(1.2)), 30),
        "funder_id": funder,
        "guarantor_id": rng.choice((0, 0, 900, 901)),
        "co_funder_id": rng.choice((0, 0, 0, *funder_types)),
        "institution_type": funder_types[funder],
        "principal": rng.choice((rng.randrange(1, 10**7), 10**9)),
        "apr_bps": apr,
        "issued_at": issued,
        "flags": FLAG_LEGACY if rng.random() < 0.1 else 0,
        "record_json": "{}",
        "document_json": "{}",
        "created_at": 0.0,
    }


def _world(seed: int, loans: int = 1_200) -> Database:
    rng = random.Random(seed)
    db = Database("sqlite://")
    funder_types = {10 + i: TYPES[i % len(TYPES)] for i in range(12)}
    with db.session() as s:
        s.execute(
            SubmissionRow.__table__.insert(),
            [_submission(rng, n, funder_types) for n in range(loans)],
        )
    ids = [f"0x{n:064x}" for n in range(loans)]
    rng.shuffle(ids)
    anchored: list[str] = []
    position = 0
    while position < len(ids):
        size = rng.randrange(1, 400)
        batch = ids[position : position + size]
        position += size
        if rng.random() < 0.1 and anchored:  # a batch finished twice (recovery)
            batch = batch + rng.sample(anchored, min(5, len(anchored)))
        with db.session() as s:
            s.execute(
                update(SubmissionRow)
                .where(SubmissionRow.record_id.in_(batch))
                .values(status="anchored", tx_hash="0x" + "ab" * 32, block_number=7, block_time=9)
            )
            index_anchored(s, batch)
        anchored.extend(x for x in batch if x not in set(anchored))
        if rng.random() < 0.5 or position >= len(ids):
            retiring = rng.sample(anchored, min(len(anchored), rng.randrange(1, 40)))
            state = rng.choice(("revoked", "superseded"))
            with db.session() as s:
                s.execute(
                    update(SubmissionRow)
                    .where(SubmissionRow.record_id.in_(retiring))
                    .values(retired=state)
                )
                retire_loans(s, retiring, state)
                if rng.random() < 0.3:  # seen again (another gateway's indexer)
                    retire_loans(s, retiring, state)
    return db


def _rollups(db: Database) -> list[tuple[Any, ...]]:
    with db.session() as s:
        rows = s.execute(select(ROLLUPS).where(ROLLUPS.c["count"] > 0)).all()
    return sorted(tuple(r) for r in rows)


@pytest.fixture(scope="module", params=[1, 2, 3])
def world(request: pytest.FixtureRequest) -> Database:
    return _world(request.param)


def test_incremental_rollups_equal_a_recomputation(world: Database) -> None:
    incremental = _rollups(world)
    with world.session() as s:
        recompute(s)
    assert _rollups(world) == incremental
    assert rebuild(world) > 0
    assert _rollups(world) == incremental


@pytest.mark.parametrize("group_by", ["institution_type", "funder", "platform"])
@pytest.mark.parametrize("period", ["month", "quarter", "year"])
@pytest.mark.parametrize("include_retired", [False, True])
def test_stats_from_rollups_equal_the_submissions(
    world: Database, group_by: Any, period: Any, include_retired: bool
) -> None:
    caps = {"cap_24pct": 2400, "lpr_x4": 1200, "other": 3600, "low": 100}
    kwargs: dict[str, Any] = {
        "group_by": group_by,
        "period": period,
        "include_retired": include_retired,
        "caps_bps": caps,
    }
    reference = stats(world, source="submissions", **kwargs)
    assert reference["groups"]
    assert stats(world, **kwargs) == reference
    assert stats(world, source="index", **kwargs) == reference


@pytest.mark.parametrize(
    ("group_by", "flt"),
    [
        ("funder", LoanFilter(funder_id=12)),
        ("funder", LoanFilter(institution_type="consumer_finance")),
        ("institution_type", LoanFilter(institution_type="bank")),
        ("institution_type", LoanFilter(status="queued")),
        ("platform", LoanFilter(platform_id=101)),  # not in the rollups' keys: counted
        ("platform", LoanFilter(legacy=True, apr_min_bps=1000)),  # counted
        ("institution_type", LoanFilter(issued_from=START + 86_400 * 400)),  # counted
    ],
)
def test_stats_with_filters(world: Database, group_by: Any, flt: LoanFilter) -> None:
    reference = stats(world, group_by=group_by, flt=flt, source="submissions")
    assert stats(world, group_by=group_by, flt=flt) == reference


def test_untracked_caps_and_edges_fall_back_exactly(world: Database) -> None:
    kwargs: dict[str, Any] = {"caps_bps": {"x": 1380}, "apr_buckets_bps": (0, 1250, 2400)}
    assert stats(world, **kwargs) == stats(world, source="submissions", **kwargs)


@pytest.mark.parametrize("average", ["weighted", "simple"])
def test_consumer_finance_rule_and_legacy_stock(world: Database, average: Any) -> None:
    policy = ConsumerFinancePolicy(threshold_bps=1900, average=average)
    fast = consumer_finance_breaches(world, policy)
    reference = stats(
        world,
        flt=LoanFilter(institution_type="consumer_finance"),
        caps_bps={},
        cf_threshold_bps=1900,
        cf_average=average,
        source="submissions",
    )["consumer_finance_rule"]["by_funder"]
    assert [(b["funder_id"], b["quarter"]) for b in fast] == [
        (b["funder_id"], b["quarter"]) for b in reference if not b["within_limit"]
    ]
    # a rule start that is not a quarter's first second: counted, same answer
    odd = stats(world, cf_rule_from=START + 12_345)
    assert odd == stats(world, cf_rule_from=START + 12_345, source="submissions")
    legacy = violations(world, legacy_limit=5)["legacy_awaiting_clearance"]
    with world.session() as s:
        rows = s.execute(
            select(SubmissionRow.principal, SubmissionRow.record_id, SubmissionRow.issued_at).where(
                SubmissionRow.status == "anchored",
                SubmissionRow.flags.bitwise_and(FLAG_LEGACY) != 0,
                SubmissionRow.retired.is_(None),
            )
        ).all()
    assert legacy["count"] == len(rows)
    assert legacy["principal"] == sum(r.principal for r in rows)
    first = sorted(rows, key=lambda r: (r.issued_at, r.record_id))[:5]
    assert [r["record_id"] for r in legacy["records"]] == [r.record_id for r in first]


def test_lists_page_the_index_without_gaps(world: Database) -> None:
    from ledger.access import Caller
    from ledger.enums import Role

    for flt, caller in [
        (LoanFilter(platform_id=101), None),
        (LoanFilter(), Caller(12, Role.FUNDER)),
        (LoanFilter(apr_min_bps=1500), Caller(101, Role.PLATFORM)),
        (LoanFilter(retired=True), None),
    ]:
        seen: list[str] = []
        cursor = None
        while True:
            items, cursor = list_loans(world, flt, cursor=cursor, limit=97, caller=caller)
            seen += [i["record_id"] for i in items]
            if cursor is None:
                break
        with world.session() as s:
            from ledger.queries.filters import _conditions, _scope

            expected = list(
                s.execute(
                    select(SubmissionRow.record_id)
                    .where(*_conditions(flt), *_scope(caller))
                    .order_by(SubmissionRow.issued_at, SubmissionRow.record_id)
                ).scalars()
            )
        assert seen == expected and seen


def test_period_labels_and_bounds_agree_with_stats() -> None:
    rng = random.Random(5)
    for ts in [0, START, START - 1, *(rng.randrange(0, 2**34) for _ in range(2000))]:
        labels = period_labels(ts)
        for kind, label in zip(("month", "quarter", "year"), labels, strict=True):
            assert label == _period_label(ts, kind)
            bounds = period_bounds(kind, label)
            assert bounds is not None and bounds[0] <= ts < bounds[1]
    assert period_labels(2**63)[0] == "out-of-range" == _period_label(2**63, "month")


def test_add_loans_counts_each_loan_once() -> None:
    db = Database("sqlite://")
    loan = IndexedLoan("0x" + "1" * 64, 1, 2, 0, 0, "bank", 100, 1200, START, False)
    with db.session() as s:
        assert add_loans(s, [loan, loan]) == 1
        assert add_loans(s, [loan]) == 0
        assert s.execute(select(LoanIndexRow.record_id)).scalars().all() == [loan.record_id]
    assert stats(db)["totals"][0]["count"] == 1
