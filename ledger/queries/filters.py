"""Which loans, and which page: `LoanFilter`, its SQL conditions, the caller's scope, cursors.

Shared by every query of the package: `LoanFilter` and its SQL form (`_conditions`), the SQL form
of `LedgerService.may_see` (`_scope`), the page-size limit (`MAX_PAGE`) and the opaque keyset
cursors (`_encode_cursor` / `_decode_cursor`), which carry the filter's fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, and_, false

from ledger.access import Caller, Scope
from ledger.analytics.tables import LoanIndexRow
from ledger.bounds import ParticipantId, StoredBps, TimeBound
from ledger.errors import InputError
from ledger.records import FLAG_LEGACY
from ledger.store import SubmissionRow

#: Largest page of `list_loans` / `chain_only_loans`.
MAX_PAGE = 1_000

Status = Literal["awaiting_funder", "awaiting_signatures", "queued", "anchored", "rejected"]
InstitutionName = Literal["bank", "trust", "consumer_finance", "small_loan", "other"]


class LoanFilter(BaseModel):
    """Which loans. Every field is optional; given fields must all match.

    `issued_from <= issued_at < issued_to` (unix seconds, half-open, 0 to 2100-01-01); ids,
    times and rates bounded as `ledger.bounds` says, so no value can overflow a column;
    `apr_min_bps <= apr_bps <= apr_max_bps`; `rule`: loans rejected with that code (e.g.
    `RATE_CAP_EXCEEDED`, `FUNDER_REJECTED`); `legacy`: the legacy flag (R8); `retired`: True any
    retired record, False none, or `"revoked"` / `"superseded"`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    funder_id: ParticipantId | None = None
    platform_id: ParticipantId | None = None
    guarantor_id: ParticipantId | None = None
    institution_type: InstitutionName | None = None
    issued_from: TimeBound | None = None
    issued_to: TimeBound | None = None
    apr_min_bps: StoredBps | None = None
    apr_max_bps: StoredBps | None = None
    status: Status | None = None
    rule: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{0,63}$")
    legacy: bool | None = None
    retired: bool | Literal["revoked", "superseded"] | None = None

    @model_validator(mode="after")
    def _ranges(self) -> LoanFilter:
        if (
            self.issued_from is not None
            and self.issued_to is not None
            and self.issued_from > self.issued_to
        ):
            raise ValueError("issued_from is after issued_to")
        if (
            self.apr_min_bps is not None
            and self.apr_max_bps is not None
            and self.apr_min_bps > self.apr_max_bps
        ):
            raise ValueError("apr_min_bps is above apr_max_bps")
        return self

    def fingerprint(self) -> str:
        """A short digest of the filter; cursors carry it so they are not reused across filters."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def _legacy_column(table: Any = SubmissionRow) -> ColumnElement[bool]:
    if table is LoanIndexRow:
        return LoanIndexRow.__table__.c.legacy  # bare: as the partial index says `WHERE legacy`
    return SubmissionRow.flags.bitwise_and(FLAG_LEGACY) != 0


def _conditions(flt: LoanFilter, table: Any = SubmissionRow) -> list[ColumnElement[bool]]:
    """`flt` as SQL on the submissions or on the regulator's index (`LoanIndexRow`: anchored
    loans only, so a status other than anchored, or a rejection rule, matches none of it)."""
    s = table
    out: list[ColumnElement[bool]] = []
    if flt.funder_id is not None:
        out.append(s.funder_id == flt.funder_id)
    if flt.platform_id is not None:
        out.append(s.platform_id == flt.platform_id)
    if flt.guarantor_id is not None:
        out += [s.guarantor_id == flt.guarantor_id, s.guarantor_id != 0]
    if flt.institution_type is not None:
        out.append(s.institution_type == flt.institution_type)
    if flt.issued_from is not None:
        out.append(s.issued_at >= flt.issued_from)
    if flt.issued_to is not None:
        out.append(s.issued_at < flt.issued_to)
    if flt.apr_min_bps is not None:
        out.append(s.apr_bps >= flt.apr_min_bps)
    if flt.apr_max_bps is not None:
        out.append(s.apr_bps <= flt.apr_max_bps)
    if table is LoanIndexRow:
        if flt.rule is not None or flt.status not in (None, "anchored"):
            out.append(false())
    else:
        if flt.status is not None:
            out.append(s.status == flt.status)
        if flt.rule is not None:
            out.append(and_(s.status == "rejected", s.rejection_code == flt.rule))
    if flt.legacy is not None:
        legacy = _legacy_column(table)
        out.append(legacy if flt.legacy else ~legacy)
    if flt.retired is True:
        out.append(s.retired.is_not(None))
    elif flt.retired is False:
        out.append(s.retired.is_(None))
    elif flt.retired is not None:
        out.append(s.retired == flt.retired)
    return out


def _scope(caller: Caller | None, table: Any = SubmissionRow) -> list[ColumnElement[bool]]:
    """The loans `caller` may see (`ledger.access.Scope`), as SQL; None: everything."""
    return [] if caller is None else [Scope.of(caller).clause(table)]


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit must be between 1 and {MAX_PAGE}", code="INVALID_LIMIT")


def _encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, kind: str, fingerprint: str) -> dict[str, Any]:
    bad = InputError("the cursor is malformed or belongs to another query", code="INVALID_CURSOR")
    try:
        if len(cursor) > 512:
            raise ValueError(cursor)
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise bad from exc
    if not isinstance(payload, dict) or payload.get("k") != kind or payload.get("f") != fingerprint:
        raise bad
    return payload
