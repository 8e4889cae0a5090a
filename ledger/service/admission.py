"""Admission: a platform's submission becomes a signed record; the funder approves it by
co-signing (R7) or rejects it; once every party has signed and every rule holds, the gateway
signs its entry timestamp (its promise to anchor) and the record joins the durable queue.

- The borrower's identity becomes a keyed, salted commitment at once and is never stored.
- The fee disclosure is checked against its own numbers (Appendix J), and the cap binds the cost
  computed from the form, not only the stated figure.
- The rules are `ledger.rules.check_rules` over the registry view (no chain read per record);
  the record's provenance names the block of the view that admitted it.
- Idempotency: the same agreement, platform, funder (and issue time, when given) is the same
  loan; a resubmission answers the existing record (`duplicate`).
- Many records are admitted in one database transaction, with one query to find duplicates and
  one bulk insert (or update) for the rest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from ledger.access import Caller, require_role
from ledger.anchoring import SignedLoan
from ledger.canonical import borrower_commitment, digest_bytes, new_salt
from ledger.chain.state import RegistryState
from ledger.disclosure import FeeDisclosure, check_disclosure
from ledger.eip712 import Domain, loan_record_id
from ledger.enums import Anchoring, InstitutionType, Role, SubmissionStatus
from ledger.errors import (
    Conflict,
    InputError,
    LedgerError,
    NotFound,
    RuleViolation,
    SignatureError,
)
from ledger.limits import INT64_MAX
from ledger.receipts import DocumentRef, DocumentRefV1, Provenance
from ledger.records import FLAG_LEGACY, LoanRecord
from ledger.rules import check_rules
from ledger.service.config import ServiceConfig
from ledger.service.custody import Custody, GatewayIdentity
from ledger.service.documents import Documents
from ledger.service.metrics import Metrics
from ledger.service.models import LoanSubmission, SubmissionOutcome
from ledger.service.registry import RegistryFollower
from ledger.service.stored import Signatures, provenance_of, signatures_json, signatures_of
from ledger.signing import recover_address
from ledger.store import Database, SubmissionRow
from ledger.timestamps import SignedEntryTimestamp

__all__ = ["Admission"]

_QUERY_CHUNK = 500  # ids per IN (...) list


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _chunks(items: Sequence[Any], size: int = _QUERY_CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class Admission:
    def __init__(
        self,
        db: Database,
        custody: Custody,
        registry: RegistryFollower,
        identity: GatewayIdentity,
        domain: Domain,
        config: ServiceConfig,
        metrics: Metrics,
        documents: Documents,
        commitment_key: bytes,
        anchor_now: Callable[[list[str]], None],
    ) -> None:
        self.db = db
        self.custody = custody
        self.registry = registry
        self.identity = identity
        self.domain = domain
        self.config = config
        self.metrics = metrics
        self.documents = documents
        self._commitment_key = commitment_key
        self._anchor_now = anchor_now

    def now(self) -> int:
        """The time rules are checked at: the wall clock, never behind the chain's last block
        (the view is brought up to date first, unless it follows the chain by itself)."""
        self.registry.facts()
        return max(int(time.time()), self.registry.block_time)

    # ------------------------------------------------------------------ building a record

    def _build(
        self, platform_id: int, sub: LoanSubmission, now: int
    ) -> tuple[LoanRecord, FeeDisclosure, int]:
        """The record of a submission, its form, and the APR computed from the form (bps)."""
        issued_at = sub.issued_at if sub.issued_at is not None else now
        if sub.disclosure.principal > INT64_MAX:
            raise InputError("principal too large")
        computed = check_disclosure(
            sub.disclosure,
            self.config.disclosure_policy,
            signed_at=datetime.fromtimestamp(issued_at, UTC),
        )
        if sub.borrower_commitment is not None:
            commitment = sub.borrower_commitment.lower()
        else:
            assert sub.borrower_id is not None
            commitment = _hex(
                borrower_commitment(
                    self._commitment_key, sub.borrower_id_type, sub.borrower_id, new_salt()
                )
            )
        record = LoanRecord(
            agreement_digest=sub.agreement_digest,
            disclosure_digest=_hex(sub.disclosure.digest()),
            borrower_commitment=commitment,
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

    @staticmethod
    def _precheck(record: LoanRecord, computed_bps: int, state: RegistryState, now: int) -> None:
        """Every rule but the signatures (the funder has yet to sign), and the cap on the cost
        the form's own numbers give (R2/R4: the Appendix J tolerance cannot understate it)."""
        check_rules(record, state, now)
        if not record.is_legacy:
            _, institution = state.role_of(record.funder_id)
            _, cap = state.rate_cap_at(institution, record.issued_at)
            if computed_bps > cap:
                raise RuleViolation(
                    f"the form's own numbers give an APR of {computed_bps} bps, above the cap"
                    f" of {cap} bps",
                    code="RATE_CAP_EXCEEDED",
                )

    def _signature(
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

    def _accept(
        self,
        record: LoanRecord,
        record_id: bytes,
        signatures: Signatures,
        document: DocumentRef,
        provenance: Provenance,
        state: RegistryState,
        now: int,
    ) -> SignedEntryTimestamp:
        """Every rule with the signatures; then the gateway's entry timestamp. Raises the rule."""
        ordered = [signatures[pid] for pid in record.signer_ids() if pid in signatures]
        sigs = [bytes.fromhex(sig[2:]) for sig, _ in ordered]
        signers = [signer for _, signer in ordered]
        check_rules(record, state, now, record_id=record_id, signatures=sigs, signers=signers)
        loan = SignedLoan(
            record, record_id, tuple(sigs), tuple(signers), document, None, provenance
        )
        return loan.promise(
            self.identity.key,
            self.identity.participant_id,
            self.domain,
            now,
            self.config.anchor_deadline_seconds,
        )

    # ------------------------------------------------------------------ prepare

    def prepare(self, caller: Caller, sub: LoanSubmission) -> tuple[LoanRecord, bytes]:
        """For platforms that keep their own key: the record a submission makes, and its id to
        sign, with every rule checked and nothing stored. Needs `borrower_commitment` and
        `issued_at`, so that the record the platform signs is the one the gateway rebuilds."""
        require_role(caller, Role.PLATFORM)
        if sub.borrower_commitment is None or sub.issued_at is None:
            raise InputError(
                "preparing a record needs borrower_commitment and issued_at",
                code="RECORD_NOT_FIXED",
            )
        now = self.now()
        record, _, computed = self._build(caller.participant_id, sub, now)
        self._precheck(record, computed, self.registry.registry(), now)
        return record, loan_record_id(record, self.domain)

    # ------------------------------------------------------------------ submit

    def submit(
        self,
        caller: Caller,
        subs: Sequence[LoanSubmission],
        document: bytes | None,
        media_type: str,
        *,
        raise_errors: bool,
    ) -> list[SubmissionOutcome | LedgerError]:
        """Admits many submissions in one transaction; each gets its outcome or its error."""
        require_role(caller, Role.PLATFORM)
        now = self.now()
        state, block = self.registry.registry(), self.registry.block
        existing = self._existing(caller.participant_id, subs)
        outcomes: list[SubmissionOutcome | LedgerError] = []
        rows: list[dict[str, Any]] = []
        seen: dict[tuple[str, int, int], SubmissionOutcome] = {}
        for sub in subs:
            key = (sub.agreement_digest, sub.funder_id, sub.issued_at or now)
            try:
                if key in seen:  # the same loan twice in one request: one record
                    first = seen[key]
                    outcomes.append(SubmissionOutcome(first.record_id, first.status, None, True))
                    continue
                found = existing.get(key) or (
                    existing.get((sub.agreement_digest, sub.funder_id, 0))
                    if sub.issued_at is None
                    else None
                )
                if found is not None:
                    outcomes.append(found)
                    continue
                row, outcome = self._admit(caller, sub, now, state, block, document, media_type)
            except LedgerError as exc:
                self.metrics.count_error(exc.code)
                if raise_errors:
                    raise
                outcomes.append(exc)
                continue
            rows.append(row)
            outcomes.append(outcome)
            if isinstance(outcome, SubmissionOutcome):
                seen[key] = outcome
        clashes = self._known_ids([r["record_id"] for r in rows])
        if clashes:
            for index, outcome in enumerate(outcomes):
                if isinstance(outcome, SubmissionOutcome) and outcome.record_id in clashes:
                    error = Conflict(
                        f"record {outcome.record_id} was submitted before and is"
                        f" {clashes[outcome.record_id]}: submit it anew (another issue time)",
                        code="RECORD_EXISTS",
                    )
                    if raise_errors:
                        raise error
                    outcomes[index] = error
            rows = [r for r in rows if r["record_id"] not in clashes]
        with self.db.session() as s:
            if rows:
                s.execute(insert(SubmissionRow), rows)
            if document is not None and rows:
                self.documents.store(s, rows[0]["agreement_digest"], document, media_type)
        self.metrics.submissions += len(rows)
        if raise_errors:
            for outcome in outcomes:
                if isinstance(outcome, LedgerError):
                    raise outcome
        return self._anchor_per_record(outcomes, rows)

    def _admit(
        self,
        caller: Caller,
        sub: LoanSubmission,
        now: int,
        state: RegistryState,
        block: int,
        document: bytes | None,
        media_type: str,
    ) -> tuple[dict[str, Any], SubmissionOutcome | LedgerError]:
        """One submission's row (not stored yet) and its outcome; raises what refuses it."""
        if document is not None and _hex(digest_bytes(document)) != sub.agreement_digest:
            raise InputError(
                "the uploaded document does not hash to agreement_sha256",
                code="DOCUMENT_DIGEST_MISMATCH",
            )
        record, form, computed = self._build(caller.participant_id, sub, now)
        self._precheck(record, computed, state, now)
        record_id = loan_record_id(record, self.domain)
        signatures: Signatures = {}
        platform = self._signature(
            caller.participant_id, record_id, sub.platform_signature, "platform", state, now
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
        signatures[caller.participant_id] = platform
        if sub.funder_signature is not None:
            funder = self._signature(
                sub.funder_id, record_id, sub.funder_signature, "funder", state, now
            )
            assert funder is not None
            signatures[sub.funder_id] = funder
        for pid in (record.guarantor_id, record.co_funder_id):
            if pid:
                made = self._signature(pid, record_id, None, "party", state, now)
                if made is not None:
                    signatures[pid] = made
        stored_document = DocumentRefV1(
            sha256=record.agreement_digest,
            media_type=media_type if document is not None else None,
            size=len(document) if document is not None else None,
            location=f"vault:{record.agreement_digest}" if document is not None else None,
        )
        provenance = Provenance(
            submitted_by=caller.participant_id,
            source_system=sub.source_system,
            gateway_id=self.identity.participant_id,
            registry_block=max(block, 0),
        )
        _, institution = state.role_of(record.funder_id)
        row: dict[str, Any] = {
            "record_id": _hex(record_id),
            "status": SubmissionStatus.AWAITING_FUNDER.value,
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
            "document_json": stored_document.model_dump_json(),
            "disclosure_json": json.dumps(form.as_json(), ensure_ascii=False),
            "provenance_json": provenance.model_dump_json(),
            "entry_timestamp_json": None,
            "created_at": time.time(),
            "queued_at": None,
            "rejection_code": None,
            "rejection_reason": None,
        }
        outcome: SubmissionOutcome | LedgerError = SubmissionOutcome(
            row["record_id"], row["status"], None
        )
        if all(pid in signatures for pid in record.signer_ids()):
            outcome = self._settle(
                row, record, record_id, signatures, stored_document, provenance, state, now
            )
        return row, outcome

    def _settle(
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
        """All signatures are in: accepted into the queue (with the entry timestamp), or
        rejected by the rule it breaks. Updates `row` in place."""
        plain = DocumentRef(
            sha256=document.sha256, media_type=document.media_type, size=document.size
        )
        try:
            entry = self._accept(record, record_id, signatures, plain, provenance, state, now)
        except LedgerError as exc:
            self.metrics.count_error(exc.code)
            row.update(
                status=SubmissionStatus.REJECTED.value,
                rejection_code=exc.code,
                rejection_reason=exc.message,
            )
            return exc
        row.update(
            status=SubmissionStatus.QUEUED.value,
            entry_timestamp_json=entry.model_dump_json(),
            queued_at=time.time(),
        )
        return SubmissionOutcome(row["record_id"], SubmissionStatus.QUEUED.value, entry)

    def _existing(
        self, platform_id: int, subs: Sequence[LoanSubmission]
    ) -> dict[tuple[str, int, int], SubmissionOutcome]:
        """Records already submitted for these agreements (not rejected), by (agreement,
        funder, issue time), and by (agreement, funder, 0) for any issue time."""
        digests = sorted({sub.agreement_digest for sub in subs})
        found: dict[tuple[str, int, int], SubmissionOutcome] = {}
        with self.db.session() as s:
            for chunk in _chunks(digests):
                rows = s.execute(
                    select(
                        SubmissionRow.record_id,
                        SubmissionRow.status,
                        SubmissionRow.entry_timestamp_json,
                        SubmissionRow.agreement_digest,
                        SubmissionRow.funder_id,
                        SubmissionRow.issued_at,
                    ).where(
                        SubmissionRow.platform_id == platform_id,
                        SubmissionRow.agreement_digest.in_(chunk),
                        SubmissionRow.status != SubmissionStatus.REJECTED.value,
                    )
                ).all()
                for r in rows:
                    entry = (
                        SignedEntryTimestamp.model_validate_json(r.entry_timestamp_json)
                        if r.entry_timestamp_json
                        else None
                    )
                    outcome = SubmissionOutcome(r.record_id, r.status, entry, duplicate=True)
                    found[(r.agreement_digest, r.funder_id, r.issued_at)] = outcome
                    found.setdefault((r.agreement_digest, r.funder_id, 0), outcome)
        return found

    def _known_ids(self, record_ids: Sequence[str]) -> dict[str, str]:
        """Of these record ids, those already stored, with their status."""
        out: dict[str, str] = {}
        with self.db.session() as s:
            for chunk in _chunks(record_ids):
                for rid, status in s.execute(
                    select(SubmissionRow.record_id, SubmissionRow.status).where(
                        SubmissionRow.record_id.in_(chunk)
                    )
                ).all():
                    out[rid] = status
        return out

    def _anchor_per_record(
        self, outcomes: list[SubmissionOutcome | LedgerError], rows: list[dict[str, Any]]
    ) -> list[SubmissionOutcome | LedgerError]:
        """Records asked to be anchored by themselves go to the chain now; their outcome says
        where they ended up."""
        ids = [
            r["record_id"]
            for r in rows
            if r["anchoring"] == Anchoring.PER_RECORD.value
            and r["status"] == SubmissionStatus.QUEUED.value
        ]
        if not ids:
            return outcomes
        self._anchor_now(ids)
        statuses = self._known_ids(ids)
        return [
            SubmissionOutcome(o.record_id, statuses[o.record_id], o.entry_timestamp, o.duplicate)
            if isinstance(o, SubmissionOutcome) and o.record_id in statuses
            else o
            for o in outcomes
        ]

    # ------------------------------------------------------------------ confirm, reject

    def confirm(
        self, caller: Caller, items: Sequence[tuple[str, str | None]], *, raise_errors: bool
    ) -> list[SubmissionOutcome | LedgerError]:
        """The funder co-signs (custodial key, or its own signature verified); a record with
        every signature is accepted or rejected by the rules, in one transaction."""
        require_role(caller, Role.FUNDER)
        now = self.now()
        state = self.registry.registry()
        ids = [record_id.lower() for record_id, _ in items]
        outcomes: list[SubmissionOutcome | LedgerError] = []
        updates: list[dict[str, Any]] = []
        with self.db.session() as s:
            rows: dict[str, SubmissionRow] = {}
            for chunk in _chunks(sorted(set(ids))):
                for found in s.execute(
                    select(SubmissionRow).where(SubmissionRow.record_id.in_(chunk))
                ).scalars():
                    rows[found.record_id] = found
            done: set[str] = set()
            for record_id, (_, given) in zip(ids, items, strict=True):
                row = rows.get(record_id)
                try:
                    if row is None or row.funder_id != caller.participant_id:
                        raise NotFound(
                            f"no record {record_id} for this funder", code="RECORD_NOT_FOUND"
                        )
                    if row.status != SubmissionStatus.AWAITING_FUNDER.value or record_id in done:
                        outcomes.append(_outcome_of(row, duplicate=True))
                        continue
                    signature = self._signature(
                        caller.participant_id,
                        bytes.fromhex(record_id[2:]),
                        given,
                        "funder",
                        state,
                        now,
                    )
                    if signature is None:
                        raise SignatureError(
                            "this funder keeps its own key: include its signature",
                            code="SIGNATURE_MISSING",
                        )
                except LedgerError as exc:
                    self.metrics.count_error(exc.code)
                    if raise_errors:
                        raise
                    outcomes.append(exc)
                    continue
                signatures = signatures_of(row.signatures_json, record_id)
                signatures[caller.participant_id] = signature
                record = LoanRecord.model_validate_json(row.record_json)
                document = DocumentRefV1.model_validate_json(row.document_json)
                provenance = provenance_of(row.provenance_json)
                change: dict[str, Any] = {
                    "record_id": record_id,
                    "status": row.status,
                    "signatures_json": signatures_json(signatures),
                    "entry_timestamp_json": None,
                    "queued_at": None,
                    "rejection_code": None,
                    "rejection_reason": None,
                }
                outcome = self._settle(
                    change,
                    record,
                    bytes.fromhex(record_id[2:]),
                    signatures,
                    document,
                    provenance,
                    state,
                    now,
                )
                change["anchoring"] = row.anchoring
                updates.append(change)
                done.add(record_id)
                outcomes.append(outcome)
            if updates:
                s.execute(
                    update(SubmissionRow),
                    [{k: v for k, v in u.items() if k != "anchoring"} for u in updates],
                )
        if raise_errors:
            for outcome in outcomes:
                if isinstance(outcome, LedgerError):
                    raise outcome
        return self._anchor_per_record(outcomes, updates)

    def reject(self, caller: Caller, record_id: str, reason: str) -> SubmissionOutcome:
        """The funder refuses a loan awaiting its approval."""
        require_role(caller, Role.FUNDER)
        with self.db.session() as s:
            row = s.get(SubmissionRow, record_id)
            if row is None or row.funder_id != caller.participant_id:
                raise NotFound(f"no record {record_id} for this funder", code="RECORD_NOT_FOUND")
            if row.status != SubmissionStatus.AWAITING_FUNDER.value:
                raise Conflict(
                    f"record {record_id} is {row.status}; only loans awaiting approval can be"
                    " rejected",
                    code="NOT_AWAITING_FUNDER",
                )
            row.status = SubmissionStatus.REJECTED.value
            row.rejection_code = "FUNDER_REJECTED"
            row.rejection_reason = reason
        return SubmissionOutcome(record_id, SubmissionStatus.REJECTED.value, None)


def _outcome_of(row: SubmissionRow, *, duplicate: bool) -> SubmissionOutcome:
    entry = (
        SignedEntryTimestamp.model_validate_json(row.entry_timestamp_json)
        if row.entry_timestamp_json
        else None
    )
    return SubmissionOutcome(row.record_id, row.status, entry, duplicate=duplicate)
