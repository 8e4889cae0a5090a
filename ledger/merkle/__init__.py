"""OpenZeppelin-compatible Merkle trees (``@openzeppelin/merkle-tree`` 1.x, ``MerkleProof.sol``).

Everything here is byte-for-byte identical to the JavaScript library:

* leaf = ``keccak256(bytes.concat(keccak256(abi.encode(values))))`` (``standardLeafHash``);
* node = keccak256 of the *sorted* pair (``Hashes.commutativeKeccak256``);
* the tree is OZ's array layout (``makeMerkleTree``): a complete binary tree stored in one
  list, root at index 0, children of ``i`` at ``2i+1``/``2i+2``, the ``n`` leaves at the end in
  reverse order; ``StandardMerkleTree.of`` sorts the leaves by hash unless ``sort_leaves=False``;
* proofs, multiproofs (``proof``/``proofFlags``/``leaves``) and ``dump()`` (``standard-v1``)
  are what the JS library produces for the same input, and ``load()`` accepts its dumps.

Hashes are ``bytes`` (32 bytes) everywhere; functions that take a node also accept a
``0x``-prefixed hex string. Use :func:`to_hex` for the JS representation.

Speed: hashing uses the fastest keccak binding available (``safe-pysha3`` ≈ 1 µs/hash, then
pycryptodome's C core called through cffi ≈ 2 µs, then ``Crypto.Hash.keccak`` ≈ 6 µs), static
ABI types are encoded without ``eth_abi``, and the tree is built level by level with list
comprehensions. :data:`KECCAK_BACKEND` names the binding in use. With pysha3, 1M leaves take
about 1 s from unsorted leaf hashes, 2 s sorted, 5 s from ``(address, uint256)`` values.

Values take the forms the JS library takes (see :func:`abi_encode`), but more strictly: short
``bytesN``/addresses and odd-length hex are refused instead of padded, and numeric strings must
be plain decimal or ``0x`` hex. On every input both accept the hashes are equal.

Verification comes in two flavours: ``verify_*`` return ``bool`` (``False`` for malformed
input too), ``require_*`` raise :class:`~ledger.errors.MerkleError`.

Where things live: ``keccak`` (the keccak-256 bindings), ``hexutil`` (nodes as bytes or hex,
``to_hex``), ``abi`` (``abi_encode``, ``leaf_hash``, ``hash_pair``), ``core`` (the node array:
``make_merkle_tree``, proofs, multiproofs, ``verify_*``/``require_*``, ``render_merkle_tree``),
``base`` (``MerkleTree``), ``standard`` (``StandardMerkleTree``, ``verify_value``,
``verify_values_multiproof``), ``simple`` (``SimpleMerkleTree``).
"""

from __future__ import annotations

from ledger.merkle.abi import abi_encode, hash_pair, leaf_hash
from ledger.merkle.base import MerkleTree
from ledger.merkle.core import (
    MultiProof,
    get_multiproof,
    get_proof,
    is_valid_merkle_tree,
    make_merkle_tree,
    process_multiproof,
    process_proof,
    render_merkle_tree,
    require_multiproof,
    require_proof,
    verify_multiproof,
    verify_proof,
)
from ledger.merkle.hexutil import Node, to_hex
from ledger.merkle.keccak import KECCAK_BACKEND, keccak256
from ledger.merkle.simple import SimpleMerkleTree
from ledger.merkle.standard import StandardMerkleTree, verify_value, verify_values_multiproof

__all__ = [
    "KECCAK_BACKEND",
    "MerkleTree",
    "MultiProof",
    "Node",
    "SimpleMerkleTree",
    "StandardMerkleTree",
    "abi_encode",
    "get_multiproof",
    "get_proof",
    "hash_pair",
    "is_valid_merkle_tree",
    "keccak256",
    "leaf_hash",
    "make_merkle_tree",
    "process_multiproof",
    "process_proof",
    "render_merkle_tree",
    "require_multiproof",
    "require_proof",
    "to_hex",
    "verify_multiproof",
    "verify_proof",
    "verify_value",
    "verify_values_multiproof",
]
