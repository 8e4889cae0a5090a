"""Shared fixtures of the unit suite: one real deployment on the embedded eth-tester chain.

`ledger_env` (session-scoped: each xdist worker builds its own, ~1 s) deploys the registry and the
ledger with a regulator whose key we hold, registers a bank funder, a platform, a guarantor and a
gateway (with a real Ed25519 key), whitelists the partners, and anchors:

- a batch of five signed loans (`anchor_batch`), each carrying a gateway-signed entry timestamp,
  with their receipts;
- one record anchored on its own (`anchor_loan`) with its receipt;

all of them with a real fee disclosure form whose stated APR is the one the APR engine computes
from the form's own schedule and fees. Tests that change chain state (retire a record, prove a
violation...) make fresh loans with `LedgerEnv.new_loan` so the shared receipts stay valid.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, Web3

from ledger.anchoring import BatchAnchor, EvidenceChain, SignedLoan
from ledger.apr import compute_apr, fold_fees
from ledger.canonical import borrower_commitment, digest_bytes
from ledger.chain.client import ChainClient
from ledger.chain.deploy import Deployment, deploy_contracts
from ledger.disclosure import (
    BorrowerConfirmation,
    DefaultCost,
    FeeCharge,
    FeeDisclosure,
    FeeItem,
    Instalment,
    computed_apr,
    disclosure_cash_flows,
)
from ledger.enums import InstitutionType, Role
from ledger.receipts import DocumentRef, Provenance, Receipt
from ledger.records import LoanRecord
from ledger.signing import LocalSigner
from ledger.timestamps import GatewayKey
from ledger.trust import TrustRoot

COMMITMENT_KEY = bytes(range(32))
DOCUMENT = (
    b"%PDF-1.7\n% loan agreement (test fixture)\n"
    + "借款合同 / loan agreement: principal CNY 12,000.00, 12 monthly instalments\n".encode()
    + bytes(range(256)) * 4
    + b"\n%%EOF\n"
)


def add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return date(day.year + index // 12, index % 12 + 1, day.day)


def disclosure_form_kwargs(disbursed_on: date = date(2026, 3, 15)) -> dict[str, Any]:
    """A 12-month amortizing loan of CNY 12,000 with an upfront service fee (deducted) and a
    guarantee fee collected with each instalment: everything but `stated_apr_bps`."""
    principal = 1_200_000
    schedule = tuple(
        Instalment(
            due=add_months(disbursed_on, k),
            principal=100_000,
            interest=(principal - 100_000 * (k - 1)) * 12 // 1000,
        )
        for k in range(1, 13)
    )
    fees = (
        FeeItem(
            name="平台服务费",
            category="service",
            timing="upfront",
            collector="Platform P",
            charges=(FeeCharge(on=disbursed_on, amount=12_000),),
        ),
        FeeItem(
            name="担保费",
            category="guarantee",
            timing="with_instalment",
            rate_bps=100,
            collector="Guarantor G",
            charges=tuple(FeeCharge(on=i.due, amount=1_000) for i in schedule),
        ),
    )
    return {
        "lender": "Bank A",
        "principal": principal,
        "disbursed_on": disbursed_on,
        "schedule": schedule,
        "fees": fees,
        "default_costs": (
            DefaultCost(
                name="逾期罚息", basis="1.5 x contract rate on overdue principal", rate_bps=2700
            ),
        ),
        "no_other_charges": True,
        "no_other_charges_statement": "除本表所列费用外，不收取任何其他费用。",
        "confirmation": BorrowerConfirmation(
            method="online",
            confirmed_at=datetime(2026, 3, 14, 8, 0, tzinfo=UTC),
            reading_seconds=30,
        ),
    }


def computed_apr_bps(kwargs: dict[str, Any]) -> int:
    """The APR engine's rate for a form's own schedule and fees (stated value not used)."""
    draft = FeeDisclosure(stated_apr_bps=0, **kwargs)
    repayments, fees = disclosure_cash_flows(draft)
    flows = fold_fees(draft.principal, draft.disbursed_on, repayments, fees)
    return compute_apr(flows).nominal_bps


def consistent_form(**overrides: Any) -> FeeDisclosure:
    """A form whose stated APR is the one computed from its numbers."""
    kwargs = {**disclosure_form_kwargs(), **overrides}
    return FeeDisclosure(stated_apr_bps=computed_apr_bps(kwargs), **kwargs)


@dataclass
class LedgerEnv:
    """One deployment and the parties on it, plus the anchored fixtures."""

    client: ChainClient
    chain: EvidenceChain
    deployment: Deployment
    regulator: LocalSigner
    regulator_account: LocalAccount
    bank: LocalSigner
    bank_account: LocalAccount
    platform: LocalSigner
    guarantor: LocalSigner
    gateway_account: LocalAccount
    gateway_key: GatewayKey
    bank_id: int
    platform_id: int
    guarantor_id: int
    gateway_id: int
    form: FeeDisclosure
    document: bytes
    batch: BatchAnchor | None = None
    batch_receipts: list[Receipt] = field(default_factory=list)
    per_record_loan: SignedLoan | None = None
    per_record_receipt: Receipt | None = None
    _serial: int = 0

    @property
    def trust(self) -> TrustRoot:
        """The trust root an auditor of this deployment holds."""
        return TrustRoot.of_deployment(self.client, self.deployment)

    @property
    def signers(self) -> dict[int, LocalSigner]:
        return {
            self.bank_id: self.bank,
            self.platform_id: self.platform,
            self.guarantor_id: self.guarantor,
        }

    def new_loan(
        self,
        *,
        guarantor: bool = True,
        platform_id: int | None = None,
        signers: dict[int, LocalSigner] | None = None,
        apr_bps: int | None = None,
        form: FeeDisclosure | None = None,
        disclosure: bool = True,
        stamp: bool = True,
        **record_fields: Any,
    ) -> SignedLoan:
        """A fresh signed loan (unique borrower commitment) carrying `form` (default: the fixture's
        form), or no form if `disclosure` is false (the digest is then a placeholder), with the
        gateway's entry timestamp unless `stamp` is false. `record_fields` override fields of the
        loan record (issued_at, flags, co_funder_id...)."""
        self._serial += 1
        form = (form or self.form) if disclosure else None
        commitment = borrower_commitment(
            COMMITMENT_KEY,
            "居民身份证",
            f"11010119900307{self._serial:04d}",
            self._serial.to_bytes(16, "big"),
        )
        record = LoanRecord(
            agreement_digest="0x" + digest_bytes(self.document).hex(),
            disclosure_digest="0x" + (form.digest().hex() if form else "22" * 32),
            borrower_commitment="0x" + commitment.hex(),
            funder_id=self.bank_id,
            platform_id=platform_id or self.platform_id,
            guarantor_id=self.guarantor_id if guarantor else 0,
            principal=form.principal if form else 1_200_000,
            apr_bps=apr_bps
            if apr_bps is not None
            else (computed_apr(form).nominal_bps if form else 1800),
            term_days=365,
            **{"issued_at": self.client.latest_timestamp(), **record_fields},
        )
        document = DocumentRef(
            sha256=record.agreement_digest, media_type="application/pdf", size=len(self.document)
        )
        loan = self.chain.sign_loan(
            record,
            signers or self.signers,
            document,
            disclosure=form.as_json() if form else None,
            provenance=Provenance(
                submitted_by=record.platform_id,
                source_system="unit-tests",
                gateway_id=self.gateway_id,
            ),
        )
        loan = dataclasses.replace(loan, document_location="vault://agreements/test")
        return self.stamp(loan) if stamp else loan

    def stamp(self, loan: SignedLoan, *, deadline_in: int = 3600) -> SignedLoan:
        """Attaches the gateway's signed entry timestamp (promise to anchor within `deadline_in` s)."""
        entry = loan.promise(
            self.gateway_key,
            self.gateway_id,
            self.chain.domain,
            self.client.latest_timestamp(),
            deadline_in,
        )
        return dataclasses.replace(loan, entry_timestamp=entry)

    def anchor_one(self, loan: SignedLoan) -> Receipt:
        tx = self.chain.anchor_loan(self.gateway_account, loan)
        return self.chain.per_record_receipt(loan, tx)


def build_env() -> LedgerEnv:
    client = ChainClient(Web3(EthereumTesterProvider()))
    regulator = LocalSigner.generate()
    client.fund(regulator.address, 10**21)
    regulator_account: LocalAccount = Account.from_key(regulator.private_key)
    deployment = deploy_contracts(client, regulator_account)  # the regulator is participant 1
    chain = EvidenceChain(client, deployment)

    bank, platform, guarantor = (
        LocalSigner.generate(),
        LocalSigner.generate(),
        LocalSigner.generate(),
    )
    bank_account: LocalAccount = Account.from_key(bank.private_key)
    client.fund(bank.address, 10**20)
    gateway_account = client.new_funded_account()
    gateway_key = GatewayKey.generate()

    bank_id = chain.register_participant(
        regulator_account, Role.FUNDER, bank.address, "Bank A", InstitutionType.BANK
    )
    platform_id = chain.register_participant(
        regulator_account, Role.PLATFORM, platform.address, "Platform P"
    )
    guarantor_id = chain.register_participant(
        regulator_account, Role.CREDIT_ENHANCER, guarantor.address, "Guarantor G"
    )
    gateway_id = chain.register_participant(
        regulator_account,
        Role.GATEWAY,
        gateway_account.address,
        "Gateway",
        ed25519_public_key=gateway_key.public_key,
    )
    chain.whitelist(bank_account, platform_id)
    chain.whitelist(bank_account, guarantor_id)

    env = LedgerEnv(
        client=client,
        chain=chain,
        deployment=deployment,
        regulator=regulator,
        regulator_account=regulator_account,
        bank=bank,
        bank_account=bank_account,
        platform=platform,
        guarantor=guarantor,
        gateway_account=gateway_account,
        gateway_key=gateway_key,
        bank_id=bank_id,
        platform_id=platform_id,
        guarantor_id=guarantor_id,
        gateway_id=gateway_id,
        form=consistent_form(),
        document=DOCUMENT,
    )
    loans = [env.stamp(env.new_loan(guarantor=i % 2 == 0)) for i in range(5)]
    env.batch = chain.anchor_batch(gateway_account, loans)
    env.batch_receipts = chain.batch_receipts(env.batch)
    env.per_record_loan = env.stamp(env.new_loan())
    env.per_record_receipt = env.anchor_one(env.per_record_loan)
    return env


@pytest.fixture(scope="session")
def ledger_env() -> LedgerEnv:
    return build_env()


@pytest.fixture(scope="session")
def batch_receipts(ledger_env: LedgerEnv) -> list[Receipt]:
    return ledger_env.batch_receipts


@pytest.fixture(scope="session")
def per_record_receipt(ledger_env: LedgerEnv) -> Receipt:
    assert ledger_env.per_record_receipt is not None
    return ledger_env.per_record_receipt


@pytest.fixture(scope="session")
def fee_form() -> FeeDisclosure:
    """A consistent fee disclosure form (no chain needed)."""
    return consistent_form()


@pytest.fixture(scope="session")
def document_bytes() -> bytes:
    return DOCUMENT
