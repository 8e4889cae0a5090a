"""Auditors' access grants: the regulator (any loans) or a funder (only loans it funds or
co-funds) lets one registered auditor read the documents of a set of loans from `valid_from`
until `valid_until` (unix seconds, half-open). Each grant and revocation is an evidence-log
entry per loan it covers, so who may look at what is itself evidence.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ledger.access import Caller, require_role
from ledger.enums import Role
from ledger.errors import Conflict, InputError, NotFound, PermissionDenied
from ledger.limits import MAX_GRANT_LOANS
from ledger.store import AccessGrantRow, ParticipantRow, SubmissionRow
from ledger.vault.log import log_access

__all__ = ["Grant", "create_grant", "grants_of", "live_grant_covers", "revoke_grant"]


class Grant(BaseModel):
    """An auditor's access to the documents of `record_ids`, from `valid_from` until
    `valid_until` (unix seconds, half-open), unless revoked."""

    model_config = ConfigDict(frozen=True)

    id: int
    grantor_id: int
    grantor_role: str
    auditor_id: int
    record_ids: list[str]
    valid_from: int
    valid_until: int
    created_at: int
    revoked_at: int | None


def _grant(row: AccessGrantRow) -> Grant:
    return Grant(
        id=row.id,
        grantor_id=row.grantor_id,
        grantor_role=row.grantor_role,
        auditor_id=row.auditor_id,
        record_ids=json.loads(row.record_ids_json),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def create_grant(
    s: Session,
    caller: Caller,
    auditor_id: int,
    record_ids: list[str],
    valid_from: int,
    valid_until: int,
    now: int,
) -> Grant:
    """A new grant (see the module docstring); refused before anything is stored."""
    require_role(caller, Role.REGULATOR, Role.FUNDER)
    ids = sorted({r.lower() for r in record_ids})
    if not 1 <= len(ids) <= MAX_GRANT_LOANS:
        raise InputError(f"a grant covers 1 to {MAX_GRANT_LOANS} loans", code="GRANT_TOO_LARGE")
    if valid_until <= valid_from or valid_until <= now:
        raise InputError(
            "valid_until must come after valid_from and after now", code="GRANT_WINDOW_INVALID"
        )
    auditor = s.get(ParticipantRow, auditor_id)
    if auditor is None or auditor.role != Role.AUDITOR.label:
        raise InputError(
            f"participant {auditor_id} is not a registered auditor", code="GRANTEE_NOT_AUDITOR"
        )
    rows = s.execute(
        select(SubmissionRow.record_id, SubmissionRow.funder_id, SubmissionRow.co_funder_id).where(
            SubmissionRow.record_id.in_(ids)
        )
    ).all()
    known = {r.record_id: r for r in rows}
    missing = [r for r in ids if r not in known]
    if missing:
        raise NotFound(f"no loan {missing[0]}", code="RECORD_NOT_FOUND")
    if caller.role is Role.FUNDER:
        foreign = [
            r
            for r in ids
            if caller.participant_id not in (known[r].funder_id, known[r].co_funder_id)
        ]
        if foreign:
            raise PermissionDenied(
                f"loan {foreign[0]} is not funded or co-funded by you", code="GRANT_LOAN_FOREIGN"
            )
    row = AccessGrantRow(
        grantor_id=caller.participant_id,
        grantor_role=caller.role.label,
        auditor_id=auditor_id,
        record_ids_json=json.dumps(ids),
        valid_from=valid_from,
        valid_until=valid_until,
        created_at=now,
    )
    s.add(row)
    s.flush()
    for record_id in ids:
        log_access(
            s,
            kind="grant_created",
            record_id=record_id,
            actor_id=caller.participant_id,
            actor_role=caller.role.label,
            details={
                "grant_id": row.id,
                "auditor_id": auditor_id,
                "valid_from": valid_from,
                "valid_until": valid_until,
            },
            at=now,
        )
    return _grant(row)


def revoke_grant(s: Session, caller: Caller, grant_id: int, now: int) -> Grant:
    """Ends a grant now; only its grantor may."""
    row = s.get(AccessGrantRow, grant_id)
    if row is None:
        raise NotFound(f"no grant {grant_id}", code="GRANT_NOT_FOUND")
    if row.grantor_id != caller.participant_id:
        raise PermissionDenied("only the grantor revokes a grant", code="GRANT_NOT_YOURS")
    if row.revoked_at is not None:
        raise Conflict(f"grant {grant_id} is already revoked", code="GRANT_ALREADY_REVOKED")
    row.revoked_at = now
    for record_id in json.loads(row.record_ids_json):
        log_access(
            s,
            kind="grant_revoked",
            record_id=record_id,
            actor_id=caller.participant_id,
            actor_role=caller.role.label,
            details={"grant_id": row.id, "auditor_id": row.auditor_id},
            at=now,
        )
    return _grant(row)


def grants_of(s: Session, caller: Caller) -> list[Grant]:
    """The grants the caller made, and those made to it (an auditor), newest first."""
    require_role(caller, Role.REGULATOR, Role.FUNDER, Role.AUDITOR)
    rows = s.scalars(
        select(AccessGrantRow)
        .where(
            or_(
                AccessGrantRow.grantor_id == caller.participant_id,
                AccessGrantRow.auditor_id == caller.participant_id,
            )
        )
        .order_by(AccessGrantRow.id.desc())
    ).all()
    return [_grant(r) for r in rows]


def live_grant_covers(s: Session, auditor_id: int, record_id: str, now: int) -> int | None:
    """The id of a grant to the auditor, live at `now` and covering the loan; else None."""
    rows = s.scalars(
        select(AccessGrantRow).where(
            AccessGrantRow.auditor_id == auditor_id,
            AccessGrantRow.revoked_at.is_(None),
            AccessGrantRow.valid_from <= now,
            AccessGrantRow.valid_until > now,
        )
    ).all()
    for row in rows:
        if record_id in json.loads(row.record_ids_json):
            return row.id
    return None
