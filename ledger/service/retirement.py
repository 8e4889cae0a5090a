"""Retirement: revoking an anchored record, or amending it (superseded by another record).

Signed by the regulator alone (when it calls), or by the record's platform and funder together
(either may call; the gateway must hold both keys). The contract checks the signatures and, for
a batched record, its inclusion proof; the record stays anchored and verifiable, and its
receipts then fail the `status` check.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import update

from ledger.access import Caller
from ledger.analytics import retire_loans
from ledger.anchoring import EvidenceChain
from ledger.chain.client import ContractRevert
from ledger.codes import error_code
from ledger.enums import RetiredAs, Role, SubmissionStatus
from ledger.errors import Conflict, PermissionDenied, RuleViolation
from ledger.records import ZERO32, Retirement
from ledger.service.custody import Custody, GatewayIdentity
from ledger.service.serving import Serving
from ledger.service.stored import signatures_of, signed_loan
from ledger.store import Database, SubmissionRow

__all__ = ["Retirements"]

REGULATOR_ID = 1


class Retirements:
    def __init__(
        self,
        db: Database,
        chain: EvidenceChain,
        custody: Custody,
        identity: GatewayIdentity,
        serving: Serving,
        chain_lock: AbstractContextManager[Any],
    ) -> None:
        self.db = db
        self.chain = chain
        self.custody = custody
        self.identity = identity
        self.serving = serving
        self.chain_lock = chain_lock

    def retire(
        self, caller: Caller, record_id: str, reason_code: int, superseded_by: str | None = None
    ) -> dict[str, Any]:
        """Revokes a record, or amends it (`superseded_by`: the replacing record's id)."""
        row = self.serving.submission(caller, record_id)
        if row.status != SubmissionStatus.ANCHORED.value:
            raise Conflict(
                f"record {record_id} is {row.status}; only anchored records can be retired",
                code="NOT_ANCHORED",
            )
        if caller.role is Role.REGULATOR:
            signer_ids = [REGULATOR_ID]
        elif caller.participant_id in (row.platform_id, row.funder_id):
            signer_ids = [row.platform_id, row.funder_id]
        else:
            raise PermissionDenied(
                "only the regulator or the record's platform and funder retire it",
                code="ROLE_FORBIDDEN",
            )
        signers = []
        for pid in signer_ids:
            signer = self.custody.signer(pid)
            if signer is None:
                raise PermissionDenied(
                    f"participant {pid} keeps its own key: it must sign the retirement",
                    code="NON_CUSTODIAL",
                )
            signers.append(signer)
        loan = signed_loan(
            row.record_json,
            row.record_id,
            signatures_of(row.signatures_json, row.record_id),
            row.document_json,
            row.disclosure_json,
            row.provenance_json,
            row.entry_timestamp_json,
        )
        inclusion: tuple[bytes, bytes, list[bytes]] = (b"\0" * 32, b"\0" * 32, [])
        if row.batch_root is not None:
            inclusion = (
                bytes.fromhex(row.batch_root[2:]),
                loan.signatures_hash,
                [bytes.fromhex(p[2:]) for p in json.loads(row.proof_json or "[]")],
            )
        with self.chain_lock:
            retirement = Retirement(
                record_id=row.record_id,
                superseded_by=(superseded_by or ZERO32).lower(),
                reason_code=reason_code,
                retired_at=self.chain.client.latest_timestamp(),
            )
            try:
                tx = self.chain.retire(
                    self.identity.account, loan.record, retirement, signers, inclusion
                )
            except ContractRevert as exc:
                raise RuleViolation(
                    f"retirement refused: {exc.error_name}{exc.error_args}",
                    code=error_code(exc.error_name),
                ) from exc
        state = RetiredAs.SUPERSEDED if retirement.is_amendment else RetiredAs.REVOKED
        with self.db.session() as s:
            s.execute(
                update(SubmissionRow)
                .where(SubmissionRow.record_id == row.record_id)
                .values(retired=state.value)
            )
            retire_loans(s, [row.record_id], state.value)
        return {
            "record_id": row.record_id,
            "retired": state.value,
            "superseded_by": superseded_by,
            "reason_code": reason_code,
            "transaction_hash": "0x" + tx.transaction_hash.hex(),
            "block_number": tx.block_number,
        }
