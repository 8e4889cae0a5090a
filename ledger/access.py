"""Who is calling, and what they may see and do — the one place for it.

An API key is bound to one participant and its role. What a caller may see of the loans follows
from its role (`scope`): the regulator and auditors see every loan; a platform the loans it
submitted; a funder those it funds or co-funds; a credit enhancer those it guarantees. The loan
routes and the regulator's queries both ask this module, so the two cannot disagree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select, true
from sqlalchemy.orm import Session

from ledger.enums import Role
from ledger.errors import PermissionDenied
from ledger.keystore import hash_api_key, new_api_key
from ledger.store import ApiKeyRow, Database, SubmissionRow

__all__ = ["Access", "Caller", "Scope", "require_role"]


@dataclass(frozen=True)
class Caller:
    """Who is calling: a participant and its role (from an API key)."""

    participant_id: int
    role: Role


@dataclass(frozen=True)
class Scope:
    """The loans a caller may see."""

    everything: bool = False
    platform_id: int | None = None
    funder_id: int | None = None  # as the funder or the co-funder
    guarantor_id: int | None = None

    @classmethod
    def of(cls, caller: Caller) -> Scope:
        if caller.role in (Role.REGULATOR, Role.AUDITOR):
            return cls(everything=True)
        if caller.role is Role.PLATFORM:
            return cls(platform_id=caller.participant_id)
        if caller.role is Role.FUNDER:
            return cls(funder_id=caller.participant_id)
        if caller.role is Role.CREDIT_ENHANCER:
            return cls(guarantor_id=caller.participant_id)
        return cls()  # gateways and others: nothing

    def allows(self, row: Any) -> bool:
        """Whether a loan row (anything with the party columns) is in scope."""
        if self.everything:
            return True
        if self.platform_id is not None and row.platform_id == self.platform_id:
            return True
        if self.funder_id is not None and self.funder_id in (row.funder_id, row.co_funder_id):
            return True
        return self.guarantor_id is not None and row.guarantor_id == self.guarantor_id

    def clause(self, table: Any = SubmissionRow) -> ColumnElement[bool]:
        """The same, as a SQL condition on a table with the party columns."""
        if self.everything:
            return true()
        conditions: list[ColumnElement[bool]] = []
        if self.platform_id is not None:
            conditions.append(table.platform_id == self.platform_id)
        if self.funder_id is not None:
            conditions += [table.funder_id == self.funder_id, table.co_funder_id == self.funder_id]
        if self.guarantor_id is not None:
            conditions.append(table.guarantor_id == self.guarantor_id)
        return or_(*conditions) if conditions else ~true()


def require_role(caller: Caller, *roles: Role) -> None:
    """Raises ROLE_FORBIDDEN unless the caller has one of `roles`."""
    if caller.role not in roles:
        allowed = ", ".join(r.label for r in roles)
        raise PermissionDenied(f"this is for: {allowed}", code="ROLE_FORBIDDEN")


_KEY = select(ApiKeyRow.participant_id, ApiKeyRow.role, ApiKeyRow.revoked).where(
    ApiKeyRow.key_hash == bindparam("key_hash")
)


class Access:
    """API keys: issuing (shown once, stored as SHA-256) and authenticating."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def issue_key(self, participant_id: int, role: Role, session: Session | None = None) -> str:
        """A new API key for the participant, stored (in `session`'s transaction if given)."""
        key = new_api_key()
        row = ApiKeyRow(
            key_hash=hash_api_key(key),
            participant_id=participant_id,
            role=role.label,
            created_at=time.time(),
        )
        if session is not None:
            session.add(row)
            return key
        with self.db.session() as s:
            s.add(row)
        return key

    def authenticate(self, api_key: str) -> Caller:
        # Every request pays for this: one prebuilt statement on a pooled connection, no ORM.
        with self.db.engine.connect() as connection:
            row = connection.execute(_KEY, {"key_hash": hash_api_key(api_key)}).one_or_none()
        if row is None or row.revoked:
            raise PermissionDenied("unknown or revoked API key", code="UNAUTHENTICATED")
        return Caller(int(row.participant_id), Role.from_label(row.role))
