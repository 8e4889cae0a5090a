"""Anchoring the evidence log: its entries go on chain in Merkle batches, so who read which
document, who granted whom access, and what was erased is itself evidence.

A batch is an OpenZeppelin StandardMerkleTree over `(uint256 entry id, bytes32 entry digest)`
(the id makes every root unique and pins the entry's place in the log), anchored with
`EvidenceLedger.anchorEvidenceLog(root, count)` by the gateway's background loop, so no request
waits for the chain. Claiming is optimistic and safe with several gateways on one database: a
gateway marks the unclaimed entries with its root only where they are still unclaimed, and
gives up the round if another gateway took one. A batch claimed but not mined (node away, crash)
is sent again on the next round; a root already on chain is recorded, not sent twice.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import CursorResult, select, update

from ledger.anchoring import EvidenceChain
from ledger.errors import ChainError
from ledger.store import Database, EvidenceLogBatchRow, EvidenceLogRow
from ledger.vault.log import log_tree

__all__ = ["MAX_LOG_BATCH", "LogAnchoring"]

#: entries per batch at most (one `anchorEvidenceLog` transaction of fixed cost each)
MAX_LOG_BATCH = 10_000


class LogAnchoring:
    """One gateway's anchoring of the evidence log."""

    def __init__(
        self,
        db: Database,
        chain: EvidenceChain,
        account: LocalAccount,
        gateway_id: int,
        chain_lock: threading.RLock,
    ) -> None:
        self.db = db
        self.chain = chain
        self.account = account
        self.gateway_id = gateway_id
        self.chain_lock = chain_lock

    def anchor(self, limit: int = MAX_LOG_BATCH) -> int:
        """Sends again this gateway's batches that are not mined, then claims and anchors up to
        `limit` unclaimed entries; returns how many entries it anchored."""
        anchored = self._finish_unmined()
        root, count = self._claim(limit)
        if root is not None:
            self._send(root, count)
            anchored += count
        return anchored

    def _claim(self, limit: int) -> tuple[str | None, int]:
        with self.db.session() as s:
            entries = [
                (int(entry_id), str(digest))
                for entry_id, digest in s.execute(
                    select(EvidenceLogRow.id, EvidenceLogRow.entry_digest)
                    .where(EvidenceLogRow.batch_root.is_(None))
                    .order_by(EvidenceLogRow.id)
                    .limit(limit)
                ).all()
            ]
            if not entries:
                return None, 0
            root = log_tree(entries).root_hex
            result: CursorResult[Any] = s.execute(  # type: ignore[assignment]
                update(EvidenceLogRow)
                .where(
                    EvidenceLogRow.id.in_([entry_id for entry_id, _ in entries]),
                    EvidenceLogRow.batch_root.is_(None),
                )
                .values(batch_root=root)
            )
            claimed = result.rowcount
            if claimed != len(entries):  # another gateway took some: next round
                s.rollback()
                return None, 0
            s.add(
                EvidenceLogBatchRow(
                    root=root,
                    size=len(entries),
                    gateway_id=self.gateway_id,
                    created_at=time.time(),
                )
            )
        return root, len(entries)

    def _finish_unmined(self) -> int:
        with self.db.session() as s:
            waiting = s.execute(
                select(EvidenceLogBatchRow.root, EvidenceLogBatchRow.size).where(
                    EvidenceLogBatchRow.gateway_id == self.gateway_id,
                    EvidenceLogBatchRow.tx_hash.is_(None),
                )
            ).all()
        for root, size in waiting:
            self._send(str(root), int(size))
        return sum(int(size) for _, size in waiting)

    def _send(self, root: str, count: int) -> None:
        raw = bytes.fromhex(root[2:])
        with self.chain_lock:
            if self.chain.evidence_log_anchor(raw) is None:
                tx = self.chain.anchor_evidence_log(self.account, raw, count)
                found = (_hex(tx.transaction_hash), tx.block_number, tx.block_time)
            else:  # sent before a crash, or by a round that failed after mining
                found = self._on_chain(raw)
        with self.db.session() as s:
            s.execute(
                update(EvidenceLogBatchRow)
                .where(EvidenceLogBatchRow.root == root)
                .values(tx_hash=found[0], block_number=found[1], block_time=found[2])
            )

    def _on_chain(self, root: bytes) -> tuple[str, int, int]:
        anchor = self.chain.evidence_log_anchor(root)
        assert anchor is not None
        _, anchored_at, block_number = anchor
        events = self.chain.ledger.events.EvidenceLogAnchored().get_logs(
            from_block=block_number, to_block=block_number, argument_filters={"root": root}
        )
        if not events:
            raise ChainError(f"evidence log {_hex(root)} is anchored but its event is not found")
        return _hex(bytes(events[0]["transactionHash"])), block_number, anchored_at


def _hex(data: bytes) -> str:
    return "0x" + data.hex()
