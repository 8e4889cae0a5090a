"""Loans anchored on chain by themselves that the gateway does not hold (`chain_only_loans`).

Read from the indexed chain events: `LoanAnchored` for the loans, `ParticipantRegistered` for the
funders' institution types, `RecordRevoked` / `RecordAmended` for retirements.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ledger.enums import InstitutionType
from ledger.errors import InputError
from ledger.queries.filters import LoanFilter, _check_limit, _decode_cursor, _encode_cursor
from ledger.records import FLAG_LEGACY
from ledger.store import ChainEventRow, Database, ParticipantRow, SubmissionRow


def _institution_names(s: Session) -> dict[int, str]:
    """Participant id -> institution type name, from the gateway's participants and the indexed
    `ParticipantRegistered` events (which cover participants registered elsewhere)."""
    names: dict[int, str] = {}
    events = s.execute(
        select(ChainEventRow.args_json).where(ChainEventRow.name == "ParticipantRegistered")
    ).scalars()
    for raw in events:
        args = json.loads(raw)
        try:
            names[int(args["participantId"])] = InstitutionType(
                int(args["institutionType"])
            ).name.lower()
        except (KeyError, ValueError):
            continue
    for pid, kind in s.execute(select(ParticipantRow.id, ParticipantRow.institution_type)):
        names[int(pid)] = str(kind)
    return names


def _retirements(s: Session) -> dict[str, str]:
    out: dict[str, str] = {}
    events = s.execute(
        select(ChainEventRow.name, ChainEventRow.args_json)
        .where(ChainEventRow.name.in_(("RecordRevoked", "RecordAmended")))
        .order_by(ChainEventRow.block_number, ChainEventRow.log_index)
    )
    for name, raw in events:
        record_id = str(json.loads(raw)["recordId"]).lower()
        out.setdefault(record_id, "revoked" if name == "RecordRevoked" else "superseded")
    return out


def _chain_item(
    event: ChainEventRow, institution: Mapping[int, str], retired: Mapping[str, str]
) -> dict[str, Any]:
    args = json.loads(event.args_json)
    record_id = str(args["recordId"]).lower()
    funder_id = int(args["funderId"])
    return {
        "record_id": record_id,
        "status": "anchored",
        "anchoring": "per-record",
        "platform_id": int(args["platformId"]),
        "funder_id": funder_id,
        "guarantor_id": int(args["guarantorId"]) or None,
        "co_funder_id": int(args["coFunderId"]) or None,
        "institution_type": institution.get(funder_id, "unknown"),
        "principal": int(args["principal"]),
        "apr_bps": int(args["aprBps"]),
        "issued_at": int(args["issuedAt"]),
        "legacy": bool(int(args["flags"]) & FLAG_LEGACY),
        "batch_root": None,
        "transaction_hash": event.tx_hash,
        "block_number": event.block_number,
        "block_time": event.block_time,
        "rejection": None,
        "retired": retired.get(record_id),
        "source": "chain",
    }


def _chain_item_matches(item: Mapping[str, Any], flt: LoanFilter) -> bool:
    checks: list[bool] = [
        flt.funder_id is None or item["funder_id"] == flt.funder_id,
        flt.platform_id is None or item["platform_id"] == flt.platform_id,
        flt.guarantor_id is None or item["guarantor_id"] == flt.guarantor_id,
        flt.institution_type is None or item["institution_type"] == flt.institution_type,
        flt.issued_from is None or item["issued_at"] >= flt.issued_from,
        flt.issued_to is None or item["issued_at"] < flt.issued_to,
        flt.apr_min_bps is None or item["apr_bps"] >= flt.apr_min_bps,
        flt.apr_max_bps is None or item["apr_bps"] <= flt.apr_max_bps,
        flt.status is None or flt.status == "anchored",
        flt.rule is None,
        flt.legacy is None or item["legacy"] == flt.legacy,
        flt.retired is None
        or (flt.retired is True and item["retired"] is not None)
        or (flt.retired is False and item["retired"] is None)
        or (isinstance(flt.retired, str) and item["retired"] == flt.retired),
    ]
    return all(checks)


def chain_only_loans(
    db: Database,
    flt: LoanFilter | None = None,
    *,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], str | None]:
    """Loans anchored on chain by themselves (indexed `LoanAnchored` events) that the gateway
    does not hold, ordered by (block_number, log_index), each marked `"source": "chain"`.

    The filter is applied to the event's fields (the funder's institution type from the
    registry's events); `status` can only match `anchored` and `rule` never matches. This scans
    the indexed events, so it costs in proportion to the per-record anchors on chain."""
    flt = flt or LoanFilter()
    _check_limit(limit)
    fingerprint = flt.fingerprint()
    after_block, after_index = -1, -1
    if cursor is not None:
        position = _decode_cursor(cursor, "chain", fingerprint)
        try:
            after_block, after_index = int(position["b"]), int(position["l"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError("the cursor is malformed", code="INVALID_CURSOR") from exc
    found: list[tuple[ChainEventRow, dict[str, Any]]] = []
    chunk = max(2 * limit, 500)
    with db.session() as s:
        institution = _institution_names(s)
        retired = _retirements(s)
        while len(found) <= limit:
            events = list(
                s.execute(
                    select(ChainEventRow)
                    .where(
                        ChainEventRow.name == "LoanAnchored",
                        or_(
                            ChainEventRow.block_number > after_block,
                            and_(
                                ChainEventRow.block_number == after_block,
                                ChainEventRow.log_index > after_index,
                            ),
                        ),
                    )
                    .order_by(ChainEventRow.block_number, ChainEventRow.log_index)
                    .limit(chunk)
                ).scalars()
            )
            if not events:
                break
            items = [(e, _chain_item(e, institution, retired)) for e in events]
            known = set(
                s.execute(
                    select(SubmissionRow.record_id).where(
                        SubmissionRow.record_id.in_([item["record_id"] for _, item in items])
                    )
                ).scalars()
            )
            for event, item in items:
                if item["record_id"] not in known and _chain_item_matches(item, flt):
                    found.append((event, item))
                    if len(found) > limit:
                        break
            after_block, after_index = events[-1].block_number, events[-1].log_index
            if len(events) < chunk:
                break
    more = len(found) > limit
    found = found[:limit]
    next_cursor = (
        _encode_cursor(
            {
                "k": "chain",
                "f": fingerprint,
                "b": found[-1][0].block_number,
                "l": found[-1][0].log_index,
            }
        )
        if more and found
        else None
    )
    return [item for _, item in found], next_cursor
