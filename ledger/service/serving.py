"""Serving: a record's status and its receipt, to whoever may see it (`access.Scope`).

A receipt was built and stored when its record was anchored: serving it is one indexed read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import bindparam, select

from ledger.access import Caller, Scope
from ledger.enums import SubmissionStatus
from ledger.errors import Conflict, NotFound
from ledger.receipts import ErasureNote, Receipt, parse_receipt
from ledger.store import (
    SUMMARY_COLUMNS,
    Database,
    ErasureRow,
    ReceiptRow,
    SubmissionRow,
    submission_summary,
)

__all__ = ["Serving"]


# Built once: a receipt read is the hottest query of the gateway (no ORM, no recompiling).
_RECEIPT_COLUMNS = (
    SubmissionRow.record_id,
    SubmissionRow.platform_id,
    SubmissionRow.funder_id,
    SubmissionRow.co_funder_id,
    SubmissionRow.guarantor_id,
    SubmissionRow.status,
    ReceiptRow.receipt_json,
    ErasureRow.executed_at.label("erased_at"),
    ErasureRow.requested_by.label("erasure_requested_by"),
    ErasureRow.approved_by.label("erasure_approved_by"),
    ErasureRow.ordered_by.label("erasure_ordered_by"),
)
_RECEIPT_JOIN = (
    select(*_RECEIPT_COLUMNS)
    .outerjoin(ReceiptRow, ReceiptRow.record_id == SubmissionRow.record_id)
    .outerjoin(ErasureRow, ErasureRow.record_id == SubmissionRow.record_id)
)
_RECEIPT = _RECEIPT_JOIN.where(SubmissionRow.record_id == bindparam("record_id"))
_RECEIPTS = _RECEIPT_JOIN.where(
    SubmissionRow.record_id.in_(bindparam("record_ids", expanding=True))
)

_STATUS = select(*SUMMARY_COLUMNS, SubmissionRow.entry_timestamp_json).where(
    SubmissionRow.record_id == bindparam("record_id")
)


def _served(row: Any, receipt_json: str) -> str:
    """The stored receipt as served: once the document was erased, its `unsigned` part says so
    (and no longer points to the vault). The signed and anchored parts never change."""
    if row.erased_at is None:
        return receipt_json
    receipt = parse_receipt(receipt_json)
    if not isinstance(receipt, Receipt):  # version 1 has no unsigned part
        return receipt_json
    note = ErasureNote(
        erased_at=row.erased_at,
        requested_by=row.erasure_requested_by,
        approved_by=row.erasure_approved_by,
        ordered_by=row.erasure_ordered_by,
    )
    unsigned = receipt.unsigned.model_copy(
        update={"document_location": None, "document_erased": note}
    )
    return receipt.model_copy(update={"unsigned": unsigned}).to_json()


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

    def status(self, caller: Caller, record_id: str) -> dict[str, Any]:
        """A record's public status view and its entry timestamp (JSON text or None), if the
        caller may see it."""
        with self.db.engine.connect() as connection:
            row = connection.execute(_STATUS, {"record_id": record_id.lower()}).one_or_none()
        if row is None or not Scope.of(caller).allows(row):
            raise NotFound(f"no record {record_id}", code="RECORD_NOT_FOUND")
        return {**submission_summary(row), "entry_timestamp_json": row.entry_timestamp_json}

    def receipt_json(self, caller: Caller, record_id: str) -> str:
        """The stored receipt of an anchored record (JSON text)."""
        with self.db.engine.connect() as connection:
            found = connection.execute(_RECEIPT, {"record_id": record_id.lower()}).one_or_none()
        if found is None or not Scope.of(caller).allows(found):
            raise NotFound(f"no record {record_id}", code="RECORD_NOT_FOUND")
        if found.status == SubmissionStatus.ANCHORED.value and found.receipt_json is None:
            built = self._build(record_id.lower())
            if built is not None:
                return _served(found, built)
        if found.status != SubmissionStatus.ANCHORED.value or found.receipt_json is None:
            raise Conflict(
                f"record {record_id} is {found.status}; its receipt exists once anchored",
                code="NOT_ANCHORED",
            )
        return _served(found, str(found.receipt_json))

    def receipts_json(
        self, caller: Caller, record_ids: Sequence[str]
    ) -> tuple[list[str], list[tuple[str, str]]]:
        """The stored receipts of many records in one read, in the order asked (a record asked
        twice comes once), and the (record id, code) of those it cannot give: RECORD_NOT_FOUND
        (unknown, or not the caller's to see) or NOT_ANCHORED."""
        wanted = list(dict.fromkeys(rid.lower() for rid in record_ids))
        with self.db.engine.connect() as connection:
            found = {
                row.record_id: row for row in connection.execute(_RECEIPTS, {"record_ids": wanted})
            }
        scope = Scope.of(caller)
        receipts: list[str] = []
        missing: list[tuple[str, str]] = []
        for rid in wanted:
            row = found.get(rid)
            if row is None or not scope.allows(row):
                missing.append((rid, "RECORD_NOT_FOUND"))
            elif row.status != SubmissionStatus.ANCHORED.value:
                missing.append((rid, "NOT_ANCHORED"))
            elif row.receipt_json is not None:
                receipts.append(_served(row, str(row.receipt_json)))
            else:
                built = self._build(rid)
                if built is None:
                    missing.append((rid, "NOT_ANCHORED"))
                else:
                    receipts.append(_served(row, built))
        return receipts, missing

    def receipt(self, caller: Caller, record_id: str) -> Receipt:
        return Receipt.model_validate_json(self.receipt_json(caller, record_id))
