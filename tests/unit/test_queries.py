"""Regulator queries (`ledger.queries`) over real data: loans submitted, confirmed and anchored by
the gateway service on eth-tester, plus loans anchored on chain by others, a proven violation,
a revocation and an amendment, all indexed by `EventIndexer`.

The world (built once per process and shared with test_indexer.py):

phase A (issued at t_a, one quarter), non-legacy unless noted:
  L1  bank/p1 + guarantor   1,000,000 @ 1200  batch
  L2  bank/p2               2,000,000 @ 1800  batch, then revoked by the regulator
  L3  cf/p1                 1,000,000 @ 2160  batch
  L4  cf/p1                 3,000,000 @ 1800  batch
  L5  sl/p2                   500,000 @ 2400  batch
  L12 sl/p2                   500,000 @ 2161  batch
  L6  bank/p1 legacy 2025-03-01  1,000,000 @ 3600  batch, then amended (superseded)
  L7  cf/p1 legacy 2025-06-01    2,000,000 @ 3000  batch
  L8  bank/p1               3,000,000 @ 1500  per-record
  R1  bank/p3 rejected by the funder; R2 bank/p3 rejected by the funder after its confirmation
      was refused (PARTICIPANT_NOT_ACTIVE: p3 suspended first); W1 bank/p2 awaiting the funder
phase B (t_b, 100 days later, another quarter):
  L9  cf/p1 1,000,000 @ 2400; L10 cf/p1 1,000,000 @ 1800; L11 bank/p2 1,500,000 @ 960 (batch)
  Q1  bank/p1 queued (not anchored)
on chain only (Bank V / Platform V, keys held by the test):
  C1 700,000 @ 1500 and C2 2**60 @ 1000 anchored per record; S1 3000 bps smuggled into a batch
  and reported (RATE_CAP_EXCEEDED).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from pydantic import ValidationError
from sqlalchemy import select
from web3 import EthereumTesterProvider, Web3

from ledger.access import Caller, Scope
from ledger.anchoring import BatchAnchor, SignedLoan
from ledger.chain.client import ChainClient
from ledger.disclosure import FeeDisclosure
from ledger.enums import InstitutionType, ParticipantStatus, Role
from ledger.errors import InputError, LedgerError
from ledger.indexer import EventIndexer
from ledger.queries import (
    CF_RULE_FROM,
    CSV_COLUMNS,
    ConsumerFinancePolicy,
    LoanFilter,
    chain_only_loans,
    list_loans,
    loans_csv,
    stats,
    violations,
)
from ledger.queries.statistics import BEIJING, _period_label
from ledger.receipts import DocumentRef
from ledger.records import LoanRecord, Retirement
from ledger.service import LedgerService, LoanSubmission, ServiceConfig
from ledger.signing import LocalSigner
from ledger.store import Database, SubmissionRow
from ledger.testing import build_disclosure

LEGACY_Q1 = int(datetime(2025, 3, 1, tzinfo=UTC).timestamp())
LEGACY_Q2 = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp())
BIG = 2**60


@cache
def _form(principal: int, apr_bps: int, issued_at: int) -> FeeDisclosure:
    """A 12-month level-payment form whose engine APR is exactly `apr_bps` (monthly rate
    apr/12 with no fees; checked below)."""
    form = build_disclosure(
        principal,
        12,
        Fraction(apr_bps, 120_000),
        datetime.fromtimestamp(issued_at, UTC).date(),
        lender="Lender",
        confirmed_at=datetime.fromtimestamp(issued_at, UTC) - timedelta(minutes=5),
    )
    assert form.stated_apr_bps == apr_bps
    return form


def quarter(ts: int) -> str:
    d = datetime.fromtimestamp(ts, BEIJING)
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}"


@dataclass
class World:
    svc: LedgerService
    db: Database
    client: ChainClient
    indexer: EventIndexer
    ids: dict[str, int] = field(default_factory=dict)
    loans: dict[str, str] = field(default_factory=dict)
    chain_loans: dict[str, SignedLoan] = field(default_factory=dict)
    tx: dict[str, str] = field(default_factory=dict)
    batch: BatchAnchor | None = None
    t_a: int = 0
    t_b: int = 0
    serial: int = 0

    def submit(
        self,
        name: str,
        funder: str,
        platform: str,
        principal: int,
        apr: int,
        *,
        issued_at: int,
        guarantor: str | None = None,
        legacy: bool = False,
        anchoring: str = "batch",
        confirm: bool = True,
    ) -> str:
        self.serial += 1
        sub = LoanSubmission(
            agreement_sha256=hashlib.sha256(name.encode()).hexdigest(),
            disclosure=_form(principal, apr, issued_at),
            borrower_id=f"1101011990030{self.serial:05d}",
            funder_id=self.ids[funder],
            guarantor_id=self.ids[guarantor] if guarantor else 0,
            issued_at=issued_at,
            legacy=legacy,
            anchoring=anchoring,
        )
        out = self.svc.submit_loan(Caller(self.ids[platform], Role.PLATFORM), sub)
        if confirm:
            self.svc.confirm_loan(Caller(self.ids[funder], Role.FUNDER), out.record_id)
        self.loans[name] = out.record_id
        return out.record_id

    def rows(self) -> list[SubmissionRow]:
        with self.db.session() as s:
            return list(s.execute(select(SubmissionRow)).scalars())


def _build(data_dir: Path) -> World:
    client = ChainClient(Web3(EthereumTesterProvider()))
    db = Database(f"sqlite:///{data_dir}/ledger.db")
    svc, _ = LedgerService.open(db, client, ServiceConfig(data_dir))
    w = World(svc, db, client, EventIndexer(db, client, svc.deployment))
    for name, role, kind in [
        ("bank", Role.FUNDER, InstitutionType.BANK),
        ("cf", Role.FUNDER, InstitutionType.CONSUMER_FINANCE),
        ("sl", Role.FUNDER, InstitutionType.SMALL_LOAN),
        ("p1", Role.PLATFORM, InstitutionType.NONE),
        ("p2", Role.PLATFORM, InstitutionType.NONE),
        ("p3", Role.PLATFORM, InstitutionType.NONE),
        ("g", Role.CREDIT_ENHANCER, InstitutionType.NONE),
    ]:
        w.ids[name] = svc.register_participant(role, name, kind)[0].id
    for funder, partners in {"bank": ["p1", "p2", "p3", "g"], "cf": ["p1"], "sl": ["p2"]}.items():
        for partner in partners:
            svc.whitelist_add(w.ids[funder], w.ids[partner])

    w.t_a = t_a = client.latest_timestamp()
    w.submit("L1", "bank", "p1", 1_000_000, 1200, issued_at=t_a, guarantor="g")
    w.submit("L2", "bank", "p2", 2_000_000, 1800, issued_at=t_a)
    w.submit("L3", "cf", "p1", 1_000_000, 2160, issued_at=t_a)
    w.submit("L4", "cf", "p1", 3_000_000, 1800, issued_at=t_a)
    w.submit("L5", "sl", "p2", 500_000, 2400, issued_at=t_a)
    w.submit("L12", "sl", "p2", 500_000, 2161, issued_at=t_a)
    w.submit("L6", "bank", "p1", 1_000_000, 3600, issued_at=LEGACY_Q1, legacy=True)
    w.submit("L7", "cf", "p1", 2_000_000, 3000, issued_at=LEGACY_Q2, legacy=True)
    w.submit("L8", "bank", "p1", 3_000_000, 1500, issued_at=t_a, anchoring="per-record")
    rejected = w.submit("R1", "bank", "p3", 1_000_000, 1200, issued_at=t_a, confirm=False)
    svc.reject_loan(Caller(w.ids["bank"], Role.FUNDER), rejected, '=HYPERLINK("http://x")')
    # R2: the platform is suspended before the funder confirms: the confirmation is refused and
    # the record keeps waiting (a suspension can be lifted); the funder then rejects it.
    w.submit("R2", "bank", "p3", 1_000_000, 1200, issued_at=t_a, confirm=False)
    svc.set_participant_status(w.ids["p3"], ParticipantStatus.SUSPENDED)
    with pytest.raises(LedgerError) as refused:
        svc.confirm_loan(Caller(w.ids["bank"], Role.FUNDER), w.loans["R2"])
    assert refused.value.code == "PARTICIPANT_NOT_ACTIVE"
    svc.reject_loan(Caller(w.ids["bank"], Role.FUNDER), w.loans["R2"], "platform suspended")
    w.submit("W1", "bank", "p2", 1_000_000, 1200, issued_at=t_a, confirm=False)
    assert svc.anchor_pending() == 8

    client.advance_time(100 * 86_400)
    w.t_b = t_b = client.latest_timestamp()
    w.submit("L9", "cf", "p1", 1_000_000, 2400, issued_at=t_b)
    w.submit("L10", "cf", "p1", 1_000_000, 1800, issued_at=t_b)
    w.submit("L11", "bank", "p2", 1_500_000, 960, issued_at=t_b)
    assert svc.anchor_pending() == 3
    w.submit("Q1", "bank", "p1", 1_000_000, 1200, issued_at=t_b)

    # Loans anchored on chain by others: a funder and a platform whose keys the test holds.
    bank_v, platform_v = LocalSigner.generate(), LocalSigner.generate()
    w.ids["bank_v"] = svc.register_participant(
        Role.FUNDER, "Bank V", InstitutionType.BANK, signer_address=bank_v.address
    )[0].id
    w.ids["p_v"] = svc.register_participant(
        Role.PLATFORM, "Platform V", signer_address=platform_v.address
    )[0].id
    client.fund(bank_v.address, 10**20)
    svc.chain.whitelist(Account.from_key(bank_v.private_key), w.ids["p_v"])
    signers = {w.ids["bank_v"]: bank_v, w.ids["p_v"]: platform_v}

    def chain_loan(name: str, principal: int, apr: int) -> SignedLoan:
        digest = "0x" + hashlib.sha256(name.encode()).hexdigest()
        record = LoanRecord(
            agreement_digest=digest,
            disclosure_digest="0x" + "22" * 32,
            borrower_commitment="0x" + hashlib.sha256(b"borrower " + name.encode()).hexdigest(),
            funder_id=w.ids["bank_v"],
            platform_id=w.ids["p_v"],
            principal=principal,
            apr_bps=apr,
            term_days=365,
            issued_at=client.latest_timestamp(),
        )
        loan = svc.chain.sign_loan(record, signers, DocumentRef(sha256=digest))
        w.chain_loans[name] = loan
        return loan

    for name, principal, apr in (("C1", 700_000, 1500), ("C2", BIG, 1000)):
        anchored = svc.chain.anchor_loan(svc.gateway_account, chain_loan(name, principal, apr))
        w.tx[name] = "0x" + anchored.transaction_hash.hex()
    smuggled = chain_loan("S1", 800_000, 3000)
    w.batch = batch = svc.chain.anchor_batch(svc.gateway_account, [smuggled])
    client.transact(
        svc.gateway_account,
        svc.chain.ledger.functions.reportViolation(
            smuggled.record.as_tuple(),
            list(smuggled.signatures),
            batch.root,
            batch.tree.get_proof(0),
        ),
    )

    # The regulator revokes L2 and amends L6 (superseded by L1).
    regulator = svc.custody.signer(1)
    assert regulator is not None
    now = client.latest_timestamp()
    for name, successor in (("L2", None), ("L6", w.loans["L1"])):
        receipt = svc.receipt(Caller(1, Role.REGULATOR), w.loans[name])
        assert receipt.anchor.root is not None and receipt.anchor.leaf is not None
        retirement = Retirement(
            record_id=w.loans[name],
            reason_code=7,
            retired_at=now,
            **({"superseded_by": successor} if successor else {}),
        )
        svc.chain.retire(
            svc.gateway_account,
            receipt.record,
            retirement,
            [regulator],
            (
                bytes.fromhex(receipt.anchor.root[2:]),
                bytes.fromhex(receipt.anchor.leaf.values[1][2:]),
                [bytes.fromhex(p[2:]) for p in receipt.anchor.proof],
            ),
        )
    assert w.indexer.sync() > 0
    return w


_SHARED: list[World] = []


def shared_world(factory: pytest.TempPathFactory) -> World:
    """The world, built once per process (test_indexer.py uses it too)."""
    if not _SHARED:
        _SHARED.append(_build(factory.mktemp("world")))
    return _SHARED[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return shared_world(tmp_path_factory)


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["record_id"] for item in items]


def names(w: World, items: list[dict[str, Any]]) -> set[str]:
    by_id = {rid: name for name, rid in w.loans.items()}
    return {by_id[item["record_id"]] for item in items}


def all_pages(
    db: Database, flt: LoanFilter | None, limit: int, **kw: Any
) -> tuple[list[dict[str, Any]], int]:
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        items, cursor = list_loans(db, flt, cursor=cursor, limit=limit, **kw)
        pages += 1
        out.extend(items)
        if cursor is None:
            return out, pages


def assert_no_floats(value: Any) -> None:
    assert not isinstance(value, float), value
    if isinstance(value, dict):
        for v in value.values():
            assert_no_floats(v)
    elif isinstance(value, list):
        for v in value:
            assert_no_floats(v)


# ---------------------------------------------------------------------- list_loans


def test_world_statuses(world: World) -> None:
    status = {name: world.svc.submission(Caller(1, Role.REGULATOR), rid).status
              for name, rid in world.loans.items()}  # fmt: skip
    assert status["R1"] == status["R2"] == "rejected" and status["W1"] == "awaiting_funder"
    assert status["Q1"] == "queued" and status["L8"] == "anchored"
    assert sum(s == "anchored" for s in status.values()) == 12


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (
            {"funder_id": "bank"},
            {"L1", "L2", "L6", "L8", "L11", "R1", "R2", "W1", "Q1"},
        ),
        ({"platform_id": "p2"}, {"L2", "L5", "L12", "L11", "W1"}),
        ({"guarantor_id": "g"}, {"L1"}),
        ({"institution_type": "consumer_finance"}, {"L3", "L4", "L7", "L9", "L10"}),
        ({"institution_type": "small_loan", "apr_min_bps": 2200}, {"L5"}),
        ({"apr_min_bps": 1800, "apr_max_bps": 2160}, {"L2", "L3", "L4", "L10"}),
        ({"status": "awaiting_funder"}, {"W1"}),
        ({"status": "queued"}, {"Q1"}),
        ({"status": "rejected"}, {"R1", "R2"}),
        ({"rule": "PARTICIPANT_NOT_ACTIVE"}, set()),
        ({"rule": "FUNDER_REJECTED"}, {"R1", "R2"}),
        ({"rule": "RATE_CAP_EXCEEDED"}, set()),
        ({"legacy": True}, {"L6", "L7"}),
        ({"retired": True}, {"L2", "L6"}),
        ({"retired": "revoked"}, {"L2"}),
        ({"retired": "superseded"}, {"L6"}),
        ({"issued_to": LEGACY_Q2}, {"L6"}),
        ({"issued_from": LEGACY_Q2, "issued_to": LEGACY_Q2 + 1}, {"L7"}),
        ({"issued_from": "t_b"}, {"L9", "L10", "L11", "Q1"}),
        ({"funder_id": "cf", "issued_from": "t_b", "status": "anchored"}, {"L9", "L10"}),
    ],
)
def test_filters(world: World, flt: dict[str, Any], expected: set[str]) -> None:
    resolved: dict[str, Any] = {
        k: (world.ids[v] if k.endswith("_id") else world.t_b if v == "t_b" else v)
        for k, v in flt.items()
    }
    items, cursor = list_loans(world.db, LoanFilter(**resolved), limit=1000)
    assert cursor is None
    assert names(world, items) == expected


def test_retired_false_and_legacy_false(world: World) -> None:
    items, _ = list_loans(world.db, LoanFilter(retired=False, legacy=False), limit=1000)
    assert names(world, items) == set(world.loans) - {"L2", "L6", "L7"}


def test_items_are_submission_summaries(world: World) -> None:
    items, _ = list_loans(world.db, LoanFilter(guarantor_id=world.ids["g"]), limit=10)
    (item,) = items
    assert item["record_id"] == world.loans["L1"]
    assert item["principal"] == 1_000_000 and item["apr_bps"] == 1200
    assert item["institution_type"] == "bank" and item["legacy"] is False
    assert item["batch_root"] is not None and item["retired"] is None
    assert "source" not in item


def test_pagination_has_no_gaps_or_duplicates(world: World) -> None:
    everything, _ = list_loans(world.db, None, limit=1000)
    assert len(everything) == len(world.loans) == 16
    keys = [(i["issued_at"], i["record_id"]) for i in everything]
    assert keys == sorted(keys)
    for limit in (1, 2, 4, 7, 16, 17):
        paged, pages = all_pages(world.db, None, limit)
        assert ids(paged) == ids(everything)
        assert pages == max(1, -(-len(everything) // limit))


def test_pagination_ties_on_issued_at(world: World) -> None:
    # Phase A has ten loans issued in the same second: the record id breaks the tie.
    flt = LoanFilter(issued_from=world.t_a, issued_to=world.t_a + 1)
    paged, _ = all_pages(world.db, flt, 2)
    assert len(paged) == 10
    assert ids(paged) == sorted(ids(paged))


def test_cursor_is_stable_and_bound_to_its_filter(world: World) -> None:
    flt = LoanFilter(funder_id=world.ids["bank"])
    first, cursor = list_loans(world.db, flt, limit=3)
    assert cursor is not None
    again1, c1 = list_loans(world.db, flt, cursor=cursor, limit=3)
    again2, c2 = list_loans(world.db, flt, cursor=cursor, limit=3)
    assert again1 == again2 and c1 == c2
    assert not set(ids(first)) & set(ids(again1))
    with pytest.raises(InputError) as err:
        list_loans(world.db, LoanFilter(funder_id=world.ids["cf"]), cursor=cursor, limit=3)
    assert err.value.code == "INVALID_CURSOR"
    for bad in ("garbage!", "e30", "", "x" * 600):
        with pytest.raises(InputError):
            list_loans(world.db, flt, cursor=bad, limit=3)


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_limit_bounds(world: World, limit: int) -> None:
    with pytest.raises(InputError):
        list_loans(world.db, None, limit=limit)


def test_filter_validation() -> None:
    with pytest.raises(ValidationError):
        LoanFilter(issued_from=10, issued_to=5)
    with pytest.raises(ValidationError):
        LoanFilter(apr_min_bps=2000, apr_max_bps=1000)
    with pytest.raises(ValidationError):
        LoanFilter(status="lost")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        LoanFilter(unknown=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        LoanFilter(retired="maybe")  # type: ignore[arg-type]
    flt = LoanFilter(funder_id=3)
    with pytest.raises(ValidationError):
        flt.funder_id = 4


@pytest.mark.parametrize(
    ("role", "who"),
    [
        (Role.PLATFORM, "p2"),
        (Role.FUNDER, "cf"),
        (Role.CREDIT_ENHANCER, "g"),
        (Role.AUDITOR, "p1"),
        (Role.GATEWAY, "p1"),
    ],
)
def test_caller_scope_matches_may_see(world: World, role: Role, who: str) -> None:
    caller = Caller(world.ids[who], role)
    items, _ = all_pages(world.db, None, 4, caller=caller)
    expected = sorted(
        (r.issued_at, r.record_id) for r in world.rows() if Scope.of(caller).allows(r)
    )
    assert ids(items) == [rid for _, rid in expected]


# ---------------------------------------------------------------------- CSV


def test_csv_streams_all_pages(world: World) -> None:
    chunks = list(loans_csv(world.db, LoanFilter(funder_id=world.ids["bank"]), page_size=3))
    assert len(chunks) == 1 + 9
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    assert tuple(rows[0]) == CSV_COLUMNS
    expected, _ = list_loans(world.db, LoanFilter(funder_id=world.ids["bank"]), limit=100)
    assert [r[0] for r in rows[1:]] == ids(expected)
    by_id = {r[0]: dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]}
    l1 = by_id[world.loans["L1"]]
    assert l1["principal_fen"] == "1000000" and l1["apr_bps"] == "1200"
    assert l1["legacy"] == "false" and l1["retired"] == "" and l1["status"] == "anchored"
    assert by_id[world.loans["L2"]]["retired"] == "revoked"
    r1 = by_id[world.loans["R1"]]
    assert r1["rejection_code"] == "FUNDER_REJECTED"
    assert r1["rejection_reason"] == "'" + '=HYPERLINK("http://x")'  # formula defused
    assert all(chunk.endswith("\r\n") for chunk in chunks)


def test_csv_of_nothing_is_the_header(world: World) -> None:
    chunks = list(loans_csv(world.db, LoanFilter(rule="NO_SUCH_RULE")))
    assert chunks == [",".join(CSV_COLUMNS) + "\r\n"]


# ---------------------------------------------------------------------- chain-only loans


def test_chain_only_loans(world: World) -> None:
    items, cursor = chain_only_loans(world.db, limit=100)
    assert cursor is None
    c1, c2 = (world.chain_loans[n] for n in ("C1", "C2"))
    assert ids(items) == ["0x" + c1.record_id.hex(), "0x" + c2.record_id.hex()]
    first, second = items
    assert first["source"] == "chain" and first["status"] == "anchored"
    assert first["funder_id"] == world.ids["bank_v"] and first["platform_id"] == world.ids["p_v"]
    assert first["institution_type"] == "bank"
    assert first["principal"] == 700_000 and first["apr_bps"] == 1500
    assert second["principal"] == BIG  # stored as a string in the index (> 2**53), read back
    assert first["transaction_hash"].startswith("0x") and first["block_time"] > 0
    # L8 was anchored per record by the gateway itself: it is not "chain only".
    assert world.loans["L8"] not in ids(items)


def test_chain_only_loans_filter_and_pages(world: World) -> None:
    page1, cursor = chain_only_loans(world.db, limit=1)
    assert cursor is not None and len(page1) == 1
    page2, cursor2 = chain_only_loans(world.db, cursor=cursor, limit=1)
    assert cursor2 is None and len(page2) == 1 and page1 != page2
    assert ids(chain_only_loans(world.db, LoanFilter(apr_max_bps=1200))[0]) == [
        "0x" + world.chain_loans["C2"].record_id.hex()
    ]
    assert chain_only_loans(world.db, LoanFilter(funder_id=world.ids["bank"]))[0] == []
    assert chain_only_loans(world.db, LoanFilter(status="queued"))[0] == []
    assert len(chain_only_loans(world.db, LoanFilter(institution_type="bank"))[0]) == 2
    with pytest.raises(InputError):
        chain_only_loans(world.db, LoanFilter(legacy=True), cursor=cursor, limit=1)


# ---------------------------------------------------------------------- stats


def _group(result: dict[str, Any], group: Any, period: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [
        g for g in result["groups"] if g["group"] == group and g["period"] == period
    ]
    (found,) = matches
    return found


def test_stats_by_institution_type_and_quarter(world: World) -> None:
    result = stats(world.db)
    assert_no_floats(result)
    assert result["basis"]["statuses"] == ["anchored"]
    assert result["basis"]["retired"] == "excluded"
    qa, qb = quarter(world.t_a), quarter(world.t_b)
    assert qa != qb
    assert {(g["group"], g["period"]) for g in result["groups"]} == {
        ("bank", qa),
        ("consumer_finance", qa),
        ("small_loan", qa),
        ("bank", qb),
        ("consumer_finance", qb),
        ("consumer_finance", "2025-Q2"),  # L7 legacy; L6 (2025-Q1) is superseded
    }

    bank = _group(result, "bank", qa)  # L1 1,000,000 @ 1200 + L8 3,000,000 @ 1500 (L2 revoked)
    assert bank["count"] == 2 and bank["volume"] == 4_000_000 and bank["legacy_count"] == 0
    assert bank["apr_bps"] == {"weighted": 1425, "simple": 1350, "min": 1200, "max": 1500}
    assert [b["count"] for b in bank["distribution"]] == [1, 1, 0, 0, 0]
    assert [b["volume"] for b in bank["distribution"]] == [1_000_000, 3_000_000, 0, 0, 0]
    assert [(b["min_bps"], b["max_bps"]) for b in bank["distribution"]] == [
        (0, 1200),
        (1201, 1800),
        (1801, 2400),
        (2401, 3600),
        (3601, None),
    ]
    assert bank["above_cap"]["cap_24pct"] == {
        "cap_bps": 2400,
        "count": 0,
        "share_bps": 0,
        "volume": 0,
        "volume_share_bps": 0,
    }
    assert bank["above_cap"]["lpr_x4"] == {
        "cap_bps": 1200,
        "count": 1,
        "share_bps": 5000,
        "volume": 3_000_000,
        "volume_share_bps": 7500,
    }

    cf = _group(result, "consumer_finance", qa)  # 1,000,000 @ 2160 + 3,000,000 @ 1800
    assert cf["apr_bps"] == {"weighted": 1890, "simple": 1980, "min": 1800, "max": 2160}
    assert [b["count"] for b in cf["distribution"]] == [0, 1, 1, 0, 0]
    assert cf["above_cap"]["lpr_x4"]["share_bps"] == 10_000

    sl = _group(result, "small_loan", qa)  # 500,000 @ 2400 + 500,000 @ 2161: 2280.5 -> 2281
    assert sl["apr_bps"] == {"weighted": 2281, "simple": 2281, "min": 2161, "max": 2400}
    assert sl["above_cap"]["cap_24pct"]["count"] == 0  # 2400 is not above the 2400 cap

    legacy = _group(result, "consumer_finance", "2025-Q2")
    assert legacy["count"] == legacy["legacy_count"] == 1
    assert legacy["legacy_volume"] == 2_000_000
    assert legacy["above_cap"]["cap_24pct"] == {
        "cap_bps": 2400,
        "count": 1,
        "share_bps": 10_000,
        "volume": 2_000_000,
        "volume_share_bps": 10_000,
    }
    assert _group(result, "bank", qb)["apr_bps"]["weighted"] == 960

    totals = {t["period"]: t for t in result["totals"]}
    assert set(totals) == {"2025-Q2", qa, qb}
    assert totals[qa]["count"] == 6 and totals[qa]["volume"] == 9_000_000
    # (1200*1 + 1500*3 + 2160*1 + 1800*3 + 2400*0.5 + 2161*0.5) / 9 = 1726.72 -> 1727
    assert totals[qa]["apr_bps"]["weighted"] == 1727
    assert totals[qa]["above_cap"]["lpr_x4"]["count"] == 5
    assert totals[qa]["above_cap"]["lpr_x4"]["share_bps"] == 8333  # 5/6


def test_consumer_finance_rule(world: World) -> None:
    cf_id = world.ids["cf"]
    qa, qb = quarter(world.t_a), quarter(world.t_b)
    rule = stats(world.db)["consumer_finance_rule"]
    assert rule["threshold_bps"] == 2000 and rule["from"] == "2026-Q1"
    assert rule["average"] == "weighted"
    assert rule["by_funder"] == [
        {
            "funder_id": cf_id,
            "quarter": qa,
            "count": 2,
            "volume": 4_000_000,
            "weighted_apr_bps": 1890,
            "simple_apr_bps": 1980,
            "within_limit": True,
        },
        {
            "funder_id": cf_id,
            "quarter": qb,
            "count": 2,
            "volume": 2_000_000,
            "weighted_apr_bps": 2100,
            "simple_apr_bps": 2100,
            "within_limit": False,
        },
    ]
    assert [(o["quarter"], o["within_limit"]) for o in rule["overall"]] == [
        (qa, True),
        (qb, False),
    ]

    def within(**kw: Any) -> list[bool]:
        return [
            q["within_limit"] for q in stats(world.db, **kw)["consumer_finance_rule"]["overall"]
        ]

    assert within(cf_threshold_bps=2100) == [True, True]  # the limit itself is allowed
    assert within(cf_threshold_bps=1890) == [True, False]
    assert within(cf_threshold_bps=1889) == [False, False]  # exact average, not rounded
    assert within(cf_threshold_bps=1980, cf_average="simple") == [True, False]
    assert within(cf_threshold_bps=1979, cf_average="simple") == [False, False]
    # Legacy stock (L7, 2025-Q2) never counts as new lending, even with the rule from 1970.
    early = stats(world.db, cf_rule_from=0)["consumer_finance_rule"]
    assert [o["quarter"] for o in early["overall"]] == [qa, qb]
    late = stats(world.db, cf_rule_from=world.t_b)["consumer_finance_rule"]
    assert [o["quarter"] for o in late["overall"]] == [qb]


def test_stats_group_by_funder_platform_and_periods(world: World) -> None:
    by_funder = stats(world.db, group_by="funder", period="year")
    year_a = str(datetime.fromtimestamp(world.t_a, UTC).year)
    cf_year = _group(by_funder, world.ids["cf"], year_a)
    expected_count = 2 + (2 if quarter(world.t_b).startswith(year_a) else 0)
    assert cf_year["count"] == expected_count
    by_platform = stats(world.db, group_by="platform", period="month")
    month_a = datetime.fromtimestamp(world.t_a, UTC).strftime("%Y-%m")
    p2 = _group(by_platform, world.ids["p2"], month_a)  # L5, L12 (L2 revoked)
    assert p2["count"] == 2 and p2["volume"] == 1_000_000
    assert _group(by_platform, world.ids["p1"], "2025-06")["legacy_count"] == 1
    assert_no_floats(by_platform)


def test_stats_options(world: World) -> None:
    qa = quarter(world.t_a)
    with_retired = stats(world.db, include_retired=True)
    assert _group(with_retired, "bank", qa)["count"] == 3  # + L2
    assert _group(with_retired, "bank", "2025-Q1")["legacy_count"] == 1  # L6
    custom = stats(world.db, caps_bps={"cap_20pct": 2000}, apr_buckets_bps=(2000,))
    cf = _group(custom, "consumer_finance", qa)
    assert cf["above_cap"] == {
        "cap_20pct": {
            "cap_bps": 2000,
            "count": 1,
            "share_bps": 5000,
            "volume": 1_000_000,
            "volume_share_bps": 2500,
        }
    }
    assert [(b["min_bps"], b["max_bps"], b["count"]) for b in cf["distribution"]] == [
        (0, 2000, 1),
        (2001, None, 1),
    ]
    only_cf = stats(world.db, flt=LoanFilter(funder_id=world.ids["cf"]))
    assert {g["group"] for g in only_cf["groups"]} == {"consumer_finance"}
    assert stats(world.db, flt=LoanFilter(status="queued"))["groups"] == []
    for bad in (
        {"group_by": "borrower"},
        {"period": "week"},
        {"caps_bps": {"x": -1}},
        {"apr_buckets_bps": (2000, 1000)},
        {"cf_average": "median"},
    ):
        with pytest.raises(InputError):
            stats(world.db, **bad)


# ---------------------------------------------------------------------- violations


def test_violations(world: World) -> None:
    result = violations(world.db)
    assert_no_floats(result)
    smuggled = world.chain_loans["S1"]
    (proven,) = result["proven"]
    assert proven["record_id"] == "0x" + smuggled.record_id.hex()
    assert proven["rule"] == "RATE_CAP_EXCEEDED"
    assert proven["error"] == "EvidenceLedgerRateCapExceeded"
    assert proven["error_args"] == [3000, 2400]
    assert proven["gateway_id"] == world.svc.gateway_id
    assert proven["known_to_gateway"] is False
    assert proven["root"].startswith("0x") and len(proven["root"]) == 66
    assert proven["reporter"] == world.svc.gateway_account.address
    assert result["proven_by_rule"] == {"RATE_CAP_EXCEEDED": 1}

    legacy = result["legacy_awaiting_clearance"]  # L7 only: L6 was superseded
    assert legacy["count"] == 1 and legacy["principal"] == 2_000_000
    assert ids(legacy["records"]) == [world.loans["L7"]] and legacy["truncated"] is False
    assert result["rejected_at_submission"] == {
        "total": 2,
        "by_code": {"FUNDER_REJECTED": 2},
    }
    assert result["index"]["last_block"] == world.indexer.last_block()

    assert violations(world.db, legacy_limit=0)["legacy_awaiting_clearance"]["truncated"] is True


def test_consumer_finance_breaches_are_violations(world: World) -> None:
    """The portfolio rule is policy: its breaches, per company and Beijing-time quarter, are in
    the regulator's violations (here qb's 21.00 % average against the 20 % default)."""
    cf_id, qb = world.ids["cf"], quarter(world.t_b)
    found = violations(world.db)["consumer_finance_average"]
    assert found["policy"] == {
        "threshold_bps": 2000,
        "rule_from": CF_RULE_FROM,
        "average": "weighted",
    }
    assert found["breaches"] == [
        {
            "funder_id": cf_id,
            "quarter": qb,
            "count": 2,
            "volume": 2_000_000,
            "weighted_apr_bps": 2100,
            "threshold_bps": 2000,
        }
    ]
    looser = violations(world.db, consumer_finance=ConsumerFinancePolicy(threshold_bps=2100))
    assert looser["consumer_finance_average"]["breaches"] == []
    stricter = ConsumerFinancePolicy(threshold_bps=1980, average="simple")
    assert [
        (b["quarter"], b["simple_apr_bps"])
        for b in violations(world.db, consumer_finance=stricter)["consumer_finance_average"][
            "breaches"
        ]
    ] == [(qb, 2100)]


def test_periods_are_beijing_calendar_periods() -> None:
    # 2026-03-31 20:00 UTC is 2026-04-01 04:00 in Beijing: the second quarter
    ts = int(datetime(2026, 3, 31, 20, tzinfo=UTC).timestamp())
    assert _period_label(ts, "quarter") == "2026-Q2"
    assert _period_label(ts, "month") == "2026-04"
    assert _period_label(ts - 5 * 3600, "quarter") == "2026-Q1"  # 23:00 on 31 March, Beijing
