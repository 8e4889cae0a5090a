"""anchorBatch and batch inclusion proofs (ledger.merkle, a hand-built tree, OpenZeppelin's JS)."""

from __future__ import annotations

import pytest

from ledger.enums import RecordStatus
from ledger.hashing import keccak256
from ledger.merkle import StandardMerkleTree

from .conftest import LEAF_TYPES, ZERO32, Env


def verify(backend: Env, root: bytes, record_id: bytes, sh: bytes, proof: list[bytes]) -> bool:
    result: bool = backend.call(
        backend.ledger.functions.verifyInclusion(root, record_id, sh, proof)
    )
    return result


# ------------------------------------------------------------------------------ anchorBatch


def test_anchor_batch(backend: Env) -> None:
    ledger, gateway = backend.ledger, backend.gateway
    root = keccak256(b"batch 1")
    assert backend.call(ledger.functions.batch(root)) == (0, 0, 0, 0)
    receipt = backend.transact(gateway, ledger.functions.anchorBatch(root, 1000))
    at = backend.block_time(receipt)
    assert backend.event(receipt, ledger, "BatchAnchored") == {
        "root": root,
        "gatewayId": gateway.id,
        "recordCount": 1000,
    }
    assert backend.call(ledger.functions.batch(root)) == (
        gateway.id,
        at,
        receipt["blockNumber"],
        1000,
    )
    assert backend.call(ledger.functions.batchCount()) == 1
    backend.transact(gateway, ledger.functions.anchorBatch(keccak256(b"batch 2"), 2**32 - 1))
    assert backend.call(ledger.functions.batchCount()) == 2


def test_duplicate_batch(backend: Env) -> None:
    root = keccak256(b"root")
    backend.transact(backend.gateway, backend.ledger.functions.anchorBatch(root, 3))
    with backend.reverts("EvidenceLedgerDuplicateBatch", root):
        backend.transact(backend.gateway, backend.ledger.functions.anchorBatch(root, 4))
    # another gateway cannot anchor it again either
    other = backend.register(backend.gateway.role)
    with backend.reverts("EvidenceLedgerDuplicateBatch", root):
        backend.transact(other, backend.ledger.functions.anchorBatch(root, 3))


@pytest.mark.parametrize(("root", "count"), [(ZERO32, 1), (b"\1" * 32, 0), (ZERO32, 0)])
def test_empty_batch(backend: Env, root: bytes, count: int) -> None:
    with backend.reverts("EvidenceLedgerEmptyBatch"):
        backend.transact(backend.gateway, backend.ledger.functions.anchorBatch(root, count))


@pytest.mark.parametrize(
    "who", ["regulator", "bank", "platform", "guarantor", "auditor", "outsider"]
)
def test_anchor_batch_by_non_gateway(backend: Env, who: str) -> None:
    sender = backend.outsider if who == "outsider" else backend.parties[who]
    with backend.reverts("EvidenceLedgerNotGateway", sender.address):
        backend.transact(sender, backend.ledger.functions.anchorBatch(b"\1" * 32, 1))


def test_suspended_gateway(backend: Env) -> None:
    gateway = backend.gateway
    backend.suspend(gateway)
    with backend.reverts("EvidenceLedgerNotGateway", gateway.address):
        backend.transact(gateway, backend.ledger.functions.anchorBatch(b"\1" * 32, 1))
    backend.reactivate(gateway)
    backend.transact(gateway, backend.ledger.functions.anchorBatch(b"\1" * 32, 1))


def test_gateway_key_rotation(backend: Env) -> None:
    gateway = backend.gateway
    old_account = gateway.account
    backend.rotate_signer(gateway)
    with backend.reverts("EvidenceLedgerNotGateway", old_account.address):
        backend.transact(old_account, backend.ledger.functions.anchorBatch(b"\1" * 32, 1))
    receipt = backend.transact(gateway, backend.ledger.functions.anchorBatch(b"\1" * 32, 1))
    assert backend.event(receipt, backend.ledger, "BatchAnchored")["gatewayId"] == gateway.id


# ------------------------------------------------------------------------------ inclusion


def test_verify_inclusion_with_ledger_merkle(backend: Env) -> None:
    entries = [
        backend.make_loan(guarantor=backend.guarantor) if i % 2 else backend.make_loan()
        for i in range(7)
    ]
    batch = backend.anchor_batch(entries)
    ledger = backend.ledger
    for i, record_id in enumerate(batch.record_ids):
        sh, proof = batch.signature_hashes[i], batch.proof(i)
        assert verify(backend, batch.root, record_id, sh, proof)
        # the leaf is the contract's
        assert backend.call(ledger.functions.leafOf(record_id, sh)) == batch.tree.leaf_hash(
            [record_id, sh]
        )
        # wrong signatures hash, wrong record, wrong proof: not included
        assert not verify(backend, batch.root, record_id, keccak256(sh), proof)
        assert not verify(backend, batch.root, batch.record_ids[(i + 1) % 7], sh, proof)
        assert not verify(backend, batch.root, record_id, sh, proof[:-1])
    # batched records are unknown to the contract until retired or reported
    assert (
        backend.call(ledger.functions.recordState(batch.record_ids[0]))[0] == RecordStatus.UNKNOWN
    )


def test_verify_inclusion_needs_an_anchored_root(backend: Env) -> None:
    record = backend.make_loan()
    batch = backend.build_batch([(record, backend.sign(record)), (backend.make_loan(), [])])
    assert batch.tree.verify(0, batch.proof(0))
    assert not verify(
        backend, batch.root, batch.record_ids[0], batch.signature_hashes[0], batch.proof(0)
    )
    backend.transact(backend.gateway, backend.ledger.functions.anchorBatch(batch.root, 2))
    assert verify(
        backend, batch.root, batch.record_ids[0], batch.signature_hashes[0], batch.proof(0)
    )


def test_single_record_batch(backend: Env) -> None:
    batch = backend.anchor_batch([backend.make_loan()])
    assert batch.proof(0) == []
    assert batch.root == backend.call(
        backend.ledger.functions.leafOf(batch.record_ids[0], batch.signature_hashes[0])
    )
    assert verify(backend, batch.root, batch.record_ids[0], batch.signature_hashes[0], [])


def test_hand_built_two_leaf_tree(backend: Env) -> None:
    """Independent of ledger.merkle: leaf = keccak(keccak(abi.encode(id, sh))), node = sorted pair."""
    ids = [keccak256(b"record a"), keccak256(b"record b")]
    hashes = [keccak256(b"signatures a"), keccak256(b"signatures b")]
    leaves = [keccak256(keccak256(rid + sh)) for rid, sh in zip(ids, hashes, strict=True)]
    root = keccak256(b"".join(sorted(leaves)))
    assert (
        root == StandardMerkleTree.of([[ids[0], hashes[0]], [ids[1], hashes[1]]], LEAF_TYPES).root
    )
    backend.transact(backend.gateway, backend.ledger.functions.anchorBatch(root, 2))
    assert verify(backend, root, ids[0], hashes[0], [leaves[1]])
    assert verify(backend, root, ids[1], hashes[1], [leaves[0]])
    assert not verify(backend, root, ids[0], hashes[1], [leaves[1]])
    assert (
        backend.call(backend.ledger.functions.verifyMultiInclusion(root, leaves, [], [True]))
        is True
    )


def test_verify_multi_inclusion(backend: Env) -> None:
    batch = backend.anchor_batch([backend.make_loan() for _ in range(6)])
    tree = batch.tree
    ledger = backend.ledger
    for indices in ([0, 2, 3], [5], [0, 1, 2, 3, 4, 5], [1, 4]):
        mp = tree.get_multiproof(indices)
        leaves = [tree.leaf_hash(v) for v in mp.leaves]
        proof = [bytes(p) for p in mp.proof]
        flags = list(mp.proof_flags)
        assert (
            backend.call(ledger.functions.verifyMultiInclusion(batch.root, leaves, proof, flags))
            is True
        )
        # a leaf swapped for one outside the batch fails
        forged = [keccak256(b"not in the batch"), *leaves[1:]]
        assert (
            backend.call(ledger.functions.verifyMultiInclusion(batch.root, forged, proof, flags))
            is False
        )
        # an unknown root fails before the proof is looked at
        assert (
            backend.call(
                ledger.functions.verifyMultiInclusion(keccak256(b"x"), leaves, proof, flags)
            )
            is False
        )


def test_verify_multi_inclusion_malformed(backend: Env) -> None:
    batch = backend.anchor_batch([backend.make_loan() for _ in range(4)])
    mp = batch.tree.get_multiproof([0, 1])
    leaves = [batch.tree.leaf_hash(v) for v in mp.leaves]
    proof = [bytes(p) for p in mp.proof]
    flags = list(mp.proof_flags)
    # leaves + proof must equal flags + 1: OpenZeppelin reverts on an inconsistent multiproof
    with backend.reverts("MerkleProofInvalidMultiproof"):
        backend.call(
            backend.ledger.functions.verifyMultiInclusion(batch.root, leaves, proof, [*flags, True])
        )
    with backend.reverts("MerkleProofInvalidMultiproof"):
        backend.call(
            backend.ledger.functions.verifyMultiInclusion(
                batch.root, leaves, [*proof, ZERO32], flags
            )
        )


# ------------------------------------------------------------------------------ OpenZeppelin's own JS


@pytest.mark.node
def test_openzeppelin_js_tree_verifies_on_chain(backend: Env, oz_merkle) -> None:  # type: ignore[no-untyped-def]
    records = [
        backend.make_loan(guarantor=backend.guarantor) if i % 3 == 0 else backend.make_loan()
        for i in range(5)
    ]
    values = []
    for record in records:
        from ledger.eip712 import signatures_hash

        values.append(
            [
                "0x" + backend.record_id(record).hex(),
                "0x" + signatures_hash(backend.sign(record)).hex(),
            ]
        )
    result = oz_merkle({"types": LEAF_TYPES, "values": values, "indices": [[0, 3], [1, 2, 4]]})
    assert "error" not in result, result
    assert result["verified"] is True
    root = bytes.fromhex(result["root"][2:])
    # the Python port builds the same tree
    assert root == StandardMerkleTree.of(values, LEAF_TYPES).root
    backend.transact(backend.gateway, backend.ledger.functions.anchorBatch(root, len(values)))
    for i, (record_id, sh) in enumerate(values):
        proof = [bytes.fromhex(p[2:]) for p in result["proofs"][i]]
        assert verify(backend, root, bytes.fromhex(record_id[2:]), bytes.fromhex(sh[2:]), proof)
        onchain_leaf = backend.call(
            backend.ledger.functions.leafOf(bytes.fromhex(record_id[2:]), bytes.fromhex(sh[2:]))
        )
        assert "0x" + onchain_leaf.hex() == result["leafHashes"][i]
    for mp in result["multiproofs"]:
        leaves = [
            backend.call(
                backend.ledger.functions.leafOf(bytes.fromhex(a[2:]), bytes.fromhex(b[2:]))
            )
            for a, b in mp["leaves"]
        ]
        proof = [bytes.fromhex(p[2:]) for p in mp["proof"]]
        assert backend.call(
            backend.ledger.functions.verifyMultiInclusion(root, leaves, proof, mp["proofFlags"])
        )


def test_empty_multiproof_proves_nothing(backend: Env) -> None:
    batch = backend.anchor_batch([backend.make_loan()], fillers=1)
    result = backend.call(
        backend.ledger.functions.verifyMultiInclusion(batch.root, [], [batch.root], [])
    )
    assert result is False
