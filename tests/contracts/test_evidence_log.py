"""anchorEvidenceLog: roots of evidence log batches (document reads, grants, erasures), by
active gateways only, each root once; an entry's leaf proves against it with MerkleProof."""

from __future__ import annotations

import pytest

from ledger.hashing import keccak256
from ledger.merkle import StandardMerkleTree, process_proof

from .conftest import ZERO32, Env


def test_anchor_evidence_log(backend: Env) -> None:
    ledger, gateway = backend.ledger, backend.gateway
    entries = [[n, keccak256(f"entry {n}".encode())] for n in range(1, 6)]
    tree = StandardMerkleTree.of(entries, ["uint256", "bytes32"])
    assert backend.call(ledger.functions.evidenceLog(tree.root)) == (0, 0, 0, 0)
    receipt = backend.transact(gateway, ledger.functions.anchorEvidenceLog(tree.root, 5))
    assert backend.event(receipt, ledger, "EvidenceLogAnchored") == {
        "root": tree.root,
        "gatewayId": gateway.id,
        "entryCount": 5,
    }
    assert backend.call(ledger.functions.evidenceLog(tree.root)) == (
        gateway.id,
        backend.block_time(receipt),
        receipt["blockNumber"],
        5,
    )
    # a log root is no loan batch: the batch count and the batch view do not change
    assert backend.call(ledger.functions.batchCount()) == 0
    assert backend.call(ledger.functions.batch(tree.root)) == (0, 0, 0, 0)
    # any entry proves against the anchored root (OpenZeppelin's MerkleProof.processProof)
    for index in range(5):
        leaf = tree.leaf_hash(entries[index])
        assert process_proof(leaf, tree.get_proof(index)) == tree.root


def test_duplicate_evidence_log(backend: Env) -> None:
    root = keccak256(b"log root")
    backend.transact(backend.gateway, backend.ledger.functions.anchorEvidenceLog(root, 2))
    with backend.reverts("EvidenceLedgerDuplicateEvidenceLog", root):
        backend.transact(backend.gateway, backend.ledger.functions.anchorEvidenceLog(root, 2))
    other = backend.register(backend.gateway.role)
    with backend.reverts("EvidenceLedgerDuplicateEvidenceLog", root):
        backend.transact(other, backend.ledger.functions.anchorEvidenceLog(root, 9))


@pytest.mark.parametrize(("root", "count"), [(ZERO32, 1), (b"\1" * 32, 0)])
def test_empty_evidence_log(backend: Env, root: bytes, count: int) -> None:
    with backend.reverts("EvidenceLedgerEmptyBatch"):
        backend.transact(backend.gateway, backend.ledger.functions.anchorEvidenceLog(root, count))


@pytest.mark.parametrize("who", ["regulator", "bank", "platform", "auditor", "outsider"])
def test_evidence_log_by_non_gateway(backend: Env, who: str) -> None:
    sender = backend.outsider if who == "outsider" else backend.parties[who]
    with backend.reverts("EvidenceLedgerNotGateway", sender.address):
        backend.transact(sender, backend.ledger.functions.anchorEvidenceLog(b"\1" * 32, 1))
