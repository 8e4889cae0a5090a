"""The gateway's work as a library: participants, whitelists, loans, the durable queue and batcher,
receipts. `gateway/` is only HTTP around this; the CLI and tests call it directly.

Flow of a loan: a platform submits it (`submit_loan`): inputs are validated, the borrower's
identity becomes a commitment at once, the fee disclosure is checked against its own numbers,
the rules that do not need the funder's signature are checked against the chain, and the
platform signs (custodial key, or its own signature is verified). The funder approves by
co-signing (`confirm_loan`, R7) or rejects. A fully signed record passes the contract's own
rule check (`checkLoan`, an eth_call), is committed to the queue, and the gateway returns its
signed entry timestamp (a promise to anchor by a deadline). The batcher anchors queued records
as one Merkle root every interval or batch size, and receipts become available. Records asked
for with `anchoring="per-record"` are anchored at once by `anchorLoan` instead.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.anchoring import AnchoredTx, EvidenceChain, SignedLoan
from ledger.canonical import borrower_commitment, digest_bytes, new_salt
from ledger.chain.client import ChainClient
from ledger.chain.deploy import (
    Deployment,
    InstitutionType,
    ParticipantStatus,
    Role,
    deploy_contracts,
    load_deployment,
)
from ledger.disclosure import DisclosurePolicy, FeeDisclosure, check_disclosure
from ledger.eip712 import loan_record_id
from ledger.errors import InputError, LedgerError, RuleViolation, SignatureError
from ledger.keystore import hash_api_key, load_master_key, new_api_key, seal, seal_document, unseal
from ledger.limits import MAX_VERIFY_BATCH
from ledger.merkle import StandardMerkleTree
from ledger.receipts import LEAF_TYPES, DocumentRef, DocumentRefV1, Provenance, Receipt
from ledger.records import FLAG_LEGACY, ZERO32, LoanRecord, Retirement
from ledger.rules import RegistryView, check_rules
from ledger.signing import LocalSigner, recover_address
from ledger.store import ApiKeyRow, BatchRow, Database, DocumentRow, ParticipantRow, SubmissionRow
from ledger.timestamps import GatewayKey, SignedEntryTimestamp
from ledger.trust import TRUST_ROOT_FILE, TrustRoot
from ledger.verify import SnapshotChainFacts, VerificationReport, Verifier

__all__ = [
    "Caller",
    "LedgerService",
    "LoanSubmission",
    "NotFound",
    "PermissionDenied",
    "ServiceConfig",
    "SubmissionOutcome",
]

MAX_BATCH_SUBMISSION = 10_000
MAX_PRINCIPAL = 2**63 - 1  # fen; SQL BIGINT


class NotFound(LedgerError):
    code = "NOT_FOUND"


class PermissionDenied(LedgerError):
    code = "FORBIDDEN"


class Conflict(LedgerError):
    code = "CONFLICT"


@dataclass(frozen=True)
class Caller:
    """Who is calling: a participant and its role (from an API key)."""

    participant_id: int
    role: Role


@dataclass(frozen=True)
class ServiceConfig:
    data_dir: Path
    batch_interval: float = 1.0
    batch_size: int = 1_000
    anchor_deadline_seconds: int = 300
    disclosure_policy: DisclosurePolicy = field(default_factory=DisclosurePolicy)


class LoanSubmission(BaseModel):
    """What a platform submits for one loan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agreement_sha256: str = Field(pattern=r"^(0x)?[0-9a-fA-F]{64}$")
    disclosure: FeeDisclosure
    borrower_id_type: str = Field(min_length=1, max_length=32, default="resident-id")
    borrower_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="turned into a keyed, salted commitment at once, never stored",
    )
    borrower_commitment: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{64}$",
        description="instead of borrower_id: a commitment the platform made with its own key "
        "(needed to sign the record before submitting it, non-custodially)",
    )
    funder_id: int = Field(ge=1)
    guarantor_id: int = Field(default=0, ge=0)
    co_funder_id: int = Field(default=0, ge=0)
    co_funder_share_bps: int = Field(default=0, ge=0, lt=10_000)
    term_days: int = Field(ge=1, lt=2**32)
    issued_at: int | None = Field(default=None, ge=0, description="unix seconds; default: now")
    legacy: bool = False
    anchoring: str = Field(default="batch", pattern="^(batch|per-record)$")
    platform_signature: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{130}$")
    funder_signature: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{130}$")
    source_system: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _one_borrower_reference(self) -> LoanSubmission:
        if (self.borrower_id is None) == (self.borrower_commitment is None):
            raise ValueError("give exactly one of borrower_id and borrower_commitment")
        if self.platform_signature is not None and (
            self.issued_at is None or self.borrower_commitment is None
        ):
            raise ValueError(
                "a platform signature needs issued_at and borrower_commitment (the record must be fixed)"
            )
        return self


@dataclass(frozen=True)
class SubmissionOutcome:
    record_id: str
    status: str
    entry_timestamp: SignedEntryTimestamp | None
    duplicate: bool = False


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _b32(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


ROLE_NAMES = {r: r.name.lower() for r in Role}
INSTITUTION_NAMES = {t: t.name.lower() for t in InstitutionType}


class LedgerService:
    """One gateway: its database, its chain client and deployment, its keys."""

    def __init__(
        self,
        db: Database,
        client: ChainClient,
        deployment: Deployment,
        config: ServiceConfig,
        master_key: bytes,
        gateway_account: LocalAccount,
        gateway_key: GatewayKey,
        gateway_id: int,
        commitment_key: bytes,
    ) -> None:
        self.db = db
        self.client = client
        self.deployment = deployment
        self.config = config
        self.chain = EvidenceChain(client, deployment)
        #: what auditors pin; this gateway verifies every receipt against it
        self.trust_root = TrustRoot.of_deployment(client, deployment)
        self._facts: SnapshotChainFacts | None = None
        self._master = master_key
        self.gateway_account = gateway_account
        self.gateway_key = gateway_key
        self.gateway_id = gateway_id
        self._commitment_key = commitment_key
        # eth-tester is not thread-safe, and one account's nonces must be sent in order.
        self.chain_lock = threading.RLock()
        self._signers: dict[int, LocalSigner] = {}
        self.metrics: dict[str, Any] = {
            "submissions": 0,
            "batches": 0,
            "batch_sizes": [],
            "anchor_latency": [],
            "errors": {},
        }

    # ------------------------------------------------------------------ bootstrap

    @classmethod
    def open(
        cls, db: Database, client: ChainClient, config: ServiceConfig
    ) -> tuple[LedgerService, str | None]:
        """Opens the gateway in `config.data_dir`; on first start deploys the contracts (if the
        chain has none recorded), registers this gateway and a regulator, and returns the
        regulator's API key (shown once). Later starts return None for it."""
        master = load_master_key(config.data_dir)
        regulator_key: str | None = None
        deployments = config.data_dir / "deployments"
        deployment = load_deployment(deployments, client.chain_id)
        if deployment is None:
            regulator = LocalSigner.generate()
            client.fund(regulator.address, 10**22)
            deployment = deploy_contracts(client, Account.from_key(regulator.private_key))
            deployment.save(deployments)
            with db.session() as s:
                s.merge(
                    ParticipantRow(
                        id=1,
                        role="regulator",
                        institution_type="none",
                        name="Regulator",
                        signer_address=regulator.address,
                        status="active",
                        custodial=True,
                        encrypted_key=seal(master, regulator.private_key, b"participant:1"),
                        registered_at=deployment.deployed_at,
                    )
                )
            regulator_key = cls._store_api_key(db, 1, Role.REGULATOR)
        gateway_meta = db.get_meta(f"gateway:{deployment.chain_id}")
        if gateway_meta is None:
            gateway_account: LocalAccount = Account.create()
            gateway_key = GatewayKey.generate()
            client.fund(gateway_account.address, 10**22)
            regulator_row = cls._participant_row(db, 1)
            regulator_account = Account.from_key(
                unseal(master, regulator_row.encrypted_key or b"", b"participant:1")
            )
            chain = EvidenceChain(client, deployment)
            gateway_id = chain.register_participant(
                regulator_account,
                Role.GATEWAY,
                gateway_account.address,
                "Gateway",
                ed25519_public_key=gateway_key.public_key,
            )
            sealed = seal(master, bytes(gateway_account.key) + gateway_key.seed, b"gateway")
            db.set_meta(
                f"gateway:{deployment.chain_id}",
                json.dumps({"id": gateway_id, "sealed": sealed.hex()}),
            )
            with db.session() as s:
                s.merge(
                    ParticipantRow(
                        id=gateway_id,
                        role="gateway",
                        institution_type="none",
                        name="Gateway",
                        signer_address=gateway_account.address,
                        status="active",
                        custodial=True,
                        encrypted_key=None,
                        registered_at=client.latest_timestamp(),
                    )
                )
        else:
            info = json.loads(gateway_meta)
            secret = unseal(master, bytes.fromhex(info["sealed"]), b"gateway")
            gateway_account = Account.from_key(secret[:32])
            gateway_key = GatewayKey.from_seed(secret[32:])
            gateway_id = int(info["id"])
        commitment_meta = db.get_meta("commitment_key")
        if commitment_meta is None:
            import secrets as _secrets

            commitment_key = _secrets.token_bytes(32)
            db.set_meta("commitment_key", seal(master, commitment_key, b"commitment-key").hex())
        else:
            commitment_key = unseal(master, bytes.fromhex(commitment_meta), b"commitment-key")
        service = cls(
            db,
            client,
            deployment,
            config,
            master,
            gateway_account,
            gateway_key,
            gateway_id,
            commitment_key,
        )
        service.trust_root.save(config.data_dir / TRUST_ROOT_FILE)
        return service, regulator_key

    @staticmethod
    def _store_api_key(db: Database, participant_id: int, role: Role) -> str:
        key = new_api_key()
        with db.session() as s:
            s.add(
                ApiKeyRow(
                    key_hash=hash_api_key(key),
                    participant_id=participant_id,
                    role=ROLE_NAMES[role],
                    created_at=time.time(),
                )
            )
        return key

    @staticmethod
    def _participant_row(db: Database, participant_id: int) -> ParticipantRow:
        with db.session() as s:
            row = s.get(ParticipantRow, participant_id)
            if row is None:
                raise NotFound(
                    f"participant {participant_id} is not known to this gateway",
                    code="PARTICIPANT_UNKNOWN",
                )
            return row

    # ------------------------------------------------------------------ auth

    def authenticate(self, api_key: str) -> Caller:
        with self.db.session() as s:
            row = s.execute(
                select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_api_key(api_key))
            ).scalar_one_or_none()
            if row is None or row.revoked:
                raise PermissionDenied("unknown or revoked API key", code="UNAUTHENTICATED")
            return Caller(row.participant_id, Role[row.role.upper()])

    # ------------------------------------------------------------------ participants

    def _signer(self, participant_id: int) -> LocalSigner | None:
        if participant_id in self._signers:
            return self._signers[participant_id]
        row = self._participant_row(self.db, participant_id)
        if not row.custodial or row.encrypted_key is None:
            return None
        signer = LocalSigner(
            unseal(self._master, row.encrypted_key, f"participant:{participant_id}".encode())
        )
        self._signers[participant_id] = signer
        return signer

    def _regulator_account(self) -> LocalAccount:
        signer = self._signer(1)
        if signer is None:
            raise PermissionDenied(
                "the regulator's key is not held by this gateway", code="NON_CUSTODIAL"
            )
        account: LocalAccount = Account.from_key(signer.private_key)
        return account

    def register_participant(
        self,
        role: Role,
        name: str,
        institution_type: InstitutionType = InstitutionType.NONE,
        signer_address: str | None = None,
        ed25519_public_key: bytes = b"\0" * 32,
    ) -> tuple[ParticipantRow, str]:
        """Registers on chain (regulator's key) and returns the row and a new API key.

        Without `signer_address` the gateway generates and keeps the key (custodial)."""
        if role in (Role.NONE, Role.GATEWAY):
            raise InputError(f"participants of role {role.name.lower()} cannot be registered here")
        if role is Role.FUNDER and institution_type is InstitutionType.NONE:
            raise InputError(
                "a funder needs an institution type (rate caps depend on it)",
                code="INSTITUTION_TYPE_REQUIRED",
            )
        custodial = signer_address is None
        signer = LocalSigner.generate() if custodial else None
        address = signer.address if signer else to_checksum_address(str(signer_address))
        with self.chain_lock:
            pid = self.chain.register_participant(
                self._regulator_account(), role, address, name, institution_type, ed25519_public_key
            )
            if custodial and role is Role.FUNDER:
                # Custodial funders send their own whitelist transactions; give them gas.
                self.client.fund(address, 10**20)
        row = ParticipantRow(
            id=pid,
            role=ROLE_NAMES[role],
            institution_type=INSTITUTION_NAMES[institution_type],
            name=name,
            signer_address=address,
            status="active",
            custodial=custodial,
            encrypted_key=seal(self._master, signer.private_key, f"participant:{pid}".encode())
            if signer
            else None,
            registered_at=self.client.latest_timestamp(),
        )
        with self.db.session() as s:
            s.merge(row)
        return row, self._store_api_key(self.db, pid, role)

    def set_participant_status(self, participant_id: int, status: ParticipantStatus) -> None:
        with self.chain_lock:
            self.client.transact(
                self._regulator_account(),
                self.chain.registry.functions.setParticipantStatus(participant_id, int(status)),
            )
        with self.db.session() as s:
            row = s.get(ParticipantRow, participant_id)
            if row is not None:
                row.status = status.name.lower()

    def set_rate_cap(
        self, institution_type: InstitutionType, cap_bps: int, effective_from: int = 0
    ) -> None:
        with self.chain_lock:
            self.client.transact(
                self._regulator_account(),
                self.chain.registry.functions.setRateCap(
                    int(institution_type), cap_bps, effective_from
                ),
            )

    def set_lpr(self, lpr_bps: int, effective_from: int = 0) -> None:
        with self.chain_lock:
            self.client.transact(
                self._regulator_account(),
                self.chain.registry.functions.setLpr(lpr_bps, effective_from),
            )

    def participants(self) -> list[ParticipantRow]:
        with self.db.session() as s:
            return list(s.execute(select(ParticipantRow).order_by(ParticipantRow.id)).scalars())

    # ------------------------------------------------------------------ whitelists (R1)

    def _funder_account(self, funder_id: int) -> LocalAccount:
        signer = self._signer(funder_id)
        if signer is None:
            raise PermissionDenied(
                "this funder keeps its own key: send addToWhitelist to the registry from it",
                code="NON_CUSTODIAL",
            )
        account: LocalAccount = Account.from_key(signer.private_key)
        return account

    def whitelist_add(self, funder_id: int, partner_id: int, effective_from: int = 0) -> None:
        """The funder (custodial key) puts a partner on its whitelist, from now or later."""
        self._whitelist_tx(
            funder_id, self.chain.registry.functions.addToWhitelist(partner_id, effective_from)
        )

    def whitelist_remove(self, funder_id: int, partner_id: int, effective_until: int = 0) -> None:
        """The funder (custodial key) takes a partner off its whitelist, from now or later."""
        self._whitelist_tx(
            funder_id,
            self.chain.registry.functions.removeFromWhitelist(partner_id, effective_until),
        )

    def _whitelist_tx(self, funder_id: int, fn: Any) -> None:
        from ledger.chain.client import ContractRevert

        with self.chain_lock:
            try:
                self.client.transact(self._funder_account(funder_id), fn)
            except ContractRevert as exc:
                raise RuleViolation(
                    f"whitelist change refused: {exc.error_name}{exc.error_args}",
                    code=_code(exc.error_name),
                ) from exc

    def whitelists(self, funder_id: int | None = None) -> list[dict[str, Any]]:
        """Every funder-partner pair with its history of periods, read from the chain."""
        rows = self.participants()
        funders = [
            r for r in rows if r.role == "funder" and (funder_id is None or r.id == funder_id)
        ]
        partners = [r for r in rows if r.role in ("platform", "credit_enhancer")]
        out = []
        with self.chain_lock:
            for funder in funders:
                for partner in partners:
                    history = self.client.call(
                        self.chain.registry.functions.whitelistHistory(funder.id, partner.id)
                    )
                    if history:
                        out.append(
                            {
                                "funder_id": funder.id,
                                "partner_id": partner.id,
                                "partner_role": partner.role,
                                "periods": [
                                    {"valid_from": int(p[0]), "valid_until": int(p[1]) or None}
                                    for p in history
                                ],
                            }
                        )
        return out

    # ------------------------------------------------------------------ loans

    def _build_record(
        self, platform_id: int, sub: LoanSubmission, now: int
    ) -> tuple[LoanRecord, FeeDisclosure, int]:
        """The record of a submission, its form, and the APR computed from the form (bps)."""
        issued_at = sub.issued_at if sub.issued_at is not None else now
        computed = check_disclosure(
            sub.disclosure,
            self.config.disclosure_policy,
            signed_at=datetime.fromtimestamp(issued_at, UTC),
        )
        if sub.disclosure.principal > MAX_PRINCIPAL:
            raise InputError("principal too large")
        if sub.borrower_commitment is not None:
            commitment = _b32(sub.borrower_commitment)
        else:
            assert sub.borrower_id is not None
            commitment = borrower_commitment(
                self._commitment_key, sub.borrower_id_type, sub.borrower_id, new_salt()
            )
        record = LoanRecord(
            agreement_digest="0x" + sub.agreement_sha256.removeprefix("0x").lower(),
            disclosure_digest=_hex(sub.disclosure.digest()),
            borrower_commitment=_hex(commitment),
            funder_id=sub.funder_id,
            platform_id=platform_id,
            guarantor_id=sub.guarantor_id,
            co_funder_id=sub.co_funder_id,
            co_funder_share_bps=sub.co_funder_share_bps,
            principal=sub.disclosure.principal,
            apr_bps=sub.disclosure.stated_apr_bps,
            term_days=sub.term_days,
            issued_at=issued_at,
            flags=FLAG_LEGACY if sub.legacy else 0,
        )
        return record, sub.disclosure, computed.nominal_bps

    def _signature_for(
        self, participant_id: int, record_id: bytes, given: str | None, who: str
    ) -> str | None:
        """A party's signature: verified if given, else made with its custodial key if held."""
        if given is not None:
            row = self._participant_row(self.db, participant_id)
            signature = bytes.fromhex(given[2:])
            recovered = recover_address(record_id, signature)
            if recovered.lower() != row.signer_address.lower():
                raise SignatureError(
                    f"the {who} signature is by {recovered}, not participant {participant_id}'s key"
                )
            return _hex(signature)
        signer = self._signer(participant_id)
        return _hex(signer.sign_digest(record_id)) if signer else None

    def _view(self) -> RegistryView:
        """Registry reads memoized for one request or batch."""
        return RegistryView(self.client, self.chain.registry)

    def _prepare(
        self,
        caller: Caller,
        sub: LoanSubmission,
        now: int,
        view: RegistryView,
        document: bytes | None,
        media_type: str,
    ) -> SubmissionRow:
        """Validates one submission and returns its row (not yet stored); raises the first error."""
        if (
            document is not None
            and digest_bytes(document).hex() != sub.agreement_sha256.removeprefix("0x").lower()
        ):
            raise InputError(
                "the uploaded document does not hash to agreement_sha256",
                code="DOCUMENT_DIGEST_MISMATCH",
            )
        record, form, computed_bps = self._build_record(caller.participant_id, sub, now)
        record_id = loan_record_id(record, self.chain.domain)
        with self.chain_lock:
            # every rule but the signatures (the funder has yet to sign)
            check_rules(record, view, now)
            if not record.is_legacy:
                # R2/R4: the cap binds the cost computed from the form, not only the stated figure
                # (which the Appendix J tolerance lets differ slightly).
                _, institution = view.role_of(record.funder_id)
                _, cap = view.rate_cap_at(institution, record.issued_at)
                if computed_bps > cap:
                    raise RuleViolation(
                        f"the form's own numbers give an APR of {computed_bps} bps, above the cap of {cap} bps",
                        code="RATE_CAP_EXCEEDED",
                    )
        signatures: dict[str, str] = {}
        platform_sig = self._signature_for(
            caller.participant_id, record_id, sub.platform_signature, "platform"
        )
        if platform_sig is None:
            hint = (
                f"sign record id {_hex(record_id)} and resubmit with platform_signature"
                if sub.borrower_commitment is not None and sub.issued_at is not None
                else "POST /v1/loans/prepare with borrower_commitment and issued_at to learn the record id to sign"
            )
            raise SignatureError(
                f"the platform keeps its own key: {hint}", code="SIGNATURE_MISSING"
            )
        signatures[str(caller.participant_id)] = platform_sig
        if sub.funder_signature is not None:
            signatures[str(sub.funder_id)] = (
                self._signature_for(sub.funder_id, record_id, sub.funder_signature, "funder") or ""
            )
        for pid in (record.guarantor_id, record.co_funder_id):
            if pid:
                sig = self._signature_for(pid, record_id, None, "party")
                if sig:
                    signatures[str(pid)] = sig
        _, institution = view.role_of(record.funder_id)
        return SubmissionRow(
            record_id=_hex(record_id),
            status="awaiting_funder",
            anchoring=sub.anchoring,
            agreement_digest=record.agreement_digest,
            platform_id=record.platform_id,
            funder_id=record.funder_id,
            guarantor_id=record.guarantor_id,
            co_funder_id=record.co_funder_id,
            institution_type=INSTITUTION_NAMES[InstitutionType(institution)],
            principal=record.principal,
            apr_bps=record.apr_bps,
            issued_at=record.issued_at,
            flags=record.flags,
            record_json=record.model_dump_json(),
            signatures_json=json.dumps(signatures),
            document_json=DocumentRefV1(
                sha256=record.agreement_digest,
                media_type=media_type if document is not None else None,
                size=len(document) if document is not None else None,
                location=f"vault:{record.agreement_digest}" if document is not None else None,
            ).model_dump_json(),
            disclosure_json=json.dumps(form.as_json()),
            provenance_json=Provenance(
                submitted_by=caller.participant_id,
                source_system=sub.source_system,
                gateway_id=self.gateway_id,
            ).model_dump_json(),
            created_at=time.time(),
        )

    def _existing(
        self, s: Session, platform_id: int, sub: LoanSubmission, now: int
    ) -> SubmissionRow | None:
        """Idempotency: the same agreement, parties and issue time is the same loan (the borrower
        commitment is salted per submission, so it cannot be the key)."""
        digest = "0x" + sub.agreement_sha256.removeprefix("0x").lower()
        issued_at = sub.issued_at if sub.issued_at is not None else None
        query = select(SubmissionRow).where(
            SubmissionRow.agreement_digest == digest,
            SubmissionRow.platform_id == platform_id,
            SubmissionRow.funder_id == sub.funder_id,
            SubmissionRow.status != "rejected",
        )
        if issued_at is not None:
            query = query.where(SubmissionRow.issued_at == issued_at)
        with s.no_autoflush:  # rows added earlier in this batch need no flush for this lookup
            return s.execute(query.limit(1)).scalar_one_or_none()

    @staticmethod
    def _outcome(row: SubmissionRow, duplicate: bool) -> SubmissionOutcome:
        entry = (
            SignedEntryTimestamp.model_validate_json(row.entry_timestamp_json)
            if row.entry_timestamp_json
            else None
        )
        return SubmissionOutcome(row.record_id, row.status, entry, duplicate=duplicate)

    def prepare_loan(self, caller: Caller, sub: LoanSubmission) -> tuple[LoanRecord, bytes]:
        """For platforms that keep their own key: the record a submission makes, and its id to
        sign, with every rule checked and nothing stored. Needs `borrower_commitment` and
        `issued_at`, so that the record the platform signs is the one the gateway will rebuild."""
        if caller.role is not Role.PLATFORM:
            raise PermissionDenied("only platforms submit loans", code="ROLE_FORBIDDEN")
        if sub.borrower_commitment is None or sub.issued_at is None:
            raise InputError(
                "preparing a record needs borrower_commitment and issued_at",
                code="RECORD_NOT_FIXED",
            )
        now = self.client.latest_timestamp()
        record, _, _ = self._build_record(caller.participant_id, sub, now)
        with self.chain_lock:
            check_rules(record, self._view(), now)
        return record, loan_record_id(record, self.chain.domain)

    def submit_loan(
        self,
        caller: Caller,
        sub: LoanSubmission,
        document: bytes | None = None,
        media_type: str = "application/pdf",
    ) -> SubmissionOutcome:
        """A platform submits a loan; see the module docstring for the flow."""
        results = self._submit_many(caller, [sub], document, media_type, raise_errors=True)
        outcome = results[0]
        assert isinstance(outcome, SubmissionOutcome)
        return outcome

    def submit_batch(self, caller: Caller, subs: Sequence[LoanSubmission]) -> list[dict[str, Any]]:
        """Up to 10,000 submissions in one transaction; each item gets its outcome or its error."""
        _check_batch_size(len(subs))
        outcomes = self._submit_many(caller, subs, None, "application/pdf", raise_errors=False)
        return [
            {"index": index, **_item_view(outcome, duplicate=True)}
            for index, outcome in enumerate(outcomes)
        ]

    def _submit_many(
        self,
        caller: Caller,
        subs: Sequence[LoanSubmission],
        document: bytes | None,
        media_type: str,
        *,
        raise_errors: bool,
    ) -> list[SubmissionOutcome | LedgerError]:
        if caller.role is not Role.PLATFORM:
            raise PermissionDenied("only platforms submit loans", code="ROLE_FORBIDDEN")
        now = self.client.latest_timestamp()
        view = self._view()
        outcomes: list[SubmissionOutcome | LedgerError] = []
        ready: list[str] = []
        with self.db.session() as s:
            seen: dict[tuple[str, int, int], SubmissionOutcome] = {}
            for sub in subs:
                key = (
                    sub.agreement_sha256.removeprefix("0x").lower(),
                    sub.funder_id,
                    sub.issued_at or now,
                )
                try:
                    if key in seen:  # the same loan twice in one request: one record
                        first = seen[key]
                        outcomes.append(
                            SubmissionOutcome(first.record_id, first.status, None, duplicate=True)
                        )
                        continue
                    existing = self._existing(s, caller.participant_id, sub, now)
                    if existing is not None:
                        outcomes.append(self._outcome(existing, duplicate=True))
                        continue
                    row = self._prepare(caller, sub, now, view, document, media_type)
                except LedgerError as exc:
                    self._count_error(exc.code)
                    if raise_errors:
                        raise
                    outcomes.append(exc)
                    continue
                s.add(row)
                record = LoanRecord.model_validate_json(row.record_json)
                signed = json.loads(row.signatures_json)
                if all(str(pid) in signed for pid in record.signer_ids()):
                    ready.append(row.record_id)
                fresh = SubmissionOutcome(row.record_id, row.status, None)
                outcomes.append(fresh)
                seen[key] = fresh
            if (
                document is not None
                and outcomes
                and isinstance(outcomes[0], SubmissionOutcome)
                and not outcomes[0].duplicate
            ):
                self._store_document(
                    s,
                    "0x" + subs[0].agreement_sha256.removeprefix("0x").lower(),
                    document,
                    media_type,
                )
        self.metrics["submissions"] += sum(
            isinstance(o, SubmissionOutcome) and not o.duplicate for o in outcomes
        )
        if ready:
            accepted = {
                o.record_id: o
                for o in self._accept_many(ready, view, raise_errors=raise_errors)
                if isinstance(o, SubmissionOutcome)
            }
            outcomes = [
                (
                    replace(accepted[o.record_id], duplicate=o.duplicate)
                    if o.record_id in accepted
                    else o
                )
                if isinstance(o, SubmissionOutcome)
                else o
                for o in outcomes
            ]
        return outcomes

    def _accept_many(
        self, record_ids: Sequence[str], view: RegistryView, *, raise_errors: bool
    ) -> list[SubmissionOutcome | LedgerError]:
        """All signatures are in: every rule with the signatures, then the entry timestamp and the
        queue, in one transaction (or per-record anchoring at once, if asked for)."""
        now = self.client.latest_timestamp()
        outcomes: list[SubmissionOutcome | LedgerError] = []
        per_record: list[str] = []
        with self.db.session() as s:
            for record_id in record_ids:
                row = s.get(SubmissionRow, record_id)
                if row is None:
                    outcomes.append(NotFound(f"no record {record_id}", code="RECORD_NOT_FOUND"))
                    continue
                loan = self._signed_loan(row)
                try:
                    with self.chain_lock:
                        check_rules(
                            loan.record,
                            view,
                            now,
                            record_id=loan.record_id,
                            signatures=loan.signatures,
                        )
                except LedgerError as exc:
                    row.status = "rejected"
                    row.rejection_code = exc.code
                    row.rejection_reason = exc.message
                    self._count_error(exc.code)
                    outcomes.append(exc)
                    continue
                entry = loan.promise(
                    self.gateway_key,
                    self.gateway_id,
                    self.chain.domain,
                    now,
                    self.config.anchor_deadline_seconds,
                )
                row.entry_timestamp_json = entry.model_dump_json()
                row.status = "queued"
                row.queued_at = time.time()
                if row.anchoring == "per-record":
                    per_record.append(record_id)
                outcomes.append(SubmissionOutcome(record_id, "queued", entry))
        if raise_errors:
            for outcome in outcomes:
                if isinstance(outcome, LedgerError):
                    raise outcome
        for record_id in per_record:
            self._anchor_per_record(record_id)
        if per_record:
            with self.db.session() as s:
                anchored = {rid: s.get(SubmissionRow, rid) for rid in per_record}
            outcomes = [
                SubmissionOutcome(
                    o.record_id,
                    getattr(anchored[o.record_id], "status", o.status),
                    o.entry_timestamp,
                )
                if isinstance(o, SubmissionOutcome) and o.record_id in anchored
                else o
                for o in outcomes
            ]
        return outcomes

    def confirm_loan(
        self, caller: Caller, record_id: str, signature: str | None = None
    ) -> SubmissionOutcome:
        """The funder co-signs (R7): custodial key, or its own signature verified."""
        outcome = self._confirm_many(caller, [(record_id, signature)], raise_errors=True)[0]
        assert isinstance(outcome, SubmissionOutcome)
        return outcome

    def confirm_batch(self, caller: Caller, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        """A funder co-signs many loans at once; each gets its own outcome or error."""
        _check_batch_size(len(record_ids))
        outcomes = self._confirm_many(
            caller, [(r.lower(), None) for r in record_ids], raise_errors=False
        )
        return [
            {"record_id": record_id, **_item_view(outcome, duplicate=False)}
            for record_id, outcome in zip(record_ids, outcomes, strict=True)
        ]

    def _confirm_many(
        self, caller: Caller, items: Sequence[tuple[str, str | None]], *, raise_errors: bool
    ) -> list[SubmissionOutcome | LedgerError]:
        outcomes: list[SubmissionOutcome | LedgerError] = []
        ready: list[str] = []
        with self.db.session() as s:
            for record_id, signature in items:
                try:
                    row = s.get(SubmissionRow, record_id)
                    if row is None or caller.participant_id != row.funder_id:
                        raise NotFound(
                            f"no record {record_id} for this funder", code="RECORD_NOT_FOUND"
                        )
                    if row.status != "awaiting_funder":
                        outcomes.append(self._outcome(row, duplicate=True))
                        continue
                    sig = self._signature_for(
                        caller.participant_id, _b32(record_id), signature, "funder"
                    )
                    if sig is None:
                        raise SignatureError(
                            "this funder keeps its own key: include its signature",
                            code="SIGNATURE_MISSING",
                        )
                except LedgerError as exc:
                    self._count_error(exc.code)
                    if raise_errors:
                        raise
                    outcomes.append(exc)
                    continue
                sigs = json.loads(row.signatures_json)
                sigs[str(caller.participant_id)] = sig
                row.signatures_json = json.dumps(sigs)
                ready.append(record_id)
                outcomes.append(SubmissionOutcome(record_id, "awaiting_funder", None))
        if ready:
            accepted = self._accept_many(ready, self._view(), raise_errors=raise_errors)
            by_id = {
                o.record_id if isinstance(o, SubmissionOutcome) else rid: o
                for rid, o in zip(ready, accepted, strict=True)
            }
            outcomes = [
                by_id.get(o.record_id, o)
                if isinstance(o, SubmissionOutcome) and not o.duplicate
                else o
                for o in outcomes
            ]
        return outcomes

    def reject_loan(self, caller: Caller, record_id: str, reason: str) -> SubmissionOutcome:
        """The funder refuses a loan awaiting its approval."""
        with self.db.session() as s:
            row = s.get(SubmissionRow, record_id)
            if row is None or row.funder_id != caller.participant_id:
                raise NotFound(f"no record {record_id} for this funder", code="RECORD_NOT_FOUND")
            if row.status != "awaiting_funder":
                raise Conflict(
                    f"record {record_id} is {row.status}; only loans awaiting approval can be rejected",
                    code="NOT_AWAITING_FUNDER",
                )
            row.status = "rejected"
            row.rejection_code = "FUNDER_REJECTED"
            row.rejection_reason = reason
        return SubmissionOutcome(record_id, "rejected", None)

    def _count_error(self, code: str) -> None:
        errors: dict[str, int] = self.metrics["errors"]
        errors[code] = errors.get(code, 0) + 1

    # ------------------------------------------------------------------ retirement

    def retire(
        self, caller: Caller, record_id: str, reason_code: int, superseded_by: str | None = None
    ) -> dict[str, Any]:
        """Revokes a record, or amends it (`superseded_by`: the replacing record's id), on chain.

        Signed by the regulator alone (when it calls), or by the record's platform and funder
        together (either may call; both keys must be held by this gateway)."""
        row = self.submission(caller, record_id)
        if row.status != "anchored":
            raise Conflict(
                f"record {record_id} is {row.status}; only anchored records can be retired",
                code="NOT_ANCHORED",
            )
        if caller.role is Role.REGULATOR:
            signer_ids = [1]
        elif caller.participant_id in (row.platform_id, row.funder_id):
            signer_ids = [row.platform_id, row.funder_id]
        else:
            raise PermissionDenied(
                "only the regulator or the record's platform and funder retire it",
                code="ROLE_FORBIDDEN",
            )
        signers = []
        for pid in signer_ids:
            signer = self._signer(pid)
            if signer is None:
                raise PermissionDenied(
                    f"participant {pid} keeps its own key: it must sign the retirement",
                    code="NON_CUSTODIAL",
                )
            signers.append(signer)
        loan = self._signed_loan(row)
        retirement = Retirement(
            record_id=row.record_id,
            superseded_by=(superseded_by or ZERO32).lower(),
            reason_code=reason_code,
            retired_at=self.client.latest_timestamp(),
        )
        inclusion: tuple[bytes, bytes, list[bytes]] = (b"\0" * 32, b"\0" * 32, [])
        if row.batch_root is not None:
            inclusion = (
                _b32(row.batch_root),
                loan.signatures_hash,
                [_b32(p) for p in json.loads(row.proof_json or "[]")],
            )
        from ledger.chain.client import ContractRevert

        with self.chain_lock:
            try:
                tx = self.chain.retire(
                    self.gateway_account, loan.record, retirement, signers, inclusion
                )
            except ContractRevert as exc:
                raise RuleViolation(
                    f"retirement refused: {exc.error_name}{exc.error_args}",
                    code=_code(exc.error_name),
                ) from exc
        with self.db.session() as s:
            stored = s.get(SubmissionRow, row.record_id)
            if stored is not None:
                stored.retired = "superseded" if retirement.is_amendment else "revoked"
        return {
            "record_id": row.record_id,
            "retired": "superseded" if retirement.is_amendment else "revoked",
            "superseded_by": superseded_by,
            "reason_code": reason_code,
            "transaction_hash": _hex(tx.transaction_hash),
            "block_number": tx.block_number,
        }

    # ------------------------------------------------------------------ documents

    def _store_document(
        self, s: Session, sha256_hex: str, document: bytes, media_type: str
    ) -> None:
        """Encrypts the agreement into the vault (one data key per document)."""
        if s.get(DocumentRow, sha256_hex) is None:
            ciphertext, wrapped = seal_document(self._master, document, sha256_hex)
            s.add(
                DocumentRow(
                    sha256=sha256_hex,
                    media_type=media_type,
                    size=len(document),
                    ciphertext=ciphertext,
                    wrapped_key=wrapped,
                    created_at=time.time(),
                )
            )

    # ------------------------------------------------------------------ anchoring

    def _signed_loan(self, row: SubmissionRow) -> SignedLoan:
        record = LoanRecord.model_validate_json(row.record_json)
        sigs = json.loads(row.signatures_json)
        signatures = tuple(_b32(sigs[str(pid)]) for pid in record.signer_ids())
        signers = tuple(recover_address(_b32(row.record_id), sig) for sig in signatures)
        entry = (
            SignedEntryTimestamp.model_validate_json(row.entry_timestamp_json)
            if row.entry_timestamp_json
            else None
        )
        stored = DocumentRefV1.model_validate_json(row.document_json)
        return SignedLoan(
            record,
            _b32(row.record_id),
            signatures,
            signers,
            DocumentRef(sha256=stored.sha256, media_type=stored.media_type, size=stored.size),
            json.loads(row.disclosure_json) if row.disclosure_json else None,
            _stored_provenance(row.provenance_json),
            entry,
            document_location=stored.location,
        )

    def _anchor_per_record(self, record_id: str) -> None:
        with self.db.session() as s:
            row = s.get(SubmissionRow, record_id)
            assert row is not None
            loan = self._signed_loan(row)
            with self.chain_lock:
                tx = self.chain.anchor_loan(self.gateway_account, loan)
            row.status = "anchored"
            row.tx_hash = _hex(tx.transaction_hash)
            row.block_number = tx.block_number
            row.block_time = tx.block_time
            row.anchored_at = time.time()

    def pending_count(self) -> int:
        from sqlalchemy import func

        with self.db.session() as s:
            return int(
                s.execute(
                    select(func.count())
                    .select_from(SubmissionRow)
                    .where(SubmissionRow.status == "queued")
                ).scalar_one()
            )

    def oldest_pending_age(self) -> float:
        from sqlalchemy import func

        with self.db.session() as s:
            oldest = s.execute(
                select(func.min(SubmissionRow.queued_at)).where(SubmissionRow.status == "queued")
            ).scalar_one()
        return 0.0 if oldest is None else max(0.0, time.time() - float(oldest))

    def anchor_pending(self, limit: int | None = None) -> int:
        """Anchors up to `limit` queued records as one Merkle root; returns how many.

        Crash-safe: the batch's root and members are written to the database before the
        transaction is sent; after a restart a batch whose root is already on chain is finished
        from the chain's record instead of being anchored twice."""
        self._recover_in_flight()
        limit = limit or self.config.batch_size
        with self.db.session() as s:
            rows = list(
                s.execute(
                    select(SubmissionRow)
                    .where(SubmissionRow.status == "queued", SubmissionRow.anchoring == "batch")
                    .order_by(SubmissionRow.queued_at)
                    .limit(limit)
                ).scalars()
            )
            loans = [self._signed_loan(r) for r in rows]
        if not loans:
            return 0
        tree = StandardMerkleTree.of([loan.leaf_values for loan in loans], list(LEAF_TYPES))
        root = _hex(tree.root)
        self.db.set_meta(
            "in_flight_batch",
            json.dumps({"root": root, "records": [_hex(loan.record_id) for loan in loans]}),
        )
        with self.chain_lock:
            try:
                self.client.transact(
                    self.gateway_account,
                    self.chain.ledger.functions.anchorBatch(tree.root, len(loans)),
                )
            except LedgerError:
                self.db.set_meta("in_flight_batch", "")
                raise
        self._finish_batch(root, tree, [_hex(loan.record_id) for loan in loans])
        return len(loans)

    def _recover_in_flight(self) -> None:
        raw = self.db.get_meta("in_flight_batch")
        if not raw:
            return
        info = json.loads(raw)
        with self.chain_lock:
            batch = self.client.call(self.chain.ledger.functions.batch(_b32(info["root"])))
        if int(batch[1]) == 0:  # never reached the chain: the records are still queued
            self.db.set_meta("in_flight_batch", "")
            return
        with self.db.session() as s:
            rows = [s.get(SubmissionRow, rid) for rid in info["records"]]
            loans = [self._signed_loan(r) for r in rows if r is not None]
        tree = StandardMerkleTree.of([loan.leaf_values for loan in loans], list(LEAF_TYPES))
        self._finish_batch(info["root"], tree, info["records"])

    def _finish_batch(self, root: str, tree: StandardMerkleTree, record_ids: list[str]) -> None:
        with self.chain_lock:
            batch = self.client.call(self.chain.ledger.functions.batch(_b32(root)))
            block_number, block_time = int(batch[2]), int(batch[1])
            events = self.chain.ledger.events.BatchAnchored().get_logs(
                from_block=block_number,
                to_block=block_number,
                argument_filters={"root": _b32(root)},
            )
        tx_hash = _hex(bytes(events[0]["transactionHash"]))
        now = time.time()
        with self.db.session() as s:
            if s.get(BatchRow, root) is None:
                s.add(
                    BatchRow(
                        root=root,
                        tx_hash=tx_hash,
                        block_number=block_number,
                        block_time=block_time,
                        size=len(record_ids),
                        created_at=now,
                    )
                )
            for index, rid in enumerate(record_ids):
                row = s.get(SubmissionRow, rid)
                if row is None or row.status == "anchored":
                    continue
                if row.queued_at:
                    self.metrics["anchor_latency"].append(now - row.queued_at)
                row.status = "anchored"
                row.batch_root = root
                row.proof_json = json.dumps([_hex(p) for p in tree.get_proof(index)])
                row.tx_hash = tx_hash
                row.block_number = block_number
                row.block_time = block_time
                row.anchored_at = now
            from ledger.store import MetaRow

            s.merge(MetaRow(key="in_flight_batch", value=""))
        self.metrics["batches"] += 1
        self.metrics["batch_sizes"].append(len(record_ids))
        self.metrics["anchor_latency"] = self.metrics["anchor_latency"][-10_000:]
        self.metrics["batch_sizes"] = self.metrics["batch_sizes"][-10_000:]

    def run_batcher(
        self, stop: threading.Event, on_error: Callable[[Exception], None] | None = None
    ) -> None:
        """Anchors every `batch_interval` seconds, or as soon as `batch_size` records wait."""
        while not stop.is_set():
            try:
                if (
                    self.pending_count() >= self.config.batch_size
                    or self.oldest_pending_age() >= self.config.batch_interval
                ):
                    self.anchor_pending()
                    continue
            except Exception as exc:
                if on_error:
                    on_error(exc)
            stop.wait(min(0.05, self.config.batch_interval))

    # ------------------------------------------------------------------ verification

    def _verifier(self) -> Verifier:
        """A verifier pinned to this gateway's deployment, over the contracts' state rebuilt from
        their events and brought up to the head (call with `chain_lock` held)."""
        if self._facts is None:
            self._facts = SnapshotChainFacts.load(
                self.client,
                self.deployment.registry,
                self.deployment.ledger,
                self.deployment.block_number,
            )
        else:
            self._facts.follow(self.client)
        return Verifier(self._facts, self.trust_root)

    def verify(
        self,
        receipt: dict[str, Any] | bytes | str,
        *,
        document: bytes | None = None,
        document_sha256: str | None = None,
    ) -> VerificationReport:
        """Verifies a receipt against this gateway's own deployment; every check reported.
        `VerificationError` (check `format`) if it is not a receipt at all."""
        with self.chain_lock:
            verifier = self._verifier()
        return verifier.verify(
            receipt, document=document, document_sha256=document_sha256, raise_on_failure=False
        )

    def verify_many(
        self, receipts: Sequence[dict[str, Any] | bytes | str]
    ) -> list[VerificationReport | LedgerError]:
        """Verifies many receipts against one snapshot of the chain; an item that is not a
        receipt gets its error instead of a report."""
        if len(receipts) > MAX_VERIFY_BATCH:
            raise InputError(
                f"at most {MAX_VERIFY_BATCH} receipts per request", code="BATCH_TOO_LARGE"
            )
        with self.chain_lock:
            verifier = self._verifier()
        out: list[VerificationReport | LedgerError] = []
        for receipt in receipts:
            try:
                out.append(verifier.verify(receipt, raise_on_failure=False))
            except LedgerError as exc:
                out.append(exc)
        return out

    def deployment_info(self) -> dict[str, Any]:
        """What participants and auditors need to know of this deployment: the trust root, the
        EIP-712 domain records are signed under, the registry own-key funders send
        `addToWhitelist` to, and this gateway's keys."""
        return {
            "trust_root": self.trust_root.model_dump(mode="json"),
            "eip712_domain": self.chain.domain.as_dict(),
            "contracts": {"registry": self.deployment.registry, "ledger": self.deployment.ledger},
            "gateway": {
                "participant_id": self.gateway_id,
                "chain_account": self.gateway_account.address,
                "ed25519_public_key": "0x" + self.gateway_key.public_key.hex(),
            },
        }

    # ------------------------------------------------------------------ reading

    def submission(self, caller: Caller, record_id: str) -> SubmissionRow:
        """A record, if the caller may see it (platform: its own; funder: those it funds; regulator,
        auditor: all)."""
        with self.db.session() as s:
            row = s.get(SubmissionRow, record_id.lower())
        if row is None or not self.may_see(caller, row):
            raise NotFound(f"no record {record_id}", code="RECORD_NOT_FOUND")
        return row

    @staticmethod
    def may_see(caller: Caller, row: SubmissionRow) -> bool:
        if caller.role in (Role.REGULATOR, Role.AUDITOR):
            return True
        if caller.role is Role.PLATFORM:
            return row.platform_id == caller.participant_id
        if caller.role is Role.FUNDER:
            return caller.participant_id in (row.funder_id, row.co_funder_id)
        if caller.role is Role.CREDIT_ENHANCER:
            return row.guarantor_id == caller.participant_id
        return False

    def receipt(self, caller: Caller, record_id: str) -> Receipt:
        row = self.submission(caller, record_id)
        if row.status != "anchored":
            raise Conflict(
                f"record {record_id} is {row.status}; its receipt exists once anchored",
                code="NOT_ANCHORED",
            )
        return self.receipt_of(row)

    def receipt_of(self, row: SubmissionRow) -> Receipt:
        assert (
            row.tx_hash is not None and row.block_number is not None and row.block_time is not None
        )
        tx = AnchoredTx(_b32(row.tx_hash), row.block_number, row.block_time, 0)
        batch = None
        if row.batch_root is not None:
            proof = [_b32(p) for p in json.loads(row.proof_json or "[]")]
            batch = (_b32(row.batch_root), proof, self._batch_size(row.batch_root) or 1)
        return self.chain.receipt(self._signed_loan(row), tx, batch)

    def _batch_size(self, root: str) -> int | None:
        with self.db.session() as s:
            batch = s.get(BatchRow, root)
            return batch.size if batch else None


def _check_batch_size(count: int) -> None:
    if count > MAX_BATCH_SUBMISSION:
        raise InputError(
            f"at most {MAX_BATCH_SUBMISSION} records per batch", code="BATCH_TOO_LARGE"
        )


def _item_view(outcome: SubmissionOutcome | LedgerError, *, duplicate: bool) -> dict[str, Any]:
    """One item of a batch answer: its error, or its record id and status (and `duplicate`)."""
    if isinstance(outcome, LedgerError):
        return {"error": {"code": outcome.code, "message": outcome.message}}
    view: dict[str, Any] = {"record_id": outcome.record_id, "status": outcome.status}
    if duplicate:
        view["duplicate"] = outcome.duplicate
    return view


def submission_summary(row: SubmissionRow) -> dict[str, Any]:
    """The public view of a record's status."""
    return {
        "record_id": row.record_id,
        "status": row.status,
        "anchoring": row.anchoring,
        "platform_id": row.platform_id,
        "funder_id": row.funder_id,
        "guarantor_id": row.guarantor_id or None,
        "co_funder_id": row.co_funder_id or None,
        "institution_type": row.institution_type,
        "principal": row.principal,
        "apr_bps": row.apr_bps,
        "issued_at": row.issued_at,
        "legacy": bool(row.flags & FLAG_LEGACY),
        "batch_root": row.batch_root,
        "transaction_hash": row.tx_hash,
        "block_number": row.block_number,
        "block_time": row.block_time,
        "rejection": {"code": row.rejection_code, "reason": row.rejection_reason}
        if row.rejection_code
        else None,
        "retired": row.retired,
    }


def _stored_provenance(raw: str) -> Provenance:
    """A row's provenance; rows written before receipt v2 kept ids as strings and `gateway`."""
    data = json.loads(raw)
    if "gateway" in data:
        data = {
            "submitted_by": int(data["submitted_by"]),
            "source_system": data.get("source_system", ""),
            "gateway_id": int(data["gateway"]),
        }
    return Provenance.model_validate(data)


def _code(error_name: str | None) -> str:
    from ledger.rules import RULE_CODES

    if error_name and error_name in RULE_CODES:
        return RULE_CODES[error_name][0]
    mapping = {
        "WhitelistAlreadyListed": "WHITELIST_ALREADY_LISTED",
        "WhitelistNotListed": "WHITELIST_NOT_LISTED",
        "WhitelistInvalidPartner": "WHITELIST_INVALID_PARTNER",
        "WhitelistBackdatedChange": "WHITELIST_BACKDATED",
        "WhitelistCallerNotActiveFunder": "FUNDER_NOT_ACTIVE",
        "WhitelistRemovalBeforeStart": "WHITELIST_REMOVAL_BEFORE_START",
        "EvidenceLedgerRecordAlreadyRetired": "RECORD_ALREADY_RETIRED",
        "EvidenceLedgerInvalidSuccessor": "INVALID_SUCCESSOR",
        "EvidenceLedgerUnauthorizedRetirement": "RETIREMENT_UNAUTHORIZED",
    }
    return mapping.get(error_name or "", "CHAIN_REJECTED")
