"""Sequencing and integration: the durable queue, the batcher, crash recovery, per-record anchors.

- Queued records (every party signed, rules passed, entry timestamp issued) wait in the
  database. The batcher anchors them as one Merkle root every `batch_interval`, or as soon as
  `batch_size` wait, through the one batch-anchoring routine (`EvidenceChain.anchor_batch`).
- Crash-safe: the batch's root and members are written to the database before the transaction
  is sent (`before_send`); after a restart a batch whose root is on chain is finished from the
  chain's record instead of being anchored twice, one that is not goes back to the queue.
- When a batch is anchored, every member's proof is computed once and its whole receipt built
  and stored: serving a receipt is one read.
- Records asked to be anchored by themselves go to `anchorLoan` at once; any left queued (a crash
  between acceptance and the transaction) are sent by the batcher's next round.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import func, insert, select, update

from ledger.analytics import index_anchored
from ledger.anchoring import AnchoredTx, EvidenceChain, SignedLoan
from ledger.enums import Anchoring, SubmissionStatus
from ledger.merkle import StandardMerkleTree
from ledger.receipts import LEAF_TYPES
from ledger.service.config import ServiceConfig
from ledger.service.custody import GatewayIdentity
from ledger.service.metrics import Metrics
from ledger.service.stored import signatures_of, signed_loan
from ledger.store import BatchRow, Database, MetaRow, ReceiptRow, SubmissionRow

__all__ = ["Sequencer"]

IN_FLIGHT_KEY = "in_flight_batch"
#: a per-record row queued this long without its transaction is sent by the batcher
_STRANDED_AFTER_SECONDS = 5.0
#: the batcher looks at the queue at least this often, and at most every `_MIN_POLL_SECONDS`
_IDLE_POLL_SECONDS = 0.25
_MIN_POLL_SECONDS = 0.02

_LOAN_COLUMNS = (
    SubmissionRow.record_id,
    SubmissionRow.record_json,
    SubmissionRow.signatures_json,
    SubmissionRow.document_json,
    SubmissionRow.disclosure_json,
    SubmissionRow.provenance_json,
    SubmissionRow.entry_timestamp_json,
    SubmissionRow.queued_at,
)


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _loan(row: Any) -> SignedLoan:
    return signed_loan(
        row.record_json,
        row.record_id,
        signatures_of(row.signatures_json, row.record_id),
        row.document_json,
        row.disclosure_json,
        row.provenance_json,
        row.entry_timestamp_json,
    )


class Sequencer:
    def __init__(
        self,
        db: Database,
        chain: EvidenceChain,
        identity: GatewayIdentity,
        config: ServiceConfig,
        metrics: Metrics,
        chain_lock: AbstractContextManager[Any],
    ) -> None:
        self.db = db
        self.chain = chain
        self.identity = identity
        self.config = config
        self.metrics = metrics
        self.chain_lock = chain_lock
        self._wake = threading.Event()

    # ------------------------------------------------------------------ the queue

    def pending_count(self) -> int:
        with self.db.session() as s:
            return int(
                s.execute(
                    select(func.count())
                    .select_from(SubmissionRow)
                    .where(SubmissionRow.status == SubmissionStatus.QUEUED.value)
                ).scalar_one()
            )

    def oldest_pending_age(self) -> float:
        with self.db.session() as s:
            oldest = s.execute(
                select(func.min(SubmissionRow.queued_at)).where(
                    SubmissionRow.status == SubmissionStatus.QUEUED.value
                )
            ).scalar_one()
        return 0.0 if oldest is None else max(0.0, time.time() - float(oldest))

    # ------------------------------------------------------------------ batches

    def anchor_pending(self, limit: int | None = None) -> int:
        """Anchors up to `limit` queued batch records as one Merkle root; returns how many."""
        self.recover()
        with self.db.session() as s:
            rows = s.execute(
                select(*_LOAN_COLUMNS)
                .where(
                    SubmissionRow.status == SubmissionStatus.QUEUED.value,
                    SubmissionRow.anchoring == Anchoring.BATCH.value,
                )
                .order_by(SubmissionRow.queued_at)
                .limit(limit or self.config.batch_size)
            ).all()
        if not rows:
            return 0
        loans = [_loan(r) for r in rows]
        queued_at = {r.record_id: r.queued_at for r in rows}

        def remember(tree: StandardMerkleTree) -> None:
            self.db.set_meta(
                IN_FLIGHT_KEY,
                json.dumps({"root": _hex(tree.root), "records": [r.record_id for r in rows]}),
            )

        with self.chain_lock:
            try:
                batch = self.chain.anchor_batch(self.identity.account, loans, before_send=remember)
            except BaseException:
                self.db.set_meta(IN_FLIGHT_KEY, "")
                raise
        self._finish(batch.tree, batch.tx, loans, queued_at)
        return len(loans)

    def recover(self) -> None:
        """Finishes a batch the gateway sent before it stopped, if its root is on chain."""
        raw = self.db.get_meta(IN_FLIGHT_KEY)
        if not raw:
            return
        info = json.loads(raw)
        root = bytes.fromhex(info["root"][2:])
        with self.chain_lock:
            batch = self.chain.client.call(self.chain.ledger.functions.batch(root))
        if int(batch[1]) == 0:  # never reached the chain: the records are still queued
            self.db.set_meta(IN_FLIGHT_KEY, "")
            return
        block_number, block_time = int(batch[2]), int(batch[1])
        with self.chain_lock:
            events = self.chain.ledger.events.BatchAnchored().get_logs(
                from_block=block_number, to_block=block_number, argument_filters={"root": root}
            )
        tx = AnchoredTx(bytes(events[0]["transactionHash"]), block_number, block_time, 0)
        with self.db.session() as s:
            rows = {
                r.record_id: r
                for r in s.execute(
                    select(*_LOAN_COLUMNS).where(SubmissionRow.record_id.in_(info["records"]))
                ).all()
            }
        loans = [_loan(rows[rid]) for rid in info["records"] if rid in rows]
        tree = StandardMerkleTree.of([loan.leaf_values for loan in loans], list(LEAF_TYPES))
        self._finish(tree, tx, loans, {rid: r.queued_at for rid, r in rows.items()})

    def _finish(
        self,
        tree: StandardMerkleTree,
        tx: AnchoredTx,
        loans: Sequence[SignedLoan],
        queued_at: dict[str, float | None],
    ) -> None:
        """Records the batch, each member's proof and receipt, in one transaction."""
        now = time.time()
        root = _hex(tree.root)
        size = len(loans)
        changes: list[dict[str, Any]] = []
        receipts: list[dict[str, Any]] = []
        for index, loan in enumerate(loans):
            record_id = _hex(loan.record_id)
            proof = tree.get_proof(index)
            receipt = self.chain.receipt(loan, tx, (tree.root, proof, size))
            changes.append(
                {
                    "record_id": record_id,
                    "status": SubmissionStatus.ANCHORED.value,
                    "batch_root": root,
                    "proof_json": json.dumps([_hex(p) for p in proof]),
                    "tx_hash": _hex(tx.transaction_hash),
                    "block_number": tx.block_number,
                    "block_time": tx.block_time,
                    "anchored_at": now,
                }
            )
            receipts.append({"record_id": record_id, "receipt_json": receipt.model_dump_json()})
            waited = queued_at.get(record_id)
            if waited:
                self.metrics.anchor_latency.append(now - waited)
        with self.db.session() as s:
            if s.get(BatchRow, root) is None:
                s.add(
                    BatchRow(
                        root=root,
                        tx_hash=_hex(tx.transaction_hash),
                        block_number=tx.block_number,
                        block_time=tx.block_time,
                        size=size,
                        created_at=now,
                    )
                )
            already = set(
                s.execute(
                    select(ReceiptRow.record_id).where(
                        ReceiptRow.record_id.in_([c["record_id"] for c in changes])
                    )
                ).scalars()
            )
            s.execute(update(SubmissionRow), changes)
            index_anchored(s, [c["record_id"] for c in changes])
            fresh = [r for r in receipts if r["record_id"] not in already]
            if fresh:
                s.execute(insert(ReceiptRow), fresh)
            s.merge(MetaRow(key=IN_FLIGHT_KEY, value=""))
        self.metrics.batches += 1
        self.metrics.batch_sizes.append(size)

    def build_receipt(self, record_id: str) -> str | None:
        """Builds and stores the receipt of an anchored record that has none (anchored before
        receipts were stored); None if it is not anchored."""
        with self.db.session() as s:
            row = s.get(SubmissionRow, record_id)
            if row is None or row.status != SubmissionStatus.ANCHORED.value:
                return None
            assert row.tx_hash and row.block_number is not None and row.block_time is not None
            tx = AnchoredTx(bytes.fromhex(row.tx_hash[2:]), row.block_number, row.block_time, 0)
            loan = _loan(row)
            batch = None
            if row.batch_root is not None:
                stored = s.get(BatchRow, row.batch_root)
                proof = [bytes.fromhex(p[2:]) for p in json.loads(row.proof_json or "[]")]
                batch = (bytes.fromhex(row.batch_root[2:]), proof, stored.size if stored else 1)
            text = self.chain.receipt(loan, tx, batch).model_dump_json()
            if s.get(ReceiptRow, record_id) is None:
                s.add(ReceiptRow(record_id=record_id, receipt_json=text))
        return text

    # ------------------------------------------------------------------ records by themselves

    def anchor_records(self, record_ids: Sequence[str]) -> None:
        """`anchorLoan` for each record (the contract checks every rule); a refused record is
        rejected with the rule's code."""
        from ledger.errors import LedgerError

        for record_id in record_ids:
            with self.db.session() as s:
                row = s.execute(
                    select(*_LOAN_COLUMNS).where(SubmissionRow.record_id == record_id)
                ).one_or_none()
            if row is None:
                continue
            loan = _loan(row)
            try:
                with self.chain_lock:
                    tx = self.chain.anchor_loan(self.identity.account, loan)
            except LedgerError as exc:
                self.metrics.count_error(exc.code)
                with self.db.session() as s:
                    s.execute(
                        update(SubmissionRow)
                        .where(SubmissionRow.record_id == record_id)
                        .values(
                            status=SubmissionStatus.REJECTED.value,
                            rejection_code=exc.code,
                            rejection_reason=exc.message,
                        )
                    )
                continue
            receipt = self.chain.receipt(loan, tx)
            with self.db.session() as s:
                s.execute(
                    update(SubmissionRow)
                    .where(SubmissionRow.record_id == record_id)
                    .values(
                        status=SubmissionStatus.ANCHORED.value,
                        tx_hash=_hex(tx.transaction_hash),
                        block_number=tx.block_number,
                        block_time=tx.block_time,
                        anchored_at=time.time(),
                    )
                )
                index_anchored(s, [record_id])
                if s.get(ReceiptRow, record_id) is None:
                    s.add(ReceiptRow(record_id=record_id, receipt_json=receipt.model_dump_json()))

    def _stranded(self) -> list[str]:
        """Per-record rows accepted but never sent (a crash in between)."""
        with self.db.session() as s:
            return list(
                s.execute(
                    select(SubmissionRow.record_id).where(
                        SubmissionRow.status == SubmissionStatus.QUEUED.value,
                        SubmissionRow.anchoring == Anchoring.PER_RECORD.value,
                        SubmissionRow.queued_at < time.time() - _STRANDED_AFTER_SECONDS,
                    )
                ).scalars()
            )

    # ------------------------------------------------------------------ the loop

    def notify(self) -> None:
        """Records joined the queue: the batcher looks now instead of at its next poll."""
        self._wake.set()

    def _batch_queue(self) -> tuple[int, float | None]:
        """How many batch records wait, and when the oldest joined the queue (one query)."""
        with self.db.session() as s:
            count, oldest = s.execute(
                select(func.count(), func.min(SubmissionRow.queued_at)).where(
                    SubmissionRow.status == SubmissionStatus.QUEUED.value,
                    SubmissionRow.anchoring == Anchoring.BATCH.value,
                )
            ).one()
        return int(count), None if oldest is None else float(oldest)

    def run(
        self, stop: threading.Event, on_error: Callable[[Exception], None] | None = None
    ) -> None:
        """Anchors a batch once its oldest record has waited `batch_interval` seconds, or as soon
        as `batch_size` records wait; sends stranded per-record rows every few seconds.

        Woken by `notify` when records are queued here; polls every `_IDLE_POLL_SECONDS` anyway
        (records queued by another gateway over the same database, and `stop`)."""
        next_stranded = 0.0
        while not stop.is_set():
            wait = _IDLE_POLL_SECONDS
            try:
                now = time.time()
                if now >= next_stranded:
                    next_stranded = now + _STRANDED_AFTER_SECONDS / 2
                    stranded = self._stranded()
                    if stranded:
                        self.anchor_records(stranded)
                count, oldest = self._batch_queue()
                if count and oldest is not None:
                    age = now - oldest
                    if (
                        count >= self.config.batch_size or age >= self.config.batch_interval
                    ) and self.anchor_pending():
                        continue
                    wait = min(wait, max(self.config.batch_interval - age, 0.0))
            except Exception as exc:
                if on_error:
                    on_error(exc)
            self._wake.wait(wait)
            self._wake.clear()
            stop.wait(_MIN_POLL_SECONDS)  # a burst of notifications costs one query per period
