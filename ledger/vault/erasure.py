"""Crypto-shredding a loan's personal data (PIPL erasure).

The platform asks (a reason and the borrower's request reference), the funder approves; or the
regulator orders it, which executes at once. Executing destroys the document's wrapped data key,
its ciphertext and chunks (`shred_document`), and the record's sealed secrets (`record_secrets`:
borrower commitment salt, fee-form seed — the row is created if absent, so its `shredded_at`
stamp always exists). The record's hash stays anchored and its receipt still verifies: nothing
anchored or signed changes; the erasure is served beside it. Each step is an evidence-log entry.
"""

from __future__ import annotations

import json
import time

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from ledger.access import Caller
from ledger.enums import Role
from ledger.errors import Conflict, NotFound, PermissionDenied
from ledger.store import ErasureRow, SubmissionRow
from ledger.vault.documents import shred_document
from ledger.vault.log import log_access
from ledger.vault.secrets import RecordSecrets

__all__ = ["Erasure", "approve_erasure", "erasure_of", "request_erasure"]


class Erasure(BaseModel):
    """A loan's erasure: who asked and when, who approved (the funder) or ordered it (the
    regulator), when it was executed (None while it waits for the funder)."""

    model_config = ConfigDict(frozen=True)

    record_id: str
    requested_by: int
    requested_at: int
    approved_by: int | None
    ordered_by: int | None
    executed_at: int | None
    reason: str
    reference: str


def _view(row: ErasureRow) -> Erasure:
    return Erasure(
        record_id=row.record_id,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        approved_by=row.approved_by,
        ordered_by=row.ordered_by,
        executed_at=row.executed_at,
        reason=row.reason,
        reference=row.reference,
    )


def erasure_of(session: Session, record_id: str) -> Erasure | None:
    """The loan's erasure, requested or executed; None if nobody asked for one."""
    row = session.get(ErasureRow, record_id.lower())
    return None if row is None else _view(row)


def _loan(s: Session, record_id: str) -> SubmissionRow:
    row = s.get(SubmissionRow, record_id)
    if row is None:
        raise NotFound(f"no loan {record_id}", code="RECORD_NOT_FOUND")
    return row


def _log(s: Session, caller: Caller, kind: str, record_id: str, now: int, **details: bool) -> None:
    log_access(
        s,
        kind=kind,
        record_id=record_id,
        actor_id=caller.participant_id,
        actor_role=caller.role.label,
        details=dict(details),
        at=now,
    )


def _new(record_id: str, reason: str, reference: str, caller: Caller, now: int) -> ErasureRow:
    return ErasureRow(
        record_id=record_id,
        reason=reason,
        reference=reference,
        requested_by=caller.participant_id,
        requested_at=now,
    )


def _refuse_if_done(row: ErasureRow | None) -> None:
    if row is not None and row.executed_at is not None:
        raise Conflict(
            f"the loan's data was erased at {row.executed_at}", code="ERASURE_ALREADY_EXECUTED"
        )


def request_erasure(
    s: Session, caller: Caller, record_id: str, reason: str, reference: str, now: int
) -> Erasure:
    """The loan's platform asks for erasure (waits for the funder); the regulator orders it
    (executed now, also over a pending request)."""
    loan = _loan(s, record_id)
    existing = s.get(ErasureRow, record_id)
    _refuse_if_done(existing)
    if caller.role is Role.REGULATOR:
        row = existing or _new(record_id, reason, reference, caller, now)
        row.ordered_by = caller.participant_id
        if existing is None:
            s.add(row)
        _log(s, caller, "erasure_ordered", record_id, now)
        _execute(s, loan, row, caller, now)
        return _view(row)
    if caller.role is not Role.PLATFORM or loan.platform_id != caller.participant_id:
        raise PermissionDenied(
            "erasure is requested by the loan's platform or ordered by the regulator",
            code="ERASURE_FORBIDDEN",
        )
    if existing is not None:
        raise Conflict("erasure is already requested", code="ERASURE_ALREADY_REQUESTED")
    row = _new(record_id, reason, reference, caller, now)
    s.add(row)
    _log(s, caller, "erasure_requested", record_id, now)
    return _view(row)


def approve_erasure(s: Session, caller: Caller, record_id: str, now: int) -> Erasure:
    """The loan's funder approves its platform's request: executed now."""
    loan = _loan(s, record_id)
    if caller.role is not Role.FUNDER or loan.funder_id != caller.participant_id:
        raise PermissionDenied(
            "only the loan's funder approves its erasure", code="ERASURE_FORBIDDEN"
        )
    row = s.get(ErasureRow, record_id)
    if row is None:
        raise Conflict("no erasure was requested for this loan", code="ERASURE_NOT_REQUESTED")
    _refuse_if_done(row)
    row.approved_by = caller.participant_id
    _execute(s, loan, row, caller, now)
    return _view(row)


def _execute(s: Session, loan: SubmissionRow, row: ErasureRow, caller: Caller, now: int) -> None:
    location = json.loads(loan.document_json or "{}").get("location")
    shredded = bool(location) and shred_document(s, loan.agreement_digest)
    RecordSecrets.shred(s, loan.record_id, time.time())
    row.executed_at = now
    _log(
        s,
        caller,
        "erasure_executed",
        loan.record_id,
        now,
        document_shredded=shredded,
        secrets_shredded=True,
    )
