"""Reporting: the loans a caller may see, the regulator's statistics and violations.

The queries themselves are `ledger.queries` (SQL over the gateway's index); this stage decides
who may ask what (through `access`), keeps the event index current before the answers that
come from it, and measures statistics against the caps of the registry view (no chain read).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import func, select

from ledger.access import Caller, Scope, require_role
from ledger.enums import InstitutionType, Role
from ledger.errors import InputError, NotFound
from ledger.indexer import EventIndexer
from ledger.queries import (
    ConsumerFinancePolicy,
    LoanFilter,
    chain_only_loans,
    list_loans,
    loans_csv,
    stats,
    violations,
)
from ledger.service.registry import RegistryFollower
from ledger.store import BatchRow, Database, SubmissionRow

__all__ = ["Reporting"]


class Reporting:
    def __init__(
        self,
        db: Database,
        registry: RegistryFollower,
        indexer: EventIndexer,
        chain_lock: AbstractContextManager[Any],
        consumer_finance: ConsumerFinancePolicy,
    ) -> None:
        self.db = db
        self.consumer_finance = consumer_finance
        self.registry = registry
        self.indexer = indexer
        self.chain_lock = chain_lock

    def loans(
        self, caller: Caller, flt: LoanFilter, *, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        require_role(caller, Role.REGULATOR)
        return list_loans(self.db, flt, cursor=cursor, limit=limit)

    def own_loans(
        self, caller: Caller, flt: LoanFilter, *, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The loans `caller` may see (`access.Scope`: a platform its own, a funder those it
        funds or co-funds, a credit enhancer those it guarantees, the regulator and auditors
        all), filtered and in keyset pages like the regulator's list."""
        require_role(
            caller, Role.PLATFORM, Role.FUNDER, Role.CREDIT_ENHANCER, Role.REGULATOR, Role.AUDITOR
        )
        return list_loans(self.db, flt, cursor=cursor, limit=limit, caller=caller)

    def batch(self, caller: Caller, root: str) -> dict[str, Any]:
        """An anchored batch: its transaction, block, time and size, and how many of its members
        the caller may see (BATCH_NOT_FOUND for a root this gateway has not anchored: one in
        flight is not anchored yet)."""
        if not re.fullmatch(r"0x[0-9a-f]{64}", root.lower()):
            raise InputError("a batch root is 0x and 64 hex digits", code="INVALID_INPUT")
        with self.db.session() as s:
            row = s.get(BatchRow, root.lower())
            if row is None:
                raise NotFound(f"no anchored batch {root}", code="BATCH_NOT_FOUND")
            visible = s.execute(
                select(func.count()).where(
                    SubmissionRow.batch_root == row.root, Scope.of(caller).clause()
                )
            ).scalar_one()
        return {
            "root": row.root,
            "status": "anchored",
            "transaction_hash": row.tx_hash,
            "block_number": row.block_number,
            "block_time": row.block_time,
            "size": row.size,
            "visible_records": int(visible),
        }

    def loans_csv(self, caller: Caller, flt: LoanFilter) -> Iterator[str]:
        require_role(caller, Role.REGULATOR)
        return loans_csv(self.db, flt)

    def chain_loans(
        self, caller: Caller, *, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        require_role(caller, Role.REGULATOR)
        self.indexer.sync()
        return chain_only_loans(self.db, None, cursor=cursor, limit=limit)

    def caps(self) -> dict[str, int]:
        """The caps statistics measure against: each funder type's cap now, 4 x LPR, 24%."""
        state = self.registry.registry()
        now = max(int(time.time()), self.registry.block_time)
        caps = {
            f"cap_{t.label}": state.rate_cap_at(int(t), now)[1]
            for t in InstitutionType
            if t is not InstitutionType.NONE
        }
        caps["four_times_lpr"] = 4 * state.lpr_at(now)
        caps["24_percent"] = 2400
        return caps

    def statistics(
        self,
        caller: Caller,
        flt: LoanFilter,
        *,
        group_by: str,
        period: str,
        include_retired: bool,
    ) -> dict[str, Any]:
        require_role(caller, Role.REGULATOR)
        return stats(
            self.db,
            group_by=group_by,  # type: ignore[arg-type]
            period=period,  # type: ignore[arg-type]
            caps_bps=self.caps(),
            flt=flt,
            include_retired=include_retired,
            cf_threshold_bps=self.consumer_finance.threshold_bps,
            cf_rule_from=self.consumer_finance.rule_from,
            cf_average=self.consumer_finance.average,
        )

    def violations(self, caller: Caller) -> dict[str, Any]:
        require_role(caller, Role.REGULATOR)
        self.indexer.sync()
        return violations(self.db, consumer_finance=self.consumer_finance)
