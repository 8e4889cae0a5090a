"""Anchoring records on the chain and turning anchors into receipts.

`EvidenceChain` binds a `ChainClient` to one deployment and offers what funders, platforms,
gateways and the regulator do: register and whitelist participants, sign loan records, anchor
them per record (the contract checks every rule) or as Merkle batches, retire them, and build
the receipt of each anchored record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.types import TxReceipt

from ledger.chain.client import ChainClient, ContractRevert, PendingTx
from ledger.chain.deploy import Deployment
from ledger.codes import error_for
from ledger.eip712 import Domain, loan_record_id, retirement_digest, signatures_hash, typed_data
from ledger.enums import InstitutionType, Role
from ledger.errors import ChainError, InputError
from ledger.merkle import StandardMerkleTree, leaf_hash
from ledger.receipts import (
    LEAF_TYPES,
    Anchor,
    DocumentRef,
    Leaf,
    PartySignature,
    Provenance,
    Receipt,
    Unsigned,
    metadata_digest,
)
from ledger.records import LoanRecord, Retirement
from ledger.signing import Signer
from ledger.timestamps import EntryPromise, GatewayKey, SignedEntryTimestamp

__all__ = ["AnchoredTx", "BatchAnchor", "EvidenceChain", "SignedLoan"]

ZERO32 = b"\0" * 32
#: `anchorBatch` writes one batch and a counter whatever the batch size: ~67,000 gas, ~84,000
#: for a gateway's very first batch (docs/gas-report.md). A fixed limit spares an estimate (a
#: binary search of the transaction, 13 runs on the embedded chain) per batch.
_BATCH_GAS = 120_000


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


@dataclass(frozen=True)
class SignedLoan:
    """A loan record with every party's signature, ready to anchor."""

    record: LoanRecord
    record_id: bytes
    signatures: tuple[bytes, ...]
    signers: tuple[str, ...]
    document: DocumentRef
    disclosure: Mapping[str, Any] | None = None
    provenance: Provenance | None = None
    entry_timestamp: SignedEntryTimestamp | None = None
    document_location: str | None = None

    @property
    def signatures_hash(self) -> bytes:
        return signatures_hash(list(self.signatures))

    @property
    def leaf_values(self) -> list[str]:
        return [_hex(self.record_id), _hex(self.signatures_hash)]

    def promise(
        self,
        gateway_key: GatewayKey,
        gateway_id: int,
        domain: Domain,
        accepted_at: int,
        deadline_seconds: int,
    ) -> SignedEntryTimestamp:
        """The gateway's signed entry timestamp for this loan: its promise to anchor it (record,
        leaf, provenance and document metadata) by `accepted_at + deadline_seconds`."""
        return gateway_key.sign(
            EntryPromise(
                gateway_id=gateway_id,
                chain_id=domain.chain_id,
                ledger=domain.verifying_contract,
                record_id=_hex(self.record_id),
                leaf_hash=_hex(leaf_hash(LEAF_TYPES, self.leaf_values)),
                accepted_at=accepted_at,
                anchor_deadline=accepted_at + deadline_seconds,
                metadata_digest=metadata_digest(self.provenance, self.document),
            )
        )


@dataclass(frozen=True)
class AnchoredTx:
    """A mined anchoring transaction."""

    transaction_hash: bytes
    block_number: int
    block_time: int
    gas_used: int


@dataclass(frozen=True)
class BatchAnchor:
    """A batch anchored as one Merkle root."""

    tree: StandardMerkleTree
    tx: AnchoredTx
    loans: tuple[SignedLoan, ...]

    @property
    def root(self) -> bytes:
        return self.tree.root


def _roles(record: LoanRecord) -> list[str]:
    return [slot for _, slot in record.signer_slots()]


class EvidenceChain:
    """The contracts of one deployment, through one client."""

    def __init__(self, client: ChainClient, deployment: Deployment) -> None:
        self.client = client
        self.deployment = deployment
        self.registry: Contract = client.contract("ParticipantRegistry", deployment.registry)
        self.ledger: Contract = client.contract("EvidenceLedger", deployment.ledger)
        self.domain = Domain(deployment.chain_id, deployment.ledger)

    # ------------------------------------------------------------------ registry

    def register_participant(
        self,
        regulator: LocalAccount,
        role: Role,
        signer_address: str,
        name: str,
        institution_type: InstitutionType = InstitutionType.NONE,
        ed25519_public_key: bytes = ZERO32,
    ) -> int:
        """Registers a participant; returns its id."""
        receipt = self.client.transact(
            regulator,
            self.registry.functions.registerParticipant(
                int(role), int(institution_type), signer_address, ed25519_public_key, name
            ),
        )
        events = self.registry.events.ParticipantRegistered().process_receipt(receipt)
        return int(events[0]["args"]["participantId"])

    def whitelist(
        self, funder: LocalAccount, partner_id: int, effective_from: int = 0
    ) -> TxReceipt:
        """The funder (as msg.sender) puts a partner on its whitelist."""
        return self.client.transact(
            funder, self.registry.functions.addToWhitelist(partner_id, effective_from)
        )

    # ------------------------------------------------------------------ signing

    def sign_loan(
        self,
        record: LoanRecord,
        signers: Mapping[int, Signer],
        document: DocumentRef,
        *,
        disclosure: Mapping[str, Any] | None = None,
        provenance: Provenance | None = None,
    ) -> SignedLoan:
        """Signs `record` with the key of every party it needs (`signers` by participant id)."""
        record_id = loan_record_id(record, self.domain)
        signatures: list[bytes] = []
        addresses: list[str] = []
        for participant_id in record.signer_ids():
            signer = signers.get(participant_id)
            if signer is None:
                raise InputError(f"no signer for participant {participant_id}")
            signatures.append(signer.sign_digest(record_id))
            addresses.append(signer.address)
        return SignedLoan(
            record, record_id, tuple(signatures), tuple(addresses), document, disclosure, provenance
        )

    # ------------------------------------------------------------------ rules

    def check_loan(self, loan: SignedLoan, at: int | None = None) -> None:
        """Runs the contract's own rule check (`checkLoan`, an eth_call: no gas) as of `at`.

        Raises `RuleViolation` / `SignatureError` with the rule's stable code.
        """
        when = self.client.latest_timestamp() if at is None else at
        try:
            self.client.call(
                self.ledger.functions.checkLoan(loan.record.as_tuple(), list(loan.signatures), when)
            )
        except ContractRevert as revert:
            raise error_for(revert) from revert

    # ------------------------------------------------------------------ anchoring

    def _anchored(self, receipt: TxReceipt) -> AnchoredTx:
        block = self.client.w3.eth.get_block(receipt["blockNumber"])
        return AnchoredTx(
            bytes(receipt["transactionHash"]),
            int(receipt["blockNumber"]),
            int(block["timestamp"]),
            int(receipt["gasUsed"]),
        )

    def anchor_loan(self, sender: LocalAccount, loan: SignedLoan) -> AnchoredTx:
        """Per-record anchoring: the contract checks every rule; a broken one raises
        `RuleViolation` / `SignatureError` with its stable code."""
        return self.settle_loan(self.send_loan(sender, loan))

    def send_loan(self, sender: LocalAccount, loan: SignedLoan) -> PendingTx:
        """`anchor_loan` without waiting (the rules are checked by the estimate); many records
        sent first and settled after share blocks instead of waiting for one each."""
        try:
            return self.client.submit(
                sender,
                self.ledger.functions.anchorLoan(loan.record.as_tuple(), list(loan.signatures)),
            )
        except ContractRevert as revert:
            raise error_for(revert) from revert

    def settle_loan(self, pending: PendingTx) -> AnchoredTx:
        """The anchor of a record sent with `send_loan`, confirmed as the policy asks."""
        try:
            receipt = self.client.settle(pending)
        except ContractRevert as revert:
            raise error_for(revert) from revert
        return self._anchored(receipt)

    def anchor_batch(
        self,
        gateway: LocalAccount,
        loans: Sequence[SignedLoan],
        *,
        before_send: Callable[[StandardMerkleTree], None] | None = None,
    ) -> BatchAnchor:
        """Anchors the Merkle root of `loans` (rules checked off chain by the caller).

        `before_send` sees the tree before the transaction goes out: a gateway records the
        batch there, so that after a crash it can tell whether the root reached the chain."""
        if not loans:
            raise InputError("a batch needs at least one record")
        tree = StandardMerkleTree.of([loan.leaf_values for loan in loans], list(LEAF_TYPES))
        if before_send is not None:
            before_send(tree)
        receipt = self.client.transact(
            gateway, self.ledger.functions.anchorBatch(tree.root, len(loans)), gas=_BATCH_GAS
        )
        return BatchAnchor(tree, self._anchored(receipt), tuple(loans))

    def anchor_evidence_log(self, gateway: LocalAccount, root: bytes, count: int) -> AnchoredTx:
        """Anchors the root of `count` evidence log entries (`ledger.vault.log`)."""
        try:
            receipt = self.client.transact(
                gateway, self.ledger.functions.anchorEvidenceLog(root, count), gas=_BATCH_GAS
            )
        except ContractRevert as revert:
            raise error_for(revert) from revert
        return self._anchored(receipt)

    def evidence_log_anchor(self, root: bytes) -> tuple[int, int, int] | None:
        """(gateway id, anchored at, block number) of an evidence log root, or None."""
        entry = self.client.call(self.ledger.functions.evidenceLog(root))
        if int(entry[1]) == 0:
            return None
        return int(entry[0]), int(entry[1]), int(entry[2])

    def batch_anchor(self, root: bytes) -> AnchoredTx | None:
        """Where the batch of `root` is on chain (its transaction, block and time), or None if
        the chain has no such batch."""
        batch = self.client.call(self.ledger.functions.batch(root))
        if int(batch[1]) == 0:
            return None
        block_number, block_time = int(batch[2]), int(batch[1])
        events = self.ledger.events.BatchAnchored().get_logs(
            from_block=block_number, to_block=block_number, argument_filters={"root": root}
        )
        if not events:  # the node has the state but not (yet) the log: ask again later
            raise ChainError(f"batch {_hex(root)} is anchored but its event is not found")
        return AnchoredTx(bytes(events[0]["transactionHash"]), block_number, block_time, 0)

    def anchored_roots(self, from_block: int) -> dict[bytes, AnchoredTx]:
        """The batches anchored from `from_block` to the head, by root (one `eth_getLogs`; the
        block time is left 0 — `batch_anchor` has it)."""
        events = self.ledger.events.BatchAnchored().get_logs(
            from_block=max(0, from_block), to_block="latest"
        )
        return {
            bytes(e["args"]["root"]): AnchoredTx(
                bytes(e["transactionHash"]), int(e["blockNumber"]), 0, 0
            )
            for e in events
        }

    def reanchor_batch(self, gateway: LocalAccount, root: bytes, size: int) -> AnchoredTx:
        """Anchors `root` again (its transaction left the chain in a reorganization). The gas is
        estimated: a node that has the batch after all refuses it (`BATCH_DUPLICATE`) for free."""
        try:
            receipt = self.client.transact(gateway, self.ledger.functions.anchorBatch(root, size))
        except ContractRevert as revert:
            raise error_for(revert) from revert
        return self._anchored(receipt)

    def retire(
        self,
        sender: LocalAccount,
        original: LoanRecord,
        retirement: Retirement,
        signers: Sequence[Signer],
        inclusion: tuple[bytes, bytes, list[bytes]] = (ZERO32, ZERO32, []),
    ) -> AnchoredTx:
        """Revokes or amends (by `retirement.superseded_by`) an anchored record."""
        digest = retirement_digest(retirement, self.domain)
        signatures = [s.sign_digest(digest) for s in signers]
        fn = (
            self.ledger.functions.amendRecord
            if retirement.is_amendment
            else self.ledger.functions.revokeRecord
        )
        receipt = self.client.transact(
            sender, fn(original.as_tuple(), inclusion, retirement.as_tuple(), signatures)
        )
        return self._anchored(receipt)

    # ------------------------------------------------------------------ receipts

    def _receipt(self, loan: SignedLoan, anchor: Anchor) -> Receipt:
        return Receipt(
            record=loan.record,
            record_id=_hex(loan.record_id),
            typed_data=typed_data(loan.record, self.domain),
            signatures=[
                PartySignature(participant_id=pid, role=role, signer=addr, signature=_hex(sig))  # type: ignore[arg-type]
                for pid, role, addr, sig in zip(
                    loan.record.signer_ids(),
                    _roles(loan.record),
                    loan.signers,
                    loan.signatures,
                    strict=True,
                )
            ],
            document=loan.document,
            disclosure=dict(loan.disclosure) if loan.disclosure is not None else None,
            provenance=loan.provenance,
            anchor=anchor,
            entry_timestamp=loan.entry_timestamp,
            unsigned=Unsigned(document_location=loan.document_location),
        )

    def receipt(
        self,
        loan: SignedLoan,
        tx: AnchoredTx,
        batch: tuple[bytes, list[bytes], int] | None = None,
    ) -> Receipt:
        """The receipt of an anchored record; `batch` = (root, proof, batch size) if batched."""
        merkle: dict[str, Any] = {}
        if batch is not None:
            root, proof, size = batch
            values = loan.leaf_values
            merkle = {
                "leaf": Leaf(
                    types=list(LEAF_TYPES), values=values, hash=_hex(leaf_hash(LEAF_TYPES, values))
                ),
                "proof": [_hex(p) for p in proof],
                "root": _hex(root),
                "batch_size": size,
            }
        anchor = Anchor(
            mode="batch" if batch is not None else "per-record",
            chain_id=self.deployment.chain_id,
            registry=self.deployment.registry,
            ledger=self.deployment.ledger,
            transaction_hash=_hex(tx.transaction_hash),
            block_number=tx.block_number,
            block_time=tx.block_time,
            **merkle,
        )
        return self._receipt(loan, anchor)

    def per_record_receipt(self, loan: SignedLoan, tx: AnchoredTx) -> Receipt:
        return self.receipt(loan, tx)

    def batch_receipts(self, batch: BatchAnchor) -> list[Receipt]:
        size = len(batch.loans)
        return [
            self.receipt(loan, batch.tx, (batch.root, batch.tree.get_proof(index), size))
            for index, loan in enumerate(batch.loans)
        ]
