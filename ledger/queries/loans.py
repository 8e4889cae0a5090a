"""The gateway's loans: one keyset page (`list_loans`) or all of them as CSV (`loans_csv`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, literal, null, or_, select, true

from ledger.access import Caller, Scope
from ledger.analytics.tables import LoanIndexRow
from ledger.errors import InputError
from ledger.queries.filters import (
    MAX_PAGE,
    LoanFilter,
    _check_limit,
    _conditions,
    _decode_cursor,
    _encode_cursor,
)
from ledger.records import FLAG_LEGACY
from ledger.store import SUMMARY_COLUMNS, Database, SubmissionRow, submission_summary

_NOT_ANCHORED = ("awaiting_funder", "awaiting_signatures", "queued", "rejected")

#: the index rows as `submission_summary` reads them (status, rejection: an anchored loan's)
_INDEX_SUMMARY = (
    LoanIndexRow.record_id,
    literal("anchored").label("status"),
    LoanIndexRow.anchoring,
    LoanIndexRow.platform_id,
    LoanIndexRow.funder_id,
    LoanIndexRow.guarantor_id,
    LoanIndexRow.co_funder_id,
    LoanIndexRow.institution_type,
    LoanIndexRow.principal,
    LoanIndexRow.apr_bps,
    LoanIndexRow.issued_at,
    case((LoanIndexRow.legacy.is_(True), FLAG_LEGACY), else_=0).label("flags"),
    LoanIndexRow.batch_root,
    LoanIndexRow.tx_hash,
    LoanIndexRow.block_number,
    LoanIndexRow.block_time,
    null().label("rejection_code"),
    null().label("rejection_reason"),
    LoanIndexRow.retired,
)


def _branches(caller: Caller | None, table: Any) -> list[ColumnElement[bool]]:
    """The caller's scope as separate conditions (platform, funder, co-funder, guarantor): each
    is one index range in keyset order, where their OR would be a scan."""
    if caller is None:
        return [true()]
    scope = Scope.of(caller)
    if scope.everything:
        return [true()]
    out: list[ColumnElement[bool]] = []
    if scope.platform_id is not None:
        out.append(table.platform_id == scope.platform_id)
    if scope.funder_id is not None:
        out += [
            table.funder_id == scope.funder_id,
            and_(table.co_funder_id == scope.funder_id, table.co_funder_id != 0),
        ]
    if scope.guarantor_id is not None:
        out.append(and_(table.guarantor_id == scope.guarantor_id, table.guarantor_id != 0))
    return out


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
    meanwhile. Loans anchored on chain by others are not included (see `chain_only_loans`).

    Anchored loans come from the regulator's index (`LoanIndexRow`), the others (awaiting the
    funder, queued, rejected) from the submissions; each part, and each branch of the caller's
    scope, is one `(issued_at, record_id) > cursor ORDER BY .. LIMIT` range of an index, and the
    page is their merge: the cost of a page does not grow with its position."""
    flt = flt or LoanFilter()
    _check_limit(limit)
    fingerprint = flt.fingerprint()
    after: tuple[int, str] | None = None
    if cursor is not None:
        position = _decode_cursor(cursor, "loans", fingerprint)
        try:
            after = int(position["i"]), str(position["r"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError("the cursor is malformed", code="INVALID_CURSOR") from exc
    queries = []
    if flt.status in (None, "anchored") and flt.rule is None:
        where = _conditions(flt, LoanIndexRow)
        for branch in _branches(caller, LoanIndexRow):
            queries.append(_page(select(*_INDEX_SUMMARY), LoanIndexRow, [*where, branch], after))
    if flt.status != "anchored":
        where = [*_conditions(flt), SubmissionRow.status.in_(_NOT_ANCHORED)]
        for branch in _branches(caller, SubmissionRow):
            queries.append(_page(select(*SUMMARY_COLUMNS), SubmissionRow, [*where, branch], after))
    found: dict[str, Any] = {}
    with db.engine.connect() as connection:
        for query in queries:
            for row in connection.execute(query.limit(limit + 1)):
                found[row.record_id] = row
    rows = sorted(found.values(), key=lambda r: (int(r.issued_at), str(r.record_id)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [submission_summary(r) for r in rows]
    next_cursor = (
        _encode_cursor(
            {"k": "loans", "f": fingerprint, "i": int(rows[-1].issued_at), "r": rows[-1].record_id}
        )
        if more and rows
        else None
    )
    return items, next_cursor


def _page(query: Any, table: Any, where: list[Any], after: tuple[int, str] | None) -> Any:
    if after is not None:
        time, record_id = after
        # `issued_at >= t` first: the range an index seeks to (an OR alone would be a filter).
        where = [
            *where,
            table.issued_at >= time,
            or_(table.issued_at > time, table.record_id > record_id),
        ]
    return query.where(*where).order_by(table.issued_at, table.record_id)


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
