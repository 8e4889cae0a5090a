"""The gateway's loans: one keyset page (`list_loans`) or all of them as CSV (`loans_csv`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import and_, or_, select

from ledger.access import Caller
from ledger.errors import InputError
from ledger.queries.filters import (
    MAX_PAGE,
    LoanFilter,
    _check_limit,
    _conditions,
    _decode_cursor,
    _encode_cursor,
    _scope,
)
from ledger.store import Database, SubmissionRow, submission_summary


def list_loans(
    db: Database,
    flt: LoanFilter | None = None,
    *,
    cursor: str | None = None,
    limit: int = 100,
    caller: Caller | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the gateway's loans matching `flt`, ordered by (issued_at, record_id).

    Returns the items (`submission_summary` of each row) and the cursor of the next page (None
    on the last page). Keyset pagination: pages never overlap or skip rows, whatever is added
    meanwhile. Loans anchored on chain by others are not included (see `chain_only_loans`)."""
    flt = flt or LoanFilter()
    _check_limit(limit)
    fingerprint = flt.fingerprint()
    where = _conditions(flt) + _scope(caller)
    if cursor is not None:
        position = _decode_cursor(cursor, "loans", fingerprint)
        try:
            after_time, after_id = int(position["i"]), str(position["r"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError("the cursor is malformed", code="INVALID_CURSOR") from exc
        where.append(
            or_(
                SubmissionRow.issued_at > after_time,
                and_(SubmissionRow.issued_at == after_time, SubmissionRow.record_id > after_id),
            )
        )
    query = (
        select(SubmissionRow)
        .where(*where)
        .order_by(SubmissionRow.issued_at, SubmissionRow.record_id)
        .limit(limit + 1)
    )
    with db.session() as s:
        rows = list(s.execute(query).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [submission_summary(r) for r in rows]
    next_cursor = (
        _encode_cursor(
            {"k": "loans", "f": fingerprint, "i": rows[-1].issued_at, "r": rows[-1].record_id}
        )
        if more and rows
        else None
    )
    return items, next_cursor


#: Columns of `loans_csv`, in order.
CSV_COLUMNS: tuple[str, ...] = (
    "record_id",
    "status",
    "anchoring",
    "platform_id",
    "funder_id",
    "guarantor_id",
    "co_funder_id",
    "institution_type",
    "principal_fen",
    "apr_bps",
    "issued_at",
    "legacy",
    "batch_root",
    "transaction_hash",
    "block_number",
    "block_time",
    "rejection_code",
    "rejection_reason",
    "retired",
)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # Spreadsheet formula injection: free text (a funder's rejection reason) is defused.
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([_csv_cell(v) for v in values])
    return buffer.getvalue()


def loans_csv(
    db: Database,
    flt: LoanFilter | None = None,
    *,
    caller: Caller | None = None,
    page_size: int = MAX_PAGE,
) -> Iterator[str]:
    """The loans matching `flt` as CSV (RFC 4180, CRLF): the header, then one line per loan,
    read page by page (constant memory)."""
    yield _csv_line(CSV_COLUMNS)
    cursor: str | None = None
    while True:
        items, cursor = list_loans(db, flt, cursor=cursor, limit=page_size, caller=caller)
        for item in items:
            rejection = item["rejection"] or {}
            yield _csv_line(
                [
                    item["record_id"],
                    item["status"],
                    item["anchoring"],
                    item["platform_id"],
                    item["funder_id"],
                    item["guarantor_id"],
                    item["co_funder_id"],
                    item["institution_type"],
                    item["principal"],
                    item["apr_bps"],
                    item["issued_at"],
                    item["legacy"],
                    item["batch_root"],
                    item["transaction_hash"],
                    item["block_number"],
                    item["block_time"],
                    rejection.get("code"),
                    rejection.get("reason"),
                    item["retired"],
                ]
            )
        if cursor is None:
            return
