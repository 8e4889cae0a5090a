"""Sequencing and integration: the durable queue, the batcher, crash recovery, per-record anchors.

- Queued records (every party signed, rules passed, entry timestamp issued) wait in the
  database. The batcher anchors them as one Merkle root every `batch_interval`, or as soon as
  `batch_size` wait, through the one batch-anchoring routine (`EvidenceChain.anchor_batch`).
- Crash-safe: the batch's root and members are written to the database before the transaction
  is sent (`before_send`); after a restart a batch whose root is on chain is finished from the
  chain's record instead of being anchored twice, one that is not goes back to the queue.
- When a batch is anchored, every member's proof is computed once and its whole receipt built
  and stored: serving a receipt is one read.
- Records asked to be anchored by themselves go to `anchorLoan` at once, unless the node is
  known to be away or the chain is busy: then (and after any failure to reach the node, or a
  crash between acceptance and the transaction) they stay queued and the batcher sends them.
- Admission never waits for the node: while it is away the batcher retries with backoff
  (0.25 s doubling to 4 s), and what was sent but never mined is found again — an in-flight
  batch is kept until its root is on chain at the confirmation depth or provably nowhere
  (nothing of this account in the node's pool, nothing lost left to broadcast again); a
  per-record transaction is looked up on chain before anything is sent again.
- Several gateways may share the queue: a gateway *claims* the records it anchors (one
  `UPDATE … WHERE record_id IN (SELECT … FOR UPDATE SKIP LOCKED)` on PostgreSQL; one write
  statement, hence serialized, on SQLite) for `claim_lease_seconds`. Its in-flight batch is kept
  under its own key; when a gateway dies, another finishes or releases that batch once the lease
  has run out, then takes the records over.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, suppress
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update

from ledger.analytics import index_anchored
from ledger.anchoring import AnchoredTx, EvidenceChain, SignedLoan
from ledger.chain.client import PendingTx, node_unreachable
from ledger.chain.transactions import TxState
from ledger.enums import Anchoring, SubmissionStatus
from ledger.errors import (
    ChainError,
    ChainUnavailable,
    DatabaseUnavailable,
    RuleViolation,
    SignatureError,
)
from ledger.merkle import StandardMerkleTree
from ledger.receipts import LEAF_TYPES
from ledger.service.config import ServiceConfig
from ledger.service.custody import GatewayIdentity
from ledger.service.metrics import Metrics
from ledger.service.stored import signatures_of, signed_loan
from ledger.store import BatchRow, Database, MetaRow, ReceiptRow, SubmissionRow
from ledger.vault.anchoring import LogAnchoring

__all__ = ["Sequencer"]

log = logging.getLogger("ledger.service.sequencing")

#: MetaRow key prefix of a gateway's in-flight batch (`in_flight_batch:<gateway id>`; the bare
#: prefix is a single gateway's key from before gateways shared a database)
IN_FLIGHT_KEY = "in_flight_batch"
#: how far back (blocks) the batcher looks for batches a reorganization moved or dropped
REORG_WINDOW_BLOCKS = 256
#: how often it looks (seconds)
_REORG_CHECK_SECONDS = 5.0
#: a per-record row queued this long without its transaction is sent by the batcher
_STRANDED_AFTER_SECONDS = 5.0
#: the batcher looks at the queue at least this often, and at most every `_MIN_POLL_SECONDS`
_IDLE_POLL_SECONDS = 0.25
_MIN_POLL_SECONDS = 0.02
#: after a failed round the batcher waits this long, doubled per failure up to `_BACKOFF_MOST`
_BACKOFF_FIRST = 0.25
_BACKOFF_MOST = 4.0
#: a request sending its per-record anchor waits at most this long for the chain (another
#: transaction in progress); past it the record stays queued and the batcher sends it
_INLINE_LOCK_SECONDS = 1.0
#: per-record anchors sent (then waited for) in one round at most
_RECORDS_PER_ROUND = 100
#: how often the batcher asks the node its chain id (and whether it answers)
_PROBE_SECONDS = 1.0

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
        self._resynced = False  # the transaction log replayed to the node (once, at start)
        #: the node did not answer the last time it was asked (or is another chain): requests
        #: leave their per-record anchors to the batcher instead of waiting for it
        self.node_away = False
        #: per-record rows a request left to the batcher (sent at its next round)
        self._deferred: set[str] = set()
        self._deferred_lock = threading.Lock()
        #: claims a failed round could not give up (the database was away): given up first at
        #: the next round, instead of holding the records until their lease runs out
        self._unreleased: set[str] = set()
        self._unreleased_lock = threading.Lock()
        #: anchors the evidence log in the same loop, every `batch_interval` (set by the Service)
        self.log_anchoring: LogAnchoring | None = None

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

    @property
    def _gateway(self) -> int:
        return self.identity.participant_id

    @property
    def _in_flight_key(self) -> str:
        return f"{IN_FLIGHT_KEY}:{self._gateway}"

    def _claimable(self, now: float) -> Any:
        """Queued rows no live claim holds."""
        return and_(
            SubmissionRow.status == SubmissionStatus.QUEUED.value,
            or_(SubmissionRow.claimed_until.is_(None), SubmissionRow.claimed_until < now),
        )

    def _claim(self, *conditions: Any, limit: int) -> list[str]:
        """Claims up to `limit` claimable queued rows matching `conditions`, oldest first, for
        this gateway's lease; returns their ids. Rows another gateway holds are skipped."""
        now = time.time()
        candidates = (
            select(SubmissionRow.record_id)
            .where(self._claimable(now), *conditions)
            .order_by(SubmissionRow.queued_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.db.session() as s:
            claimed = s.execute(
                update(SubmissionRow)
                .where(SubmissionRow.record_id.in_(candidates.scalar_subquery()))
                .values(
                    claimed_by=self._gateway, claimed_until=now + self.config.claim_lease_seconds
                )
                .returning(SubmissionRow.record_id)
                .execution_options(synchronize_session=False)
            ).scalars()
            return list(claimed)

    def _give_up(self, record_ids: Sequence[str]) -> None:
        """Releases this gateway's claims after a failed attempt; if the database refuses that
        too, they are remembered and released by the next round (`_release_given_up`)."""
        try:
            self._release(record_ids)
        except DatabaseUnavailable:
            with self._unreleased_lock:
                self._unreleased.update(record_ids)

    def _release_given_up(self) -> None:
        with self._unreleased_lock:
            pending, self._unreleased = sorted(self._unreleased), set()
        if pending:
            try:
                self._release(pending)
            except BaseException:
                with self._unreleased_lock:
                    self._unreleased.update(pending)
                raise

    def _release(self, record_ids: Sequence[str], gateway: int | None = None) -> None:
        """Gives up the claim of `gateway` (this one by default) on rows still queued."""
        with self.db.session() as s:
            s.execute(
                update(SubmissionRow)
                .where(
                    SubmissionRow.record_id.in_(list(record_ids)),
                    SubmissionRow.claimed_by == (self._gateway if gateway is None else gateway),
                )
                .values(claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False)
            )

    # ------------------------------------------------------------------ batches

    def anchor_pending(self, limit: int | None = None) -> int:
        """Anchors up to `limit` queued batch records as one Merkle root; returns how many.
        Nothing while this gateway's previous batch is still undecided (sent, not yet mined at
        the confirmation depth, or the node away): one batch in flight per gateway."""
        if not self.recover():
            return 0
        ids = self._claim(
            SubmissionRow.anchoring == Anchoring.BATCH.value,
            limit=limit or self.config.batch_size,
        )
        if not ids:
            return 0
        with self.db.session() as s:
            rows = s.execute(
                select(*_LOAN_COLUMNS)
                .where(SubmissionRow.record_id.in_(ids))
                .order_by(SubmissionRow.queued_at, SubmissionRow.record_id)
            ).all()
        loans = [_loan(r) for r in rows]
        queued_at = {r.record_id: r.queued_at for r in rows}

        remembered = []  # the batch was recorded as in flight: its transaction may be sent

        def remember(tree: StandardMerkleTree) -> None:
            self.db.set_meta(
                self._in_flight_key,
                json.dumps(
                    {
                        "root": _hex(tree.root),
                        "records": [r.record_id for r in rows],
                        "gateway": self._gateway,
                        "until": time.time() + self.config.claim_lease_seconds,
                    }
                ),
            )
            remembered.append(True)

        sent: list[bool] = []

        def before_send(tree: StandardMerkleTree) -> None:
            remember(tree)
            sent.append(True)

        with self.chain_lock:
            try:
                batch = self.chain.anchor_batch(
                    self.identity.account, loans, before_send=before_send
                )
            except BaseException as exc:
                if sent and not isinstance(exc, RuleViolation | SignatureError):
                    # it may have reached the node (or been mined) before the failure: the
                    # batch stays in flight, with its claims, for `recover` to decide
                    raise
                # Nothing was sent. If the batch was recorded in flight and the database now
                # refuses to clear it, its records stay claimed: `recover` looks for its root
                # on chain first, and finishes or releases them.
                cleared = not remembered
                if remembered:
                    with suppress(DatabaseUnavailable):
                        self.db.set_meta(self._in_flight_key, "")
                        cleared = True
                if cleared:
                    self._give_up(ids)
                raise
        self._finish(batch.tree, batch.tx, loans, queued_at, self._in_flight_key)
        return len(loans)

    def resume(self) -> None:
        """At start: this gateway's batch in flight when it stopped is finished or released, and
        any record it still claims goes back to the queue (a new process holds nothing), so a
        restarted gateway does not wait for its own lease to run out — except the members of its
        batch still undecided (sent, not yet found on chain at the confirmation depth)."""
        keep: list[str] = []
        if not self.recover():
            raw = self.db.get_meta(self._in_flight_key)
            keep = list(json.loads(raw)["records"]) if raw else []
        with self.db.session() as s:
            s.execute(
                update(SubmissionRow)
                .where(
                    SubmissionRow.claimed_by == self._gateway,
                    SubmissionRow.status == SubmissionStatus.QUEUED.value,
                    SubmissionRow.record_id.not_in(keep),
                )
                .values(claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False)
            )

    def recover(self) -> bool:
        """Finishes the batch this gateway sent before it stopped (or before the node went
        away), and any of another gateway's whose lease ran out, if its root is on chain at the
        confirmation depth; releases its records if it is provably nowhere. Returns False while
        this gateway's own batch is still undecided."""
        if not self._resynced:
            # first, what the node lost of this account's transactions (a restart) goes back
            # and is mined: an anchoring sent before a crash is then seen on chain below
            with self.chain_lock:
                self.chain.client.transactions.resync(self.identity.account)
            self._resynced = True
        now = time.time()
        with self.db.session() as s:
            stored = s.execute(
                select(MetaRow.key, MetaRow.value).where(
                    or_(MetaRow.key == IN_FLIGHT_KEY, MetaRow.key.like(f"{IN_FLIGHT_KEY}:%"))
                )
            ).all()
        decided = True
        for key, raw in stored:
            if not raw:
                continue
            info = json.loads(raw)
            mine = key in (IN_FLIGHT_KEY, self._in_flight_key)
            if (mine or float(info.get("until", 0)) < now) and not self._recover_batch(
                key, info, mine=mine
            ):
                decided = decided and not mine
        return decided

    def _recover_batch(self, key: str, info: dict[str, Any], *, mine: bool) -> bool:
        """Finishes or releases one in-flight batch; False if it cannot be decided yet."""
        root = bytes.fromhex(info["root"][2:])
        with self.chain_lock:
            tx = self.chain.batch_anchor(root)
            if tx is None and mine and self._still_in_flight(root):
                return False  # the node holds (or was given back) this account's transactions
            if tx is not None and not self._deep_enough(tx.block_number):
                return False
        if tx is None:  # never reached the chain: the records are still queued
            with self.db.session() as s:
                s.merge(MetaRow(key=key, value=""))
            self._release(info["records"], int(info.get("gateway", self._gateway)))
            return True
        with self.db.session() as s:
            rows = {
                r.record_id: r
                for r in s.execute(
                    select(*_LOAN_COLUMNS).where(SubmissionRow.record_id.in_(info["records"]))
                ).all()
            }
        loans = [_loan(rows[rid]) for rid in info["records"] if rid in rows]
        tree = StandardMerkleTree.of([loan.leaf_values for loan in loans], list(LEAF_TYPES))
        self._finish(tree, tx, loans, {rid: r.queued_at for rid, r in rows.items()}, key)
        return True

    def _still_in_flight(self, root: bytes) -> bool:
        """Whether a transaction anchoring `root` may still be mined: an attempt in the
        transaction log (its calldata holds the root) at a nonce the chain has not mined yet,
        that the node did not refuse. The node is given back what it lost first (a restart
        emptied its pool, a rollback), so that such an attempt is mined or refused, not kept
        waiting; an attempt the node refuses is marked dropped and the batch released next."""
        client = self.chain.client
        account = self.identity.account
        mined = int(client.w3.eth.get_transaction_count(account.address, "latest"))
        waiting = [
            attempt
            for attempt in client.transactions.store.attempts(account.address.lower(), mined)
            if attempt.state not in (TxState.FAILED, TxState.DROPPED) and root in attempt.raw
        ]
        if waiting:
            client.transactions.resync(account)
        return bool(waiting)

    def _deep_enough(self, block_number: int) -> bool:
        """Whether `block_number` has the confirmation depth under the head."""
        depth = self.chain.client.policy.confirmations
        return depth == 0 or int(self.chain.client.w3.eth.block_number) >= block_number + depth

    def _finish(
        self,
        tree: StandardMerkleTree,
        tx: AnchoredTx,
        loans: Sequence[SignedLoan],
        queued_at: dict[str, float | None],
        in_flight_key: str,
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
                    "claimed_by": None,
                    "claimed_until": None,
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
            s.merge(MetaRow(key=in_flight_key, value=""))
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

    # ------------------------------------------------------------------ reorganizations

    def check_anchors(self) -> int:
        """Re-anchors the batches of the last `REORG_WINDOW_BLOCKS` blocks whose transaction a
        reorganization took off the chain, and rebuilds the receipts of those it moved to another
        block or transaction; returns how many batches changed.

        One `eth_getLogs` of `BatchAnchored` events over the window when nothing changed. A
        batch of this gateway (its transaction is in the transaction log) missing from it is
        looked up (`batch(root)`); if the chain has it no more, this account's dropped
        transactions are first broadcast again (the original
        `anchorBatch` usually is one, and is mined again as it was), and only a root still
        missing after that is anchored by a new transaction. Proofs do not change (same tree).
        Per-record anchors are checked alike (`_check_loans`)."""
        client = self.chain.client
        with self.chain_lock:
            head = int(client.w3.eth.block_number)
        return self._check_batches(head) + self._check_loans(head)

    def _check_batches(self, head: int) -> int:
        client = self.chain.client
        with self.db.session() as s:
            stored = s.execute(
                select(BatchRow.root, BatchRow.tx_hash, BatchRow.block_number, BatchRow.size).where(
                    BatchRow.block_number > head - REORG_WINDOW_BLOCKS
                )
            ).all()
        if not stored:
            return 0
        lowest = min(int(b.block_number) for b in stored)
        own = self.identity.account.address.lower()
        with self.chain_lock:
            seen = self.chain.anchored_roots(min(lowest, head))
        changed = 0
        for row in stored:
            root = bytes.fromhex(row.root[2:])
            found = seen.get(root)
            if (
                found is not None
                and found.block_number == row.block_number
                and _hex(found.transaction_hash) == row.tx_hash
            ):
                continue
            sent = client.transactions.store.get(row.tx_hash)
            if found is None and (sent is None or sent.account != own):
                continue  # another gateway's batch (one database): that gateway re-anchors it
            with self.chain_lock:
                tx = self.chain.batch_anchor(root)
                if tx is None:
                    client.transactions.resync(self.identity.account)
                    tx = self.chain.batch_anchor(root)
                if tx is None:
                    tx = self.chain.reanchor_batch(self.identity.account, root, int(row.size))
                    self.metrics.count_error("BATCH_REANCHORED")
            log.warning(
                "batch moved by a reorganization: receipts rebuilt",
                extra={
                    "fields": {
                        "root": row.root,
                        "old_tx": row.tx_hash,
                        "new_tx": _hex(tx.transaction_hash),
                        "block": tx.block_number,
                    }
                },
            )
            self._moved(row.root, tx)
            changed += 1
        return changed

    def _moved(self, root: str, tx: AnchoredTx) -> None:
        """The batch of `root` is now in `tx`: its row, its members' anchors and receipts."""
        with self.db.session() as s:
            batch = s.get(BatchRow, root)
            if batch is None:
                return
            batch.tx_hash = _hex(tx.transaction_hash)
            batch.block_number = tx.block_number
            batch.block_time = tx.block_time
            members = s.execute(
                select(*_LOAN_COLUMNS, SubmissionRow.proof_json).where(
                    SubmissionRow.batch_root == root
                )
            ).all()
            for member in members:
                proof = [bytes.fromhex(p[2:]) for p in json.loads(member.proof_json or "[]")]
                receipt = self.chain.receipt(
                    _loan(member), tx, (bytes.fromhex(root[2:]), proof, batch.size)
                )
                s.execute(
                    update(SubmissionRow)
                    .where(SubmissionRow.record_id == member.record_id)
                    .values(
                        tx_hash=_hex(tx.transaction_hash),
                        block_number=tx.block_number,
                        block_time=tx.block_time,
                    )
                )
                s.merge(
                    ReceiptRow(record_id=member.record_id, receipt_json=receipt.model_dump_json())
                )

    # ------------------------------------------------------------------ records by themselves

    def anchor_records_now(self, record_ids: Sequence[str]) -> None:
        """A request's per-record anchors: sent at once if the node answers and the chain is
        free within `_INLINE_LOCK_SECONDS`; else, or if the node fails meanwhile, the records
        stay queued and the batcher sends them (the request never fails for the node)."""
        if not record_ids:
            return
        if self.node_away or not self._lock(_INLINE_LOCK_SECONDS):
            self._defer(record_ids)
            return
        try:
            self.anchor_records(record_ids)
        except Exception as exc:
            if not (node_unreachable(exc) or isinstance(exc, ChainError)):
                raise
            self.node_away = self.node_away or node_unreachable(exc)
            self._defer(record_ids)
        finally:
            self.chain_lock.__exit__(None, None, None)

    def _lock(self, timeout: float) -> bool:
        """Takes the chain lock within `timeout` seconds (released with `__exit__`)."""
        acquire = getattr(self.chain_lock, "acquire", None)
        if acquire is None:
            self.chain_lock.__enter__()
            return True
        return bool(acquire(timeout=timeout))

    def _defer(self, record_ids: Sequence[str]) -> None:
        with self._deferred_lock:
            self._deferred.update(record_ids)
        self.notify()

    def _take_deferred(self) -> list[str]:
        with self._deferred_lock:
            taken, self._deferred = sorted(self._deferred), set()
        return taken

    def anchor_records(self, record_ids: Sequence[str]) -> None:
        """`anchorLoan` for each record this gateway can claim (at most
        `_RECORDS_PER_ROUND`; the contract checks every rule): all are sent first, then waited
        for, so they share blocks. A record the contract refuses by a rule is rejected with the
        rule's code; one found anchored already (sent before a crash or an outage) is finished
        from the chain. Any other failure leaves the record queued (released) for a later
        round; a node that does not answer stops the round (`ChainUnavailable`)."""
        if not record_ids:
            return
        claimed = self._claim(
            SubmissionRow.record_id.in_(list(record_ids)),
            SubmissionRow.anchoring == Anchoring.PER_RECORD.value,
            limit=min(len(record_ids), _RECORDS_PER_ROUND),
        )
        with self.db.session() as s:
            loans = {
                r.record_id: _loan(r)
                for r in s.execute(
                    select(*_LOAN_COLUMNS).where(SubmissionRow.record_id.in_(claimed))
                ).all()
            }
        sent: list[tuple[str, PendingTx]] = []
        try:
            for record_id, loan in loans.items():
                try:
                    with self.chain_lock:
                        sent.append((record_id, self.chain.send_loan(self.identity.account, loan)))
                except Exception as exc:
                    self._not_anchored(record_id, loan, exc)
            for record_id, pending in sent:
                loan = loans[record_id]
                try:
                    with self.chain_lock:
                        tx = self.chain.settle_loan(pending)
                except Exception as exc:
                    self._not_anchored(record_id, loan, exc)
                    continue
                self._anchored_alone(record_id, loan, tx, first=True)
        finally:
            self._give_up(claimed)  # those still queued (anchored ones are not claimed)

    def _not_anchored(self, record_id: str, loan: SignedLoan, exc: Exception) -> None:
        """A per-record anchor that failed: anchored after all (an earlier transaction of it
        is on chain, at the confirmation depth), rejected (a rule), or left queued; re-raises
        what is not the chain's (a bug) and `ChainUnavailable` for a node that does not
        answer."""
        if not node_unreachable(exc):
            try:
                with self.chain_lock:
                    tx = self._anchored_earlier(loan, exc)
            except Exception as again:
                exc = again
            else:
                if tx is not None:
                    self._anchored_alone(record_id, loan, tx, first=True)
                    return
        if isinstance(exc, RuleViolation | SignatureError):
            self.metrics.count_error(exc.code)
            with self.db.session() as s:
                s.execute(
                    update(SubmissionRow)
                    .where(SubmissionRow.record_id == record_id)
                    .values(
                        status=SubmissionStatus.REJECTED.value,
                        rejection_code=exc.code,
                        rejection_reason=exc.message,
                        claimed_by=None,
                        claimed_until=None,
                    )
                )
            return
        if node_unreachable(exc):
            self.metrics.count_error(ChainUnavailable.code)
            raise ChainUnavailable(f"the node does not answer: {exc}"[:300]) from exc
        if not isinstance(exc, ChainError):
            raise exc
        self.metrics.count_error(exc.code)
        log.warning(
            "per-record anchor not done this round: it stays queued",
            extra={"fields": {"record_id": record_id, "error": str(exc)[:300]}},
        )

    def _anchored_alone(
        self, record_id: str, loan: SignedLoan, tx: AnchoredTx, *, first: bool
    ) -> None:
        """Records a per-record anchor (or, `first` false, where a reorganization moved it)."""
        receipt = self.chain.receipt(loan, tx).model_dump_json()
        values: dict[str, Any] = {
            "tx_hash": _hex(tx.transaction_hash),
            "block_number": tx.block_number,
            "block_time": tx.block_time,
        }
        if first:
            values.update(
                status=SubmissionStatus.ANCHORED.value,
                anchored_at=time.time(),
                claimed_by=None,
                claimed_until=None,
            )
        with self.db.session() as s:
            s.execute(
                update(SubmissionRow).where(SubmissionRow.record_id == record_id).values(**values)
            )
            index_anchored(s, [record_id])
            if first and s.get(ReceiptRow, record_id) is not None:
                return
            s.merge(ReceiptRow(record_id=record_id, receipt_json=receipt))

    def _anchor_once(self, loan: SignedLoan) -> AnchoredTx:
        """`anchorLoan`, or the transaction that anchored the record already."""
        try:
            return self.chain.anchor_loan(self.identity.account, loan)
        except Exception as exc:
            found = None if node_unreachable(exc) else self._anchored_earlier(loan, exc)
            if found is None:
                raise
            return found

    def _anchored_earlier(self, loan: SignedLoan, failure: Exception) -> AnchoredTx | None:
        """After `anchorLoan` failed with `failure` (refused as a duplicate, reverted on chain,
        timed out...): the transaction that anchored the record before (sent before a crash or
        an outage, perhaps under another nonce), if it is on chain; `ChainError` if it is not
        yet at the confirmation depth. None for a rule the record breaks."""
        if (
            isinstance(failure, RuleViolation | SignatureError)
            and failure.code != "DUPLICATE_RECORD"
        ):
            return None
        found = self._anchored_before(loan.record_id)
        if found is not None and not self._deep_enough(found.block_number):
            raise ChainError(
                f"record {_hex(loan.record_id)} is on chain in block {found.block_number},"
                " not yet at the confirmation depth"
            ) from failure
        return found

    def _anchored_before(
        self, record_id: bytes, from_block: int | None = None
    ) -> AnchoredTx | None:
        """The `LoanAnchored` transaction of a record already on chain, if it is."""
        state = self.chain.client.call(self.chain.ledger.functions.recordState(record_id))
        if int(state[1]) == 0:
            return None
        events = self.chain.ledger.events.LoanAnchored().get_logs(
            from_block=self.chain.deployment.block_number if from_block is None else from_block,
            argument_filters={"recordId": record_id},
        )
        if not events:
            return None
        found = events[-1]
        block = self.chain.client.w3.eth.get_block(found["blockNumber"])
        return AnchoredTx(
            bytes(found["transactionHash"]), int(found["blockNumber"]), int(block["timestamp"]), 0
        )

    def _check_loans(self, head: int) -> int:
        """The per-record anchors of the last `REORG_WINDOW_BLOCKS` blocks against the chain's
        `LoanAnchored` events (one `eth_getLogs`): one that moved gets its anchor and receipt
        rebuilt; one of this gateway's the chain has no more (a reorganization, a node rolled
        back) is broadcast again from the transaction log, and sent anew only if still missing.
        Returns how many changed."""
        client = self.chain.client
        with self.db.session() as s:
            stored = s.execute(
                select(
                    SubmissionRow.record_id, SubmissionRow.tx_hash, SubmissionRow.block_number
                ).where(
                    SubmissionRow.status == SubmissionStatus.ANCHORED.value,
                    SubmissionRow.anchoring == Anchoring.PER_RECORD.value,
                    SubmissionRow.batch_root.is_(None),
                    SubmissionRow.block_number > head - REORG_WINDOW_BLOCKS,
                )
            ).all()
        if not stored:
            return 0
        lowest = min(min(int(r.block_number) for r in stored), head)
        with self.chain_lock:
            events = self.chain.ledger.events.LoanAnchored().get_logs(
                from_block=max(0, lowest), to_block="latest"
            )
        seen = {
            _hex(bytes(e["args"]["recordId"])): (
                _hex(bytes(e["transactionHash"])),
                int(e["blockNumber"]),
            )
            for e in events
        }
        own = self.identity.account.address.lower()
        changed = 0
        for row in stored:
            if seen.get(row.record_id) == (row.tx_hash, int(row.block_number)):
                continue
            sent = client.transactions.store.get(row.tx_hash)
            if row.record_id not in seen and (sent is None or sent.account != own):
                continue  # another gateway's anchor (one database): that gateway sends it again
            with self.db.session() as s:
                loan = _loan(
                    s.execute(
                        select(*_LOAN_COLUMNS).where(SubmissionRow.record_id == row.record_id)
                    ).one()
                )
            with self.chain_lock:
                tx = self._anchored_before(loan.record_id, lowest)
                if tx is None:
                    client.transactions.resync(self.identity.account)
                    tx = self._anchored_before(loan.record_id, lowest)
                if tx is None:
                    tx = self._anchor_once(loan)
                    self.metrics.count_error("RECORD_REANCHORED")
                if not self._deep_enough(tx.block_number):
                    continue  # mined again, not yet deep enough: looked at next time
            log.warning(
                "per-record anchor moved by a reorganization: receipt rebuilt",
                extra={
                    "fields": {
                        "record_id": row.record_id,
                        "old_tx": row.tx_hash,
                        "new_tx": _hex(tx.transaction_hash),
                        "block": tx.block_number,
                    }
                },
            )
            self._anchored_alone(row.record_id, loan, tx, first=False)
            changed += 1
        return changed

    def _stranded(self) -> list[str]:
        """Per-record rows accepted but never sent and claimed by no live gateway (a crash)."""
        now = time.time()
        with self.db.session() as s:
            return list(
                s.execute(
                    select(SubmissionRow.record_id).where(
                        self._claimable(now),
                        SubmissionRow.anchoring == Anchoring.PER_RECORD.value,
                        SubmissionRow.queued_at < now - _STRANDED_AFTER_SECONDS,
                    )
                ).scalars()
            )

    # ------------------------------------------------------------------ the loop

    def probe(self) -> None:
        """Asks the node its chain id: `ChainUnavailable` if it does not answer,
        `ChainIdMismatch` if it is another chain than the deployment's (nothing is then read
        from it or sent to it); `node_away` says how it went."""
        try:
            with self.chain_lock:  # the in-process chain is not thread-safe
                self.chain.client.require_chain_id(self.chain.deployment.chain_id)
        except ChainUnavailable:
            self.node_away = True
            raise
        self.node_away = False

    def _defer_on_failure(self, record_ids: list[str], send: Callable[[list[str]], None]) -> None:
        """`send(record_ids)`; those still queued go back to the deferred set if it fails."""
        try:
            send(record_ids)
        except BaseException:
            self._defer(record_ids)
            raise

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
        as `batch_size` records wait; sends the per-record rows requests left to it at once and
        stranded ones every few seconds; checks the node's chain id every `_PROBE_SECONDS` (and
        every round while it is away) and backs off after a failed round.

        Woken by `notify` when records are queued here; polls every `_IDLE_POLL_SECONDS` anyway
        (records queued by another gateway over the same database, and `stop`). A failed round
        (node or database away) is reported to `on_error` and followed by a wait that doubles up
        to `_BACKOFF_MOST`; the loop never ends but by `stop`."""
        next_stranded = 0.0
        next_log = 0.0
        next_reorg_check = time.time() + _REORG_CHECK_SECONDS
        next_probe = 0.0
        failures = 0
        while not stop.is_set():
            wait = _IDLE_POLL_SECONDS
            try:
                self._release_given_up()
                now = time.time()
                if self.node_away or now >= next_probe:
                    next_probe = now + _PROBE_SECONDS
                    was_away = self.node_away
                    self.probe()
                    if was_away:  # back: what it lost (a restart, a rollback) is looked for now
                        next_reorg_check = now
                if now >= next_reorg_check:
                    next_reorg_check = now + _REORG_CHECK_SECONDS
                    try:
                        self.check_anchors()
                    except Exception as exc:  # reported; it must not hold the queue up
                        if node_unreachable(exc):
                            raise
                        if on_error:
                            on_error(exc)
                deferred = self._take_deferred()
                if deferred:
                    self._defer_on_failure(deferred, self.anchor_records)
                if now >= next_stranded:
                    next_stranded = now + _STRANDED_AFTER_SECONDS / 2
                    stranded = self._stranded()
                    if stranded:
                        self.anchor_records(stranded)
                if self.log_anchoring is not None and now >= next_log:
                    next_log = now + self.config.batch_interval
                    self.log_anchoring.anchor()
                count, oldest = self._batch_queue()
                if count and oldest is not None:
                    age = now - oldest
                    if (
                        count >= self.config.batch_size or age >= self.config.batch_interval
                    ) and self.anchor_pending():
                        failures = 0
                        continue
                    wait = min(wait, max(self.config.batch_interval - age, 0.0))
                failures = 0
            except Exception as exc:
                failures += 1
                if node_unreachable(exc):
                    self.node_away = True
                # back off: a node or database away is asked again at 0.25 s, 0.5 s, ... 4 s,
                # not at 10 Hz
                wait = min(_BACKOFF_FIRST * 2 ** (failures - 1), _BACKOFF_MOST)
                if on_error:
                    on_error(exc)
                if stop.wait(wait):  # not woken by `notify`: a new record does not end an outage
                    break
                continue
            self._wake.wait(wait)
            self._wake.clear()
            stop.wait(_MIN_POLL_SECONDS)  # a burst of notifications costs one query per period
