"""What the regulator pursues (`violations`): proven violations, legacy stock, rejections."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sqlalchemy import func, select

from ledger.analytics.maintain import ROLLUPS
from ledger.analytics.tables import LoanIndexRow
from ledger.chain.artifacts import decode_custom_error, error_selectors
from ledger.codes import ERROR_CODES
from ledger.errors import InputError
from ledger.indexer import CURSOR_KEY
from ledger.queries.filters import MAX_PAGE
from ledger.queries.loans import _INDEX_SUMMARY
from ledger.queries.statistics import ConsumerFinancePolicy, consumer_finance_breaches
from ledger.store import ChainEventRow, Database, MetaRow, SubmissionRow, submission_summary


def _rule_of(code_hex: str) -> tuple[str | None, str]:
    """(custom error name, stable rule code) of a bytes4 error selector."""
    try:
        selector = bytes.fromhex(code_hex.removeprefix("0x"))
    except ValueError:
        return None, "UNKNOWN"
    entry = error_selectors().get(selector)
    if entry is None:
        return None, "UNKNOWN"
    name = entry[0]
    return name, ERROR_CODES[name][0] if name in ERROR_CODES else name


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, int | str):
        return value
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def legacy_stock(db: Database, *, limit: int = MAX_PAGE) -> dict[str, Any]:
    """Anchored legacy loans (R8) not yet retired: count and principal (from the live rollups,
    by type per year) and the first `limit` of them by (issued_at, record_id) (from the index:
    one range of its (legacy, issued_at, record_id) index)."""
    if limit < 0:
        raise InputError("legacy_limit must be 0 or more")
    with db.engine.connect() as connection:
        count, principal = connection.execute(
            select(
                func.coalesce(func.sum(ROLLUPS.c.legacy_count), 0),
                func.coalesce(func.sum(ROLLUPS.c.legacy_volume), 0),
            ).where(
                ROLLUPS.c.period_kind == "year",
                ROLLUPS.c.dimension == "institution_type",
                ROLLUPS.c.retired.is_(False),
            )
        ).one()
        rows = connection.execute(
            select(*_INDEX_SUMMARY)
            .where(LoanIndexRow.legacy, LoanIndexRow.retired.is_(None))
            .order_by(LoanIndexRow.issued_at, LoanIndexRow.record_id)
            .limit(limit)
        ).all()
    return {
        "basis": "anchored, legacy flag set, not revoked or superseded",
        "count": int(count),
        "principal": int(principal),
        "records": [submission_summary(r) for r in rows],
        "truncated": int(count) > len(rows),
    }


def violations(
    db: Database,
    *,
    legacy_limit: int = MAX_PAGE,
    consumer_finance: ConsumerFinancePolicy | None = None,
) -> dict[str, Any]:
    """What the regulator pursues:

    - `proven`: violations proven on chain (indexed `ViolationProven` events): record, batch
      root, gateway, the rule (custom error name and stable code, decoded from the bytes4
      selector, with the error's arguments), reporter, transaction, and whether this gateway
      holds the record;
    - `legacy_awaiting_clearance`: anchored legacy loans (R8) not yet retired: count, principal
      and the first `legacy_limit` of them by (issued_at, record_id);
    - `rejected_at_submission`: loans the gateway rejected, counted by code;
    - `consumer_finance_average`: the consumer-finance companies whose average computed cost of
      new loans in a Beijing-time quarter breaks `consumer_finance` (the portfolio rule, R3).

    `index.last_block` tells how far the event index reaches."""
    if legacy_limit < 0:
        raise InputError("legacy_limit must be 0 or more")
    policy = consumer_finance or ConsumerFinancePolicy()
    with db.session() as s:
        events = list(
            s.execute(
                select(ChainEventRow)
                .where(ChainEventRow.name == "ViolationProven")
                .order_by(ChainEventRow.block_number, ChainEventRow.log_index)
            ).scalars()
        )
        proven: list[dict[str, Any]] = []
        for event in events:
            args = json.loads(event.args_json)
            name, rule = _rule_of(str(args["code"]))
            decoded = decode_custom_error(str(args.get("reason") or "0x"))
            proven.append(
                {
                    "record_id": str(args["recordId"]).lower(),
                    "root": str(args["root"]).lower(),
                    "gateway_id": int(args["gatewayId"]),
                    "code": str(args["code"]),
                    "error": name,
                    "rule": rule,
                    "description": ERROR_CODES[name][1] if name in ERROR_CODES else None,
                    "error_args": _plain(decoded.args) if decoded else None,
                    "reporter": args.get("reporter"),
                    "transaction_hash": event.tx_hash,
                    "block_number": event.block_number,
                    "block_time": event.block_time,
                }
            )
        known: set[str] = set()
        ids = [p["record_id"] for p in proven]
        for start in range(0, len(ids), 500):
            known.update(
                s.execute(
                    select(SubmissionRow.record_id).where(
                        SubmissionRow.record_id.in_(ids[start : start + 500])
                    )
                ).scalars()
            )
        for item in proven:
            item["known_to_gateway"] = item["record_id"] in known
        by_rule: dict[str, int] = {}
        for item in proven:
            by_rule[item["rule"]] = by_rule.get(item["rule"], 0) + 1

        rejected: dict[str | None, int] = {
            code: int(n)
            for code, n in s.execute(
                select(SubmissionRow.rejection_code, func.count())
                .where(SubmissionRow.status == "rejected")
                .group_by(SubmissionRow.rejection_code)
            )
        }
        cursor = s.get(MetaRow, CURSOR_KEY)
    legacy = legacy_stock(db, limit=legacy_limit)
    by_code = {
        str(code or "UNKNOWN"): int(n)
        for code, n in sorted(rejected.items(), key=lambda kv: str(kv[0] or ""))
    }
    return {
        "proven": proven,
        "proven_count": len(proven),
        "proven_by_rule": dict(sorted(by_rule.items())),
        "legacy_awaiting_clearance": legacy,
        "rejected_at_submission": {
            "total": sum(by_code.values()),
            "by_code": by_code,
        },
        "consumer_finance_average": {
            "policy": dataclasses.asdict(policy),
            "basis": "each consumer-finance company's anchored, non-legacy loans per Beijing-time"
            " quarter, at the rates computed from their disclosures",
            "breaches": consumer_finance_breaches(db, policy),
        },
        "index": {"last_block": int(cursor.value) if cursor and cursor.value else None},
    }
