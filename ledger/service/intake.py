"""Intake: what admission does to one record, with no storage and no registry reads of its own.

- `admit`: a platform's submission becomes its record (the borrower's identity becomes a keyed,
  salted commitment at once; the fee disclosure is checked against its own numbers and the cap
  binds the cost the form's numbers give), checked against every rule but the signatures, signed
  by the parties whose keys the gateway holds; settled at once if every party has signed.
- `add_signature`: a party's signature (custodial, or its own verified against its registered
  key) is added to a stored record, which is settled once every party has signed, in any order
  (the funder's signature is its approval).
- `settle`: every rule with the signatures; accepted into the queue with the gateway's signed
  entry timestamp, or rejected with the rule it breaks.

Each returns a plain row (or the columns that change) for admission to write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.anchoring import SignedLoan
from ledger.chain.state import RegistryState
from ledger.codes import PASSING_RULE_CODES
from ledger.commitments import new_commitment, pack_secret
from ledger.disclosure import FORMAT_V2, FeeDisclosure, check_disclosure
from ledger.disclosure_proofs import derive_seed, form_digest
from ledger.eip712 import Domain, loan_record_id
from ledger.enums import InstitutionType, SubmissionStatus
from ledger.errors import InputError, LedgerError, SignatureError
from ledger.limits import INT64_MAX
from ledger.receipts import DocumentRef, DocumentRefV1, Provenance
from ledger.records import FLAG_LEGACY, LoanRecord
from ledger.rules import check_fee_collectors, check_rules
from ledger.service.config import ServiceConfig
from ledger.service.custody import Custody, GatewayIdentity
from ledger.service.models import LoanSubmission, SubmissionOutcome
from ledger.service.stored import Signatures, provenance_of, signatures_json, signatures_of
from ledger.signing import recover_address
from ledger.timestamps import SignedEntryTimestamp
from ledger.vault import StagedDocument, document_digest
from ledger.vault.secrets import Secrets

__all__ = ["SECRETS", "Intake", "StoredRecord", "waiting_status"]


#: the key of a row from `admit` holding the record's `Secrets` (popped before the insert)
SECRETS = "_secrets"


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


@dataclass(frozen=True)
class StoredRecord:
    """What co-signing needs of a stored record awaiting its funder."""

    record_id: str
    record_json: str
    signatures_json: str
    document_json: str
    provenance_json: str


class Intake:
    """The per-record work of admission (see the module docstring)."""

    def __init__(
        self,
        custody: Custody,
        identity: GatewayIdentity,
        domain: Domain,
        config: ServiceConfig,
        derivation_key: bytes,
    ) -> None:
        self.custody = custody
        self.identity = identity
        self.domain = domain
        self.config = config
        #: the gateway secret v2 forms' seeds derive from (`derive_seed`), so that a prepared
        #: record and the same record submitted later have the same disclosure digest
        self.derivation_key = derivation_key

    # ------------------------------------------------------------------ the record

    def build(
        self, platform_id: int, sub: LoanSubmission, now: int
    ) -> tuple[LoanRecord, bytes, Secrets]:
        """The record of a submission, its form's canonical JSON and the secrets the vault keeps
        for it (the key and salt of a borrower commitment made here, the seed of a v2 form's
        salted leaves, derived from the form: the same form gives the same digest). The record carries the rate
        computed from the form (R4, to the nearest basis point): the fact the cap binds and
        the statistics average; the stated rate, what the borrower was told, is in the form."""
        issued_at = sub.issued_at if sub.issued_at is not None else now
        if sub.disclosure.principal > INT64_MAX:
            raise InputError(
                f"the principal must be at most {INT64_MAX} fen", code="VALUE_OUT_OF_RANGE"
            )
        computed = check_disclosure(
            sub.disclosure,
            self.config.disclosure_policy,
            signed_at=datetime.fromtimestamp(issued_at, UTC),
        )
        borrower_salt: bytes | None = None
        if sub.borrower_commitment is not None:
            commitment = sub.borrower_commitment.lower()
        else:  # a fresh key and salt for this record alone: the vault keeps them to open it
            assert sub.borrower_id is not None
            made, key, salt = new_commitment(sub.borrower_id_type, sub.borrower_id)
            commitment = _hex(made)
            borrower_salt = pack_secret(key, salt)
        seed = (
            derive_seed(self.derivation_key, sub.disclosure)
            if sub.disclosure.format == FORMAT_V2
            else None
        )
        secrets = Secrets(borrower_salt=borrower_salt, disclosure_seed=seed)
        term_days = (sub.disclosure.schedule[-1].due - sub.disclosure.disbursed_on).days
        if sub.term_days is not None and sub.term_days != term_days:
            raise InputError(
                f"term_days is {sub.term_days}, the fee disclosure's schedule runs {term_days}"
                " days from disbursement to the last instalment",
                code="TERM_MISMATCH",
            )
        form = sub.disclosure.canonical()
        record = LoanRecord(
            agreement_digest=sub.agreement_digest,
            disclosure_digest=_hex(form_digest(sub.disclosure, seed)),
            borrower_commitment=commitment,
            funder_id=sub.funder_id,
            platform_id=platform_id,
            guarantor_id=sub.guarantor_id,
            co_funder_id=sub.co_funder_id,
            co_funder_share_bps=sub.co_funder_share_bps,
            principal=sub.disclosure.principal,
            apr_bps=computed.nominal_bps,
            term_days=term_days,
            issued_at=issued_at,
            flags=FLAG_LEGACY if sub.legacy else 0,
        )
        return record, form, secrets

    @staticmethod
    def precheck(
        record: LoanRecord, disclosure: FeeDisclosure, state: RegistryState, now: int
    ) -> None:
        """Every rule but the signatures (the funder has yet to sign), the form's fee
        collectors included."""
        check_rules(record, state, now)
        check_fee_collectors(disclosure, record, state)

    def signature(
        self,
        participant_id: int,
        record_id: bytes,
        given: str | None,
        who: str,
        state: RegistryState,
        now: int,
    ) -> tuple[str, str] | None:
        """A party's (signature, signer): a given one verified against the party's registered
        key, else one made with its custodial key if the gateway holds it, else None."""
        if given is not None:
            signature = bytes.fromhex(given[2:])
            recovered = recover_address(record_id, signature)
            registered = state.epoch_at(participant_id, now).signer
            if recovered.lower() != registered.lower():
                raise SignatureError(
                    f"the {who} signature is by {recovered}, not participant {participant_id}'s"
                    f" registered key"
                )
            return _hex(signature), recovered
        signer = self.custody.signer(participant_id)
        if signer is None:
            return None
        return _hex(signer.sign_digest(record_id)), signer.address

    # ------------------------------------------------------------------ admit, cosign, settle

    def admit(
        self,
        platform_id: int,
        sub: LoanSubmission,
        now: int,
        state: RegistryState,
        block: int,
        document: bytes | StagedDocument | None,
        media_type: str,
    ) -> tuple[dict[str, Any], SubmissionOutcome | LedgerError]:
        """One submission's row (not stored) and its outcome; raises what refuses it."""
        if document is not None and _hex(document_digest(document)) != sub.agreement_digest:
            raise InputError(
                "the uploaded document does not hash to agreement_sha256",
                code="DOCUMENT_DIGEST_MISMATCH",
            )
        record, form, secrets = self.build(platform_id, sub, now)
        self.precheck(record, sub.disclosure, state, now)
        record_id = loan_record_id(record, self.domain)
        signatures: Signatures = {}
        platform = self.signature(
            platform_id, record_id, sub.platform_signature, "platform", state, now
        )
        if platform is None:
            hint = (
                f"sign record id {_hex(record_id)} and resubmit with platform_signature"
                if sub.borrower_commitment is not None and sub.issued_at is not None
                else "POST /v1/loans/prepare with borrower_commitment and issued_at to learn"
                " the record id to sign"
            )
            raise SignatureError(
                f"the platform keeps its own key: {hint}", code="SIGNATURE_MISSING"
            )
        signatures[platform_id] = platform
        if sub.funder_signature is not None:
            funder = self.signature(
                sub.funder_id, record_id, sub.funder_signature, "funder", state, now
            )
            assert funder is not None
            signatures[sub.funder_id] = funder
        for pid in (record.guarantor_id, record.co_funder_id):
            if pid:
                made = self.signature(pid, record_id, None, "party", state, now)
                if made is not None:
                    signatures[pid] = made
        document_ref = DocumentRefV1(
            sha256=record.agreement_digest,
            media_type=media_type if document is not None else None,
            size=len(document) if document is not None else None,
            location=f"vault:{record.agreement_digest}" if document is not None else None,
        )
        provenance = Provenance(
            submitted_by=platform_id,
            source_system=sub.source_system,
            gateway_id=self.identity.participant_id,
            registry_block=max(block, 0),
        )
        _, institution = state.role_of(record.funder_id)
        row: dict[str, Any] = {
            "record_id": _hex(record_id),
            "status": waiting_status(record, signatures),
            "anchoring": sub.anchoring.value,
            "agreement_digest": record.agreement_digest,
            "platform_id": record.platform_id,
            "funder_id": record.funder_id,
            "guarantor_id": record.guarantor_id,
            "co_funder_id": record.co_funder_id,
            "institution_type": InstitutionType(institution).label,
            "principal": record.principal,
            "apr_bps": record.apr_bps,
            "issued_at": record.issued_at,
            "flags": record.flags,
            "record_json": record.model_dump_json(),
            "signatures_json": signatures_json(signatures),
            "document_json": document_ref.model_dump_json(),
            "disclosure_json": form.decode("utf-8"),  # the canonical form: JSON as hashed
            "provenance_json": provenance.model_dump_json(),
            "entry_timestamp_json": None,
            "created_at": time.time(),
            "queued_at": None,
            "rejection_code": None,
            "rejection_reason": None,
            SECRETS: secrets,  # not a column: admission stores it in the vault
        }
        outcome: SubmissionOutcome | LedgerError = SubmissionOutcome(
            row["record_id"], row["status"], None
        )
        if all(pid in signatures for pid in record.signer_ids()):
            outcome = self.settle(
                row, record, record_id, signatures, document_ref, provenance, state, now
            )
        return row, outcome

    def add_signature(
        self,
        stored: StoredRecord,
        participant_id: int,
        slot: str,
        given: str | None,
        state: RegistryState,
        block: int,
        now: int,
    ) -> tuple[dict[str, Any], SubmissionOutcome | LedgerError] | None:
        """The columns that change when a party signs a stored record, and the outcome; None
        if its signature is in already (a given one is still verified); raises what refuses
        the signature itself. The funder's signature is its approval (R7). The last signature
        in, whoever's, settles the record; until then it waits (`waiting_status`).

        The gateway that settles the record (checks every rule against its view of `block` and
        signs the promise) is the one its provenance names: with several gateways on one
        database, a loan submitted at one may be confirmed at another."""
        record_id = bytes.fromhex(stored.record_id[2:])
        signatures = signatures_of(stored.signatures_json, stored.record_id)
        if participant_id in signatures:
            if given is not None:  # a repeat: nothing changes, but a bad signature is refused
                self.signature(participant_id, record_id, given, slot, state, now)
            return None
        signature = self.signature(participant_id, record_id, given, slot, state, now)
        if signature is None:
            raise SignatureError(
                f"the {slot} (participant {participant_id}) keeps its own key: sign the"
                f" record's EIP-712 typed data (record id {stored.record_id}) and send the"
                " signature",
                code="SIGNATURE_MISSING",
            )
        signatures[participant_id] = signature
        record = LoanRecord.model_validate_json(stored.record_json)
        change: dict[str, Any] = {
            "record_id": stored.record_id,
            "status": waiting_status(record, signatures),
            "signatures_json": signatures_json(signatures),
            "provenance_json": stored.provenance_json,
            "entry_timestamp_json": None,
            "queued_at": None,
            "rejection_code": None,
            "rejection_reason": None,
        }
        if not all(pid in signatures for pid in record.signer_ids()):
            return change, SubmissionOutcome(stored.record_id, change["status"], None)
        provenance = provenance_of(stored.provenance_json).model_copy(
            update={"gateway_id": self.identity.participant_id, "registry_block": max(block, 0)}
        )
        change["provenance_json"] = provenance.model_dump_json()
        outcome = self.settle(
            change,
            record,
            record_id,
            signatures,
            DocumentRefV1.model_validate_json(stored.document_json),
            provenance,
            state,
            now,
        )
        return change, outcome

    def settle(
        self,
        row: dict[str, Any],
        record: LoanRecord,
        record_id: bytes,
        signatures: Signatures,
        document: DocumentRefV1,
        provenance: Provenance,
        state: RegistryState,
        now: int,
    ) -> SubmissionOutcome | LedgerError:
        """All signatures are in: every rule with them, then the gateway's entry timestamp; or
        the rule the record breaks. Updates `row` in place. A rule that can pass later (a
        suspended party, `PASSING_RULE_CODES`) is raised instead: the record is not rejected."""
        ordered = [signatures[pid] for pid in record.signer_ids() if pid in signatures]
        sigs = [bytes.fromhex(sig[2:]) for sig, _ in ordered]
        signers = [signer for _, signer in ordered]
        try:
            check_rules(record, state, now, record_id=record_id, signatures=sigs, signers=signers)
        except LedgerError as exc:
            if exc.code in PASSING_RULE_CODES:
                raise
            row.update(
                status=SubmissionStatus.REJECTED.value,
                rejection_code=exc.code,
                rejection_reason=exc.message,
            )
            return exc
        plain = DocumentRef(
            sha256=document.sha256, media_type=document.media_type, size=document.size
        )
        loan = SignedLoan(record, record_id, tuple(sigs), tuple(signers), plain, None, provenance)
        entry = loan.promise(
            self.identity.key,
            self.identity.participant_id,
            self.domain,
            now,
            self.config.anchor_deadline_seconds,
        )
        row.update(
            status=SubmissionStatus.QUEUED.value,
            entry_timestamp_json=entry.model_dump_json(),
            queued_at=time.time(),
        )
        return SubmissionOutcome(row["record_id"], SubmissionStatus.QUEUED.value, entry)


def waiting_status(record: LoanRecord, signatures: Signatures) -> str:
    """Where a record with some signatures missing stands: awaiting its funder's approval (its
    co-signature), or, approved, awaiting the other parties'."""
    if record.funder_id in signatures:
        return SubmissionStatus.AWAITING_SIGNATURES.value
    return SubmissionStatus.AWAITING_FUNDER.value


def entry_of(raw: str | None) -> SignedEntryTimestamp | None:
    return SignedEntryTimestamp.model_validate_json(raw) if raw else None
