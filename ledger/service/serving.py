"""Serving: a record's status and its receipt, to whoever may see it (`access.Scope`).

A receipt was built and stored when its record was anchored: serving it is one indexed read.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from ledger.access import Caller, Scope
from ledger.enums import SubmissionStatus
from ledger.errors import Conflict, NotFound
from ledger.receipts import Receipt
from ledger.store import Database, ReceiptRow, SubmissionRow

__all__ = ["Serving"]


class Serving:
    def __init__(self, db: Database, build: Callable[[str], str | None]) -> None:
        self.db = db
        self._build = build  # for records anchored before receipts were stored

    def submission(self, caller: Caller, record_id: str) -> SubmissionRow:
        """A record, if the caller may see it (else RECORD_NOT_FOUND: the two are not told
        apart)."""
        with self.db.session() as s:
            row = s.get(SubmissionRow, record_id.lower())
        if row is None or not Scope.of(caller).allows(row):
            raise NotFound(f"no record {record_id}", code="RECORD_NOT_FOUND")
        return row

    def receipt_json(self, caller: Caller, record_id: str) -> str:
        """The stored receipt of an anchored record (JSON text)."""
        with self.db.session() as s:
            found = s.execute(
                select(
                    SubmissionRow.platform_id,
                    SubmissionRow.funder_id,
                    SubmissionRow.co_funder_id,
                    SubmissionRow.guarantor_id,
                    SubmissionRow.status,
                    ReceiptRow.receipt_json,
                )
                .outerjoin(ReceiptRow, ReceiptRow.record_id == SubmissionRow.record_id)
                .where(SubmissionRow.record_id == record_id.lower())
            ).one_or_none()
        if found is None or not Scope.of(caller).allows(found):
            raise NotFound(f"no record {record_id}", code="RECORD_NOT_FOUND")
        if found.status == SubmissionStatus.ANCHORED.value and found.receipt_json is None:
            built = self._build(record_id.lower())
            if built is not None:
                return built
        if found.status != SubmissionStatus.ANCHORED.value or found.receipt_json is None:
            raise Conflict(
                f"record {record_id} is {found.status}; its receipt exists once anchored",
                code="NOT_ANCHORED",
            )
        return str(found.receipt_json)

    def receipt(self, caller: Caller, record_id: str) -> Receipt:
        return Receipt.model_validate_json(self.receipt_json(caller, record_id))
