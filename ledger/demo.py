"""An end-to-end scenario on a fresh embedded chain, used by `ledger demo` and the benchmarks.

A regulator, two banks, a consumer-finance company, three platforms, a guarantor and a gateway;
whitelists; loans with real fee disclosures whose APR comes from the engine; per-record and
batched anchoring; an over-cap loan and an off-whitelist platform rejected; an amendment and a
revocation; an auditor verifying a receipt and catching a tampered document; statistics.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, Web3

from ledger.anchoring import EvidenceChain, SignedLoan
from ledger.apr import compute_apr, fold_fees
from ledger.canonical import borrower_commitment, digest_bytes, new_salt
from ledger.chain.client import ChainClient
from ledger.chain.deploy import Deployment, InstitutionType, Role, deploy_contracts
from ledger.disclosure import (
    BorrowerConfirmation,
    FeeCategory,
    FeeCharge,
    FeeDisclosure,
    FeeItem,
    Instalment,
    check_disclosure,
    disclosure_cash_flows,
)
from ledger.errors import LedgerError, VerificationError
from ledger.merkle import leaf_hash
from ledger.receipts import LEAF_TYPES, DocumentRef, Receipt
from ledger.records import LoanRecord, Retirement
from ledger.signing import LocalSigner
from ledger.timestamps import EntryPromise, GatewayKey
from ledger.verify import verify_receipt

__all__ = ["Actors", "DemoReport", "build_disclosure", "run_demo", "setup_actors"]

Log = Callable[[str], None]


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, min(day.day, 28))


def build_disclosure(
    principal: int,
    months: int,
    monthly_rate: Fraction,
    disbursed_on: date,
    *,
    lender: str,
    guarantee_fee_per_month: int = 0,
    upfront_fee: int = 0,
    guarantor: str = "",
    confirmed_at: datetime,
) -> FeeDisclosure:
    """A level-payment loan's disclosure form with its APR computed by the engine (R4, R5)."""
    payment = -(-principal * monthly_rate / (1 - (1 + monthly_rate) ** -months) // 1)  # ceil, fen
    balance = principal
    schedule = []
    for n in range(1, months + 1):
        interest = int(
            (balance * monthly_rate).limit_denominator(1)
            if False
            else round(balance * monthly_rate)
        )
        part = balance if n == months else int(payment) - interest
        balance -= part
        schedule.append(
            Instalment(due=_add_months(disbursed_on, n), principal=part, interest=interest)
        )
    fees: list[FeeItem] = []
    if upfront_fee:
        fees.append(
            FeeItem(
                name="服务费 service fee",
                category=FeeCategory.SERVICE,
                timing="upfront",  # type: ignore[arg-type]
                collector=lender,
                charges=(FeeCharge(on=disbursed_on, amount=upfront_fee),),
            )
        )
    if guarantee_fee_per_month:
        fees.append(
            FeeItem(
                name="担保费 guarantee fee",
                category=FeeCategory.GUARANTEE,
                timing="with_instalment",  # type: ignore[arg-type]
                collector=guarantor or lender,
                charges=tuple(
                    FeeCharge(on=i.due, amount=guarantee_fee_per_month) for i in schedule
                ),
            )
        )
    draft = dict(
        lender=lender,
        principal=principal,
        disbursed_on=disbursed_on,
        schedule=tuple(schedule),
        fees=tuple(fees),
        no_other_charges=True,
        no_other_charges_statement="除本表所列费用外，不收取任何其他费用。No charge beyond this form.",
        confirmation=BorrowerConfirmation(
            method="online", confirmed_at=confirmed_at, reading_seconds=15
        ),
    )
    probe = FeeDisclosure(stated_apr_bps=0, **draft)  # type: ignore[arg-type]
    repayments, fee_flows = disclosure_cash_flows(probe)
    apr = compute_apr(fold_fees(principal, disbursed_on, repayments, fee_flows))
    return FeeDisclosure(stated_apr_bps=apr.nominal_bps, **draft)  # type: ignore[arg-type]


@dataclass
class Actors:
    """Everyone in the scenario: chain handles, keys and participant ids."""

    client: ChainClient
    deployment: Deployment
    chain: EvidenceChain
    regulator: LocalSigner
    regulator_account: LocalAccount
    gateway_account: LocalAccount
    gateway_key: GatewayKey
    signers: dict[int, LocalSigner] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    commitment_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))


def setup_actors(client: ChainClient | None = None) -> Actors:
    """Deploys on a fresh embedded chain (or `client`) and registers and whitelists everyone."""
    client = client or ChainClient(Web3(EthereumTesterProvider()))
    regulator = LocalSigner.generate()
    client.fund(regulator.address, 10**21)
    regulator_account = Account.from_key(regulator.private_key)
    deployment = deploy_contracts(client, regulator_account)
    chain = EvidenceChain(client, deployment)
    gateway_account = client.new_funded_account()
    gateway_key = GatewayKey.generate()
    actors = Actors(
        client, deployment, chain, regulator, regulator_account, gateway_account, gateway_key
    )
    actors.ids["regulator"] = 1
    actors.signers[1] = regulator
    cast = [
        ("Bank A", Role.FUNDER, InstitutionType.BANK),
        ("Bank B", Role.FUNDER, InstitutionType.BANK),
        ("CF Co", Role.FUNDER, InstitutionType.CONSUMER_FINANCE),
        ("Platform 1", Role.PLATFORM, InstitutionType.NONE),
        ("Platform 2", Role.PLATFORM, InstitutionType.NONE),
        ("Platform 3", Role.PLATFORM, InstitutionType.NONE),
        ("Guarantor G", Role.CREDIT_ENHANCER, InstitutionType.NONE),
    ]
    for name, role, institution in cast:
        signer = LocalSigner.generate()
        pid = chain.register_participant(regulator_account, role, signer.address, name, institution)
        actors.ids[name] = pid
        actors.signers[pid] = signer
        if role is Role.FUNDER:
            client.fund(signer.address, 10**20)
    actors.ids["Gateway"] = chain.register_participant(
        regulator_account,
        Role.GATEWAY,
        gateway_account.address,
        "Gateway",
        ed25519_public_key=gateway_key.public_key,
    )
    whitelists = {
        "Bank A": ["Platform 1", "Platform 2", "Guarantor G"],
        "Bank B": ["Platform 2"],
        "CF Co": ["Platform 3", "Guarantor G"],
    }
    for funder, partners in whitelists.items():
        account = Account.from_key(actors.signers[actors.ids[funder]].private_key)
        for partner in partners:
            chain.whitelist(account, actors.ids[partner])
    return actors


def make_loan(
    actors: Actors,
    funder: str,
    platform: str,
    *,
    principal: int = 2_000_000,
    months: int = 12,
    monthly_rate: Fraction = Fraction(1, 100),
    guarantor: str | None = None,
    guarantee_fee_per_month: int = 0,
    upfront_fee: int = 0,
    borrower_id: str = "110101199003070000",
    agreement: bytes | None = None,
    legacy: bool = False,
) -> tuple[SignedLoan, bytes]:
    """A signed loan with a consistent disclosure; returns it and the agreement document."""
    now = actors.client.latest_timestamp()
    issued = datetime.fromtimestamp(now, UTC)
    form = build_disclosure(
        principal,
        months,
        monthly_rate,
        issued.date(),
        lender=funder,
        guarantee_fee_per_month=guarantee_fee_per_month,
        upfront_fee=upfront_fee,
        guarantor=guarantor or "",
        confirmed_at=issued - timedelta(minutes=5),
    )
    check_disclosure(form, signed_at=issued)
    document = (
        agreement or f"借款合同 loan agreement {secrets.token_hex(8)} {funder}/{platform}".encode()
    )
    salt = new_salt()
    record = LoanRecord(
        agreement_digest="0x" + digest_bytes(document).hex(),
        disclosure_digest="0x" + form.digest().hex(),
        borrower_commitment="0x"
        + borrower_commitment(actors.commitment_key, "resident-id", borrower_id, salt).hex(),
        funder_id=actors.ids[funder],
        platform_id=actors.ids[platform],
        guarantor_id=actors.ids[guarantor] if guarantor else 0,
        principal=principal,
        apr_bps=form.stated_apr_bps,
        term_days=(form.schedule[-1].due - form.disbursed_on).days,
        issued_at=now if not legacy else int(datetime(2025, 3, 1, tzinfo=UTC).timestamp()),
        flags=1 if legacy else 0,
    )
    loan = actors.chain.sign_loan(
        record,
        actors.signers,
        DocumentRef(
            sha256=record.agreement_digest, media_type="application/pdf", size=len(document)
        ),
        disclosure=form.as_json(),
        provenance={"source_system": f"{platform} loan core", "submitted_by": platform},
    )
    return loan, document


def promise(actors: Actors, loan: SignedLoan, deadline_seconds: int = 60) -> SignedLoan:
    """Attaches the gateway's signed entry timestamp to a loan it accepts."""
    now = actors.client.latest_timestamp()
    entry = actors.gateway_key.sign(
        EntryPromise(
            gateway_id=actors.ids["Gateway"],
            chain_id=actors.deployment.chain_id,
            ledger=actors.deployment.ledger,
            record_id="0x" + loan.record_id.hex(),
            leaf_hash="0x" + leaf_hash(LEAF_TYPES, loan.leaf_values).hex(),
            accepted_at=now,
            anchor_deadline=now + deadline_seconds,
        )
    )
    return replace(loan, entry_timestamp=entry)


@dataclass
class DemoReport:
    """What the demo did, for printing and for tests."""

    steps: list[tuple[str, str, str]] = field(default_factory=list)  # (step, outcome, detail)
    receipts: list[Receipt] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, step: str, outcome: str, detail: str) -> None:
        self.steps.append((step, outcome, detail))


def run_demo(batch_size: int = 20, log: Log | None = None) -> DemoReport:
    """Runs the whole scenario and returns what happened (each step's outcome is computed)."""
    started = time.perf_counter()
    report = DemoReport()

    def step(name: str, outcome: str, detail: str) -> None:
        report.add(name, outcome, detail)
        if log:
            log(f"{name}: {outcome} — {detail}")

    actors = setup_actors()
    chain = actors.chain
    step(
        "deploy",
        "ok",
        f"registry {actors.deployment.registry}, ledger {actors.deployment.ledger} on chain {actors.deployment.chain_id}",
    )
    step("participants", "ok", f"{len(actors.ids)} registered: " + ", ".join(actors.ids))

    # Per-record anchoring: the contract checks every rule itself.
    loan, document = make_loan(
        actors, "Bank A", "Platform 1", guarantor="Guarantor G", guarantee_fee_per_month=3_000
    )
    tx = chain.anchor_loan(actors.gateway_account, loan)
    per_record = chain.per_record_receipt(loan, tx)
    report.receipts.append(per_record)
    step(
        "per-record anchor", "ok", f"APR {loan.record.apr_bps} bps, 3 signatures, gas {tx.gas_used}"
    )

    # Batched anchoring: rules checked off chain by the contract's own view, then one root.
    batch_loans = []
    for i in range(batch_size):
        funder, platform = [
            ("Bank A", "Platform 2"),
            ("Bank B", "Platform 2"),
            ("CF Co", "Platform 3"),
        ][i % 3]
        candidate, _ = make_loan(
            actors,
            funder,
            platform,
            monthly_rate=Fraction(8 + i % 9, 1000),
            upfront_fee=10_000 * (i % 3),
        )
        chain.check_loan(candidate)
        batch_loans.append(promise(actors, candidate))
    batch = chain.anchor_batch(actors.gateway_account, batch_loans)
    receipts = chain.batch_receipts(batch)
    report.receipts.extend(receipts)
    step(
        "batch anchor",
        "ok",
        f"{len(batch_loans)} loans, root {batch.root.hex()[:16]}…, gas {batch.tx.gas_used}"
        f" ({batch.tx.gas_used // len(batch_loans)} per record)",
    )

    # Rejections.
    over_cap, _ = make_loan(actors, "Bank A", "Platform 1", monthly_rate=Fraction(25, 1000))
    try:
        chain.anchor_loan(actors.gateway_account, over_cap)
        step("over-cap loan", "NOT REJECTED", "the contract accepted it")
    except LedgerError as exc:
        step("over-cap loan", "rejected", f"{exc.code}: APR {over_cap.record.apr_bps} bps")
    off_list, _ = make_loan(actors, "Bank B", "Platform 3")
    try:
        chain.check_loan(off_list)
        step("off-whitelist platform", "NOT REJECTED", "the check passed")
    except LedgerError as exc:
        step(
            "off-whitelist platform", "rejected", f"{exc.code}: Platform 3 is not on Bank B's list"
        )

    # Amendment: the per-record loan is replaced by a corrected one (platform + funder sign).
    corrected, _ = make_loan(
        actors, "Bank A", "Platform 1", guarantor="Guarantor G", guarantee_fee_per_month=2_000
    )
    chain.anchor_loan(actors.gateway_account, corrected)
    now = actors.client.latest_timestamp()
    amendment = Retirement(
        record_id="0x" + loan.record_id.hex(),
        superseded_by="0x" + corrected.record_id.hex(),
        reason_code=2,
        retired_at=now,
    )
    chain.retire(
        actors.gateway_account,
        loan.record,
        amendment,
        [actors.signers[loan.record.platform_id], actors.signers[loan.record.funder_id]],
    )
    step(
        "amendment",
        "ok",
        f"{loan.record_id.hex()[:16]}… superseded by {corrected.record_id.hex()[:16]}…",
    )

    # Revocation of a batched record by the regulator alone, with its inclusion proof.
    revoked = receipts[1]
    assert revoked.anchor.root is not None and revoked.anchor.leaf is not None
    revocation = Retirement(record_id=revoked.record_id, reason_code=7, retired_at=now)
    chain.retire(
        actors.gateway_account,
        revoked.record,
        revocation,
        [actors.regulator],
        (
            bytes.fromhex(revoked.anchor.root[2:]),
            bytes.fromhex(revoked.anchor.leaf.values[1][2:]),
            [bytes.fromhex(p[2:]) for p in revoked.anchor.proof],
        ),
    )
    step(
        "revocation",
        "ok",
        f"batched record {revoked.record_id[:18]}… revoked by the regulator (reason 7)",
    )

    # Auditor.
    client = actors.client
    good = verify_receipt(
        Receipt.model_validate_json(receipts[0].to_json()), client, raise_on_failure=False
    )
    passed = sum(c.status == "pass" for c in good.checks)
    step(
        "auditor: receipt",
        "verified" if good.ok else "FAILED",
        f"{passed} checks passed, rest not applicable",
    )
    try:
        verify_receipt(per_record, client, document=document + b" tampered")
        step("auditor: tampered document", "NOT CAUGHT", "")
    except VerificationError as exc:
        step("auditor: tampered document", "caught", f"{exc.check}: {exc.code}")
    try:
        verify_receipt(per_record, client, document=document)
        step("auditor: amended record", "NOT CAUGHT", "")
    except VerificationError as exc:
        step("auditor: amended record", "flagged", f"{exc.check}: {exc.code}")

    # Regulator statistics from the chain's events and the receipts.
    loans = [r.record for r in report.receipts]
    by_funder: dict[int, list[int]] = {}
    for rec in loans:
        by_funder.setdefault(rec.funder_id, []).append(rec.apr_bps)
    names = {pid: name for name, pid in actors.ids.items()}
    for funder_id, aprs in sorted(by_funder.items()):
        step(
            f"stats: {names[funder_id]}",
            f"{len(aprs)} loans",
            f"APR avg {sum(aprs) / len(aprs) / 100:.2f}%, max {max(aprs) / 100:.2f}%",
        )
    report.seconds = time.perf_counter() - started
    return report
