"""Factories for tests, the demo and the benchmarks: the standard cast of participants, fee
disclosure forms with their APR computed by the engine, signed loans, gateway promises.

One place for them, so a test, the demo and a benchmark build the same market the same way.

- `CAST` / `WHITELISTS` and `setup_actors`: the market on a chain, without a gateway (the
  contracts and the library only);
- `GATEWAY_CAST` / `GATEWAY_WHITELISTS`: the market as the HTTP tests register it through a
  gateway;
- `build_disclosure`, `make_loan`, `promise`, `loan_submission`: forms, signed loans, promises,
  and the JSON a platform submits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, Web3

from ledger.anchoring import EvidenceChain, SignedLoan
from ledger.apr import compute_apr, fold_fees
from ledger.canonical import borrower_commitment, digest_bytes, new_salt
from ledger.chain.client import ChainClient
from ledger.chain.deploy import Deployment, deploy_contracts
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
from ledger.enums import InstitutionType, Role
from ledger.receipts import DocumentRef, Provenance
from ledger.records import LoanRecord
from ledger.signing import LocalSigner
from ledger.timestamps import GatewayKey

__all__ = [
    "CAST",
    "GATEWAY_CAST",
    "GATEWAY_WHITELISTS",
    "WHITELISTS",
    "Actors",
    "build_disclosure",
    "funded_key_file",
    "loan_submission",
    "make_loan",
    "promise",
    "setup_actors",
]

#: The market of the scenario (the demo adds an auditor): name, role, institution type.
CAST: tuple[tuple[str, Role, InstitutionType], ...] = (
    ("Bank A", Role.FUNDER, InstitutionType.BANK),
    ("Bank B", Role.FUNDER, InstitutionType.BANK),
    ("CF Co", Role.FUNDER, InstitutionType.CONSUMER_FINANCE),
    ("Platform 1", Role.PLATFORM, InstitutionType.NONE),
    ("Platform 2", Role.PLATFORM, InstitutionType.NONE),
    ("Platform 3", Role.PLATFORM, InstitutionType.NONE),
    ("Guarantor G", Role.CREDIT_ENHANCER, InstitutionType.NONE),
)
#: Each funder's whitelist of partners.
WHITELISTS: dict[str, tuple[str, ...]] = {
    "Bank A": ("Platform 1", "Platform 2", "Guarantor G"),
    "Bank B": ("Platform 1", "Platform 2"),
    "CF Co": ("Platform 3", "Guarantor G"),
}


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
    for name, role, institution in CAST:
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
    for funder, partners in WHITELISTS.items():
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
    computed = check_disclosure(form, signed_at=issued)
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
        apr_bps=computed.nominal_bps,  # the record carries the computed rate (R4)
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
        provenance=Provenance(
            submitted_by=actors.ids[platform],
            source_system=f"{platform} loan core",
            gateway_id=actors.ids["Gateway"],
        ),
    )
    return loan, document


def promise(actors: Actors, loan: SignedLoan, deadline_seconds: int = 60) -> SignedLoan:
    """Attaches the gateway's signed entry timestamp to a loan it accepts."""
    entry = loan.promise(
        actors.gateway_key,
        actors.ids["Gateway"],
        actors.chain.domain,
        actors.client.latest_timestamp(),
        deadline_seconds,
    )
    return replace(loan, entry_timestamp=entry)


#: The market the gateway's HTTP tests register (name, role label, institution type label).
GATEWAY_CAST: tuple[tuple[str, str, str], ...] = (
    ("bank1", "funder", "bank"),
    ("bank2", "funder", "bank"),
    ("cf", "funder", "consumer_finance"),
    ("p1", "platform", "none"),
    ("p2", "platform", "none"),
    ("p3", "platform", "none"),  # on nobody's whitelist
    ("g1", "credit_enhancer", "none"),
    ("g2", "credit_enhancer", "none"),  # on nobody's whitelist
    ("auditor", "auditor", "none"),
)
GATEWAY_WHITELISTS: dict[str, tuple[str, ...]] = {
    "bank1": ("p1", "p2", "g1"),
    "bank2": ("p1", "p2", "g1"),
    "cf": ("p1",),
}


def loan_submission(
    funder_id: int,
    issued_at: int,
    *,
    principal: int = 2_000_000,
    months: int = 12,
    monthly_rate: Fraction = Fraction(1, 100),
    confirmed_before: timedelta = timedelta(minutes=5),
    document: bytes | None = None,
    borrower_id: str = "110101199003070000",
    **fields: Any,
) -> tuple[dict[str, Any], bytes]:
    """The JSON a platform submits for a consistent loan issued at `issued_at`, and the
    agreement's bytes (fresh unless given)."""
    at = datetime.fromtimestamp(issued_at, UTC)
    form = build_disclosure(
        principal,
        months,
        monthly_rate,
        at.date(),
        lender="Funder",
        confirmed_at=at - confirmed_before,
    )
    doc = document if document is not None else b"%PDF-1.7 agreement " + secrets.token_bytes(16)
    body: dict[str, Any] = {
        "agreement_sha256": hashlib.sha256(doc).hexdigest(),
        "disclosure": form.as_json(),
        "borrower_id": borrower_id,
        "funder_id": funder_id,
        "issued_at": issued_at,
    }
    body.update(fields)
    return body, doc


def funded_key_file(client: ChainClient, path: Path, wei: int = 10**20) -> str:
    """A fresh account funded from a dev node's unlocked account (the explicit dev-only step a
    real deployment replaces with its own funded keys), written as a key file (hex, mode 600);
    returns its address. Throwaway test keys only."""
    account: LocalAccount = Account.create()
    client.fund(account.address, wei)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(bytes(account.key).hex() + "\n")
    path.chmod(0o600)
    return str(account.address)
