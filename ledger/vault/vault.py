"""`Vault`: the document vault's operations for one gateway — who may read a loan's document
(its parties, the regulator, an auditor with a live grant covering it), the reads logged, grants
and erasures. Each operation is one transaction; refusals change nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

from sqlalchemy.orm import Session

from ledger.access import Caller, Scope
from ledger.enums import Role
from ledger.errors import NotFound, PermissionDenied
from ledger.store import Database, SubmissionRow
from ledger.vault.crypto import KeyWrapper
from ledger.vault.documents import (
    DocumentInfo,
    StagedDocument,
    document_info,
    document_stream,
    stage,
    store_document,
)
from ledger.vault.erasure import Erasure, approve_erasure, erasure_of, request_erasure
from ledger.vault.grants import Grant, create_grant, grants_of, live_grant_covers, revoke_grant
from ledger.vault.log import LogEntry, evidence_log_of, log_access

__all__ = ["Vault"]


def _wall_clock() -> int:
    return int(time.time())


class Vault:
    def __init__(
        self, db: Database, wrapper: KeyWrapper, now: Callable[[], int] = _wall_clock
    ) -> None:
        self.db = db
        self.wrapper = wrapper
        self.now = now

    # ------------------------------------------------------------------ documents

    def stage(self, file: BinaryIO) -> StagedDocument:
        return stage(file)

    def store(
        self, s: Session, sha256_hex: str, document: bytes | StagedDocument, media_type: str
    ) -> None:
        store_document(s, self.wrapper, sha256_hex, document, media_type)

    def _loan(self, s: Session, record_id: str) -> SubmissionRow:
        row = s.get(SubmissionRow, record_id)
        if row is None:
            raise NotFound(f"no loan {record_id}", code="RECORD_NOT_FOUND")
        return row

    def _may_read(self, s: Session, caller: Caller, loan: SubmissionRow, now: int) -> int | None:
        """None for a party or the regulator, the grant's id for an auditor; else refuses."""
        if caller.role is Role.REGULATOR:
            return None
        if caller.role is Role.AUDITOR:
            grant = live_grant_covers(s, caller.participant_id, loan.record_id, now)
            if grant is None:
                raise PermissionDenied(
                    "no live access grant to you covers this loan", code="GRANT_REQUIRED"
                )
            return grant
        if Scope.of(caller).allows(loan):
            return None
        raise PermissionDenied(
            "only the loan's parties, the regulator and auditors with a grant read its document",
            code="DOCUMENT_FORBIDDEN",
        )

    def read(self, caller: Caller, record_id: str) -> tuple[DocumentInfo, Iterator[bytes]]:
        """The loan's document (media type, size, digest) and its clear text as a stream; the
        read is logged (committed) before the first byte is served."""
        now = self.now()
        with self.db.session() as s:
            loan = self._loan(s, record_id)
            grant = self._may_read(s, caller, loan, now)
            location = json.loads(loan.document_json or "{}").get("location")
            if not location:
                raise NotFound(
                    "the loan was submitted without its document", code="DOCUMENT_NOT_FOUND"
                )
            info = document_info(s, loan.agreement_digest)
            details: dict[str, int | str] = {"sha256": info.sha256}
            if grant is not None:
                details["grant_id"] = grant
            log_access(
                s,
                kind="document_read",
                record_id=record_id,
                actor_id=caller.participant_id,
                actor_role=caller.role.label,
                details=details,
                at=now,
            )
        return info, document_stream(self.db, info.sha256, self.wrapper)

    # ------------------------------------------------------------------ grants

    def grant(
        self,
        caller: Caller,
        auditor_id: int,
        record_ids: list[str],
        valid_from: int,
        valid_until: int,
    ) -> Grant:
        with self.db.session() as s:
            return create_grant(
                s, caller, auditor_id, record_ids, valid_from, valid_until, self.now()
            )

    def revoke(self, caller: Caller, grant_id: int) -> Grant:
        with self.db.session() as s:
            return revoke_grant(s, caller, grant_id, self.now())

    def grants(self, caller: Caller) -> list[Grant]:
        with self.db.session() as s:
            return grants_of(s, caller)

    # ------------------------------------------------------------------ erasure, log

    def request_erasure(
        self, caller: Caller, record_id: str, reason: str, reference: str
    ) -> Erasure:
        with self.db.session() as s:
            return request_erasure(s, caller, record_id, reason, reference, self.now())

    def approve_erasure(self, caller: Caller, record_id: str) -> Erasure:
        with self.db.session() as s:
            return approve_erasure(s, caller, record_id, self.now())

    def _visible(self, s: Session, caller: Caller, record_id: str) -> None:
        loan = self._loan(s, record_id)
        if caller.role in (Role.REGULATOR, Role.AUDITOR) or Scope.of(caller).allows(loan):
            return
        raise NotFound(f"no loan {record_id}", code="RECORD_NOT_FOUND")

    def erasure(self, caller: Caller, record_id: str) -> Erasure | None:
        with self.db.session() as s:
            self._visible(s, caller, record_id)
            return erasure_of(s, record_id)

    def recorded_erasure(self, record_id: str) -> Erasure | None:
        """The loan's erasure, for a caller already allowed to see the loan (its status)."""
        with self.db.session() as s:
            return erasure_of(s, record_id)

    def evidence_log(self, caller: Caller, record_id: str) -> list[LogEntry]:
        """The loan's evidence log: for the regulator and the loan's parties."""
        with self.db.session() as s:
            if caller.role is Role.AUDITOR:
                raise PermissionDenied(
                    "the evidence log is for the parties and the regulator", code="ROLE_FORBIDDEN"
                )
            self._visible(s, caller, record_id)
            return evidence_log_of(s, record_id)
