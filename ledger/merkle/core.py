"""The array-based tree of OZ's ``core.ts``: build, proofs, multiproofs, verification, rendering.

Functions over the bare node array (root at index 0, children of ``i`` at ``2i+1``/``2i+2``,
leaves at the end in reverse order), with no values attached; the tree classes in
``ledger.merkle.base`` / ``standard`` / ``simple`` are built on them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Generic, TypeVar

from ledger.errors import MerkleError
from ledger.merkle import keccak as _keccak
from ledger.merkle.hexutil import Node, _jsonable, _node, _nodes, to_hex
from ledger.merkle.keccak import _hasher

T = TypeVar("T")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Bulk builds allocate millions of objects; full GC passes over them only cost time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build(leaves: Sequence[bytes]) -> list[bytes]:
    """makeMerkleTree on already-validated 32-byte leaves."""
    n = len(leaves)
    if n == 0:
        raise MerkleError("Expected non-zero number of leaves")
    tree: list[bytes] = [b""] * (n - 1)
    tree += reversed(leaves)
    last_internal = n - 2
    if last_internal < 0:
        return tree
    k = _keccak._BACKEND.ctor
    h = _hasher()
    # Internal nodes at depth d occupy [2^d - 1, 2^(d+1) - 2]; their children sit at depth d+1,
    # contiguously at [2*lo + 1, 2*hi + 2]. Fill depth by depth, deepest first.
    depth = (last_internal + 1).bit_length() - 1
    while depth >= 0:
        lo = (1 << depth) - 1
        hi = min((1 << (depth + 1)) - 2, last_internal)
        it = iter(tree[2 * lo + 1 : 2 * hi + 3])
        if k is not None:
            level = [
                k(a + b).digest() if a < b else k(b + a).digest()
                for a, b in zip(it, it, strict=False)
            ]
        else:
            level = [h(a + b) if a < b else h(b + a) for a, b in zip(it, it, strict=False)]
        tree[lo : hi + 1] = level
        depth -= 1
    return tree


def make_merkle_tree(leaves: Sequence[Node]) -> list[bytes]:
    """OZ ``makeMerkleTree``: the node array for ``leaves`` (kept in the given order)."""
    return _build(_nodes(leaves, "leaf"))


def _check_leaf_index(tree_len: int, index: object) -> int:
    if type(index) is not int or not 0 <= index < tree_len or 2 * index + 1 < tree_len:
        raise MerkleError(f"Index is not a leaf: {index!r}")
    return index


def get_proof(tree: Sequence[bytes], index: int) -> list[bytes]:
    """OZ ``getProof``: sibling path of the leaf at *tree* index ``index`` (leaf to root)."""
    i = _check_leaf_index(len(tree), index)
    proof: list[bytes] = []
    while i > 0:
        proof.append(tree[i - 1 if i % 2 == 0 else i + 1])
        i = (i - 1) // 2
    return proof


@dataclass(frozen=True, slots=True)
class MultiProof(Generic[T]):
    """A multiproof in OZ's format: ``leaves`` and ``proof`` consumed as ``proof_flags`` say.

    From the core :func:`get_multiproof` the leaves are 32-byte hashes; from a tree's
    :meth:`MerkleTree.get_multiproof` they are the tree's values (as in the JS library).
    """

    leaves: list[T]
    proof: list[bytes]
    proof_flags: list[bool] = field(default_factory=list)

    def to_json(self, *, ints_as_strings: bool = False) -> dict[str, Any]:
        """``{"leaves", "proof", "proofFlags"}`` exactly as the JS library returns it."""
        return {
            "leaves": [_jsonable(v, ints_as_strings) for v in self.leaves],
            "proof": [to_hex(p) for p in self.proof],
            "proofFlags": list(self.proof_flags),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MultiProof[Any]:
        """Parse ``{"leaves", "proof", "proofFlags"}``; leaves are kept as given."""
        leaves, proof, flags = data.get("leaves"), data.get("proof"), data.get("proofFlags")
        if not isinstance(leaves, list) or not isinstance(proof, list):
            raise MerkleError("multiproof needs 'leaves' and 'proof' lists")
        if not isinstance(flags, list) or not all(type(f) is bool for f in flags):
            raise MerkleError("multiproof 'proofFlags' must be a list of booleans")
        return MultiProof(leaves=list(leaves), proof=_nodes(proof, "proof"), proof_flags=flags)


def get_multiproof(tree: Sequence[bytes], indices: Sequence[int]) -> MultiProof[bytes]:
    """OZ ``getMultiProof`` for *tree* indices; leaves come back in descending tree order."""
    n = len(tree)
    order = sorted((_check_leaf_index(n, i) for i in indices), reverse=True)
    if any(a == b for a, b in pairwise(order)):
        raise MerkleError("Cannot prove duplicated index")
    # The JS version shifts an array used as a queue; a read pointer over a list is the same.
    queue = list(order)
    pos = 0
    proof: list[bytes] = []
    flags: list[bool] = []
    while pos < len(queue) and queue[pos] > 0:
        j = queue[pos]
        pos += 1
        s = j - 1 if j % 2 == 0 else j + 1
        if pos < len(queue) and queue[pos] == s:
            flags.append(True)
            pos += 1
        else:
            flags.append(False)
            proof.append(tree[s])
        queue.append((j - 1) // 2)
    if not order:
        proof.append(tree[0])
    return MultiProof(leaves=[tree[i] for i in order], proof=proof, proof_flags=flags)


def process_proof(leaf: Node, proof: Sequence[Node]) -> bytes:
    """``MerkleProof.processProof``: the root implied by ``leaf`` and ``proof``."""
    computed = _node(leaf, "leaf")
    h = _hasher()
    for p in _nodes(proof, "proof"):
        computed = h(computed + p if computed < p else p + computed)
    return computed


def verify_proof(root: Node, leaf: Node, proof: Sequence[Node]) -> bool:
    """``MerkleProof.verify``; ``False`` for a wrong *or malformed* proof."""
    try:
        require_proof(root, leaf, proof)
    except MerkleError:
        return False
    return True


def require_proof(root: Node, leaf: Node, proof: Sequence[Node]) -> None:
    """Like :func:`verify_proof` but raises :class:`MerkleError` instead of returning ``False``."""
    expected = _node(root, "root")
    if process_proof(leaf, proof) != expected:
        raise MerkleError("Merkle proof does not lead to the expected root")


def process_multiproof(
    leaves: Sequence[Node], proof: Sequence[Node], proof_flags: Sequence[bool]
) -> bytes:
    """``MerkleProof.processMultiProof``: the root implied by a multiproof.

    Raises :class:`MerkleError` where the contract reverts (``MerkleProofInvalidMultiproof``)
    or the JS library throws; on every input both accept, the result is the same.
    """
    leaf_nodes = _nodes(leaves, "leaf")
    proof_nodes = _nodes(proof, "proof")
    if isinstance(proof_flags, str | bytes) or not all(type(f) is bool for f in proof_flags):
        raise MerkleError("proof flags must be a list of booleans")
    n_leaves, n_flags, n_proof = len(leaf_nodes), len(proof_flags), len(proof_nodes)
    if n_leaves + n_proof != n_flags + 1:
        raise MerkleError("Provided leaves and multiproof are not compatible")
    h = _hasher()
    hashes: list[bytes] = []
    leaf_pos = hash_pos = proof_pos = 0
    for flag in proof_flags:
        # Solidity reads hashes[hashPos++] without checking it was written; with the counts
        # checked above and below such proofs revert anyway, so stop early instead.
        if leaf_pos < n_leaves:
            a = leaf_nodes[leaf_pos]
            leaf_pos += 1
        elif hash_pos < len(hashes):
            a = hashes[hash_pos]
            hash_pos += 1
        else:
            raise MerkleError("Invalid multiproof format")
        if flag:
            if leaf_pos < n_leaves:
                b = leaf_nodes[leaf_pos]
                leaf_pos += 1
            elif hash_pos < len(hashes):
                b = hashes[hash_pos]
                hash_pos += 1
            else:
                raise MerkleError("Invalid multiproof format")
        elif proof_pos < n_proof:
            b = proof_nodes[proof_pos]
            proof_pos += 1
        else:
            raise MerkleError("Invalid multiproof format")
        hashes.append(h(a + b if a < b else b + a))
    if n_flags > 0:
        if proof_pos != n_proof:
            raise MerkleError("Invalid multiproof format")
        return hashes[-1]
    if n_leaves > 0:
        return leaf_nodes[0]
    return proof_nodes[0]


def verify_multiproof(
    root: Node, leaves: Sequence[Node], proof: Sequence[Node], proof_flags: Sequence[bool]
) -> bool:
    """``MerkleProof.multiProofVerify``; ``False`` for a wrong *or malformed* multiproof."""
    try:
        require_multiproof(root, leaves, proof, proof_flags)
    except MerkleError:
        return False
    return True


def require_multiproof(
    root: Node, leaves: Sequence[Node], proof: Sequence[Node], proof_flags: Sequence[bool]
) -> None:
    """Like :func:`verify_multiproof` but raises :class:`MerkleError`."""
    expected = _node(root, "root")
    if process_multiproof(leaves, proof, proof_flags) != expected:
        raise MerkleError("Merkle multiproof does not lead to the expected root")


def is_valid_merkle_tree(tree: Sequence[Node]) -> bool:
    """OZ ``isValidMerkleTree``: every node is 32 bytes and every parent hashes its children."""
    try:
        nodes = _nodes(tree, "node")
    except MerkleError:
        return False
    n = len(nodes)
    if n % 2 == 0:  # empty, or some parent with a left child only
        return False
    # Rebuilding from the leaves matches iff every parent equals the hash of its children.
    with _gc_paused():
        return _build(nodes[n // 2 :][::-1]) == nodes


def render_merkle_tree(tree: Sequence[Node]) -> str:
    """OZ ``renderMerkleTree``: an ASCII drawing of the tree (for debugging)."""
    nodes = _nodes(tree, "node")
    if not nodes:
        raise MerkleError("Expected non-zero number of nodes")
    stack: list[tuple[int, list[int]]] = [(0, [])]
    lines: list[str] = []
    while stack:
        i, path = stack.pop()
        prefix = "".join(["   ", "│  "][p] for p in path[:-1])
        prefix += "".join(["└─ ", "├─ "][p] for p in path[-1:])
        lines.append(f"{prefix}{i}) {to_hex(nodes[i])}")
        if 2 * i + 2 < len(nodes):
            stack.append((2 * i + 2, [*path, 0]))
            stack.append((2 * i + 1, [*path, 1]))
    return "\n".join(lines)
