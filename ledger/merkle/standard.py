"""``StandardMerkleTree`` (values are ABI-encoded tuples) and verification of its values by root.

Port of OZ's ``standard.ts``: ``of``, ``load``/``dump`` (``standard-v1``), and the static
``verify`` / ``verifyMultiProof`` as :func:`verify_value` / :func:`verify_values_multiproof`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ledger.errors import MerkleError
from ledger.merkle.abi import _check_value, _leaf_hashes, _types_key, leaf_hash
from ledger.merkle.base import MerkleTree
from ledger.merkle.core import MultiProof, _gc_paused, process_multiproof, process_proof
from ledger.merkle.hexutil import Node, _jsonable, _node


class StandardMerkleTree(MerkleTree[Sequence[Any]]):
    """``@openzeppelin/merkle-tree`` ``StandardMerkleTree``: values are ABI-encoded tuples.

    >>> t = StandardMerkleTree.of([["0x" + "11" * 20, 5], ["0x" + "22" * 20, 7]],
    ...                           ["address", "uint256"])
    >>> t.verify(0, t.get_proof(0))
    True
    """

    __slots__ = ("_leaf_encoding",)

    _leaf_encoding: tuple[str, ...]

    def __init__(self) -> None:
        raise TypeError("use StandardMerkleTree.of(...) or StandardMerkleTree.load(...)")

    @classmethod
    def _make(
        cls,
        tree: list[bytes],
        values: list[Sequence[Any]],
        tree_index: list[int],
        leaf_encoding: tuple[str, ...],
    ) -> StandardMerkleTree:
        self = object.__new__(cls)
        self._init(tree, values, tree_index)
        self._leaf_encoding = leaf_encoding
        return self

    @staticmethod
    def _check_values(types: tuple[str, ...], values: Sequence[Any]) -> list[Sequence[Any]]:
        if isinstance(values, str | bytes | bytearray) or not isinstance(values, Sequence):
            raise MerkleError("values must be a list of value lists")
        out = list(values)
        if not all(type(v) is list or type(v) is tuple for v in out):
            for v in out:
                _check_value(types, v)  # "Leaf values cannot be numbers" and the like
        return out

    @classmethod
    def of(
        cls,
        values: Sequence[Sequence[Any]],
        leaf_encoding: Sequence[str],
        *,
        sort_leaves: bool = True,
    ) -> StandardMerkleTree:
        """``StandardMerkleTree.of(values, leafEncoding, {sortLeaves})``."""
        types = _types_key(leaf_encoding)
        vals = cls._check_values(types, values)
        with _gc_paused():
            hashes = _leaf_hashes(types, vals)
            tree, tree_index = cls._prepare(hashes, sort_leaves)
        return cls._make(tree, vals, tree_index, types)

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StandardMerkleTree:
        """``StandardMerkleTree.load(dump)``: parse and fully validate a ``standard-v1`` dump."""
        if not isinstance(data, Mapping):
            raise MerkleError("dump must be a JSON object")
        if data.get("format") != "standard-v1":
            raise MerkleError(f"Unknown format {data.get('format')!r}")
        if data.get("leafEncoding") is None:
            raise MerkleError("Expected leaf encoding")
        types = _types_key(data["leafEncoding"])
        with _gc_paused():
            tree, values, tree_index = cls._parse_dump(data)
        self = cls._make(tree, cls._check_values(types, values), tree_index, types)
        self.validate()
        return self

    @property
    def leaf_encoding(self) -> list[str]:
        return list(self._leaf_encoding)

    def leaf_hash(self, value: Sequence[Any]) -> bytes:
        return leaf_hash(self._leaf_encoding, value)

    def _leaf_hashes(self, values: Sequence[Sequence[Any]]) -> list[bytes]:
        return _leaf_hashes(self._leaf_encoding, values)

    def dump(self, *, ints_as_strings: bool = False) -> dict[str, Any]:
        """The ``standard-v1`` JSON object. Values keep their input form (``bytes`` become hex).

        ``ints_as_strings=True`` writes integers as decimal strings, which JS parses without
        losing precision above 2**53 (the JS library accepts both forms).
        """
        ti = self._tree_index
        with _gc_paused():
            return {
                "format": "standard-v1",
                "leafEncoding": list(self._leaf_encoding),
                "tree": ["0x" + node.hex() for node in self._tree],
                "values": [
                    {"value": _jsonable(v, ints_as_strings), "treeIndex": ti[i]}
                    for i, v in enumerate(self._values)
                ],
            }


def verify_value(
    root: Node, leaf_encoding: Sequence[str], value: Sequence[Any], proof: Sequence[Node]
) -> bool:
    """JS ``StandardMerkleTree.verify(root, leafEncoding, leaf, proof)``."""
    try:
        return process_proof(leaf_hash(leaf_encoding, value), proof) == _node(root, "root")
    except MerkleError:
        return False


def verify_values_multiproof(
    root: Node, leaf_encoding: Sequence[str], multiproof: MultiProof[Sequence[Any]]
) -> bool:
    """JS ``StandardMerkleTree.verifyMultiProof(root, leafEncoding, multiproof)``."""
    try:
        leaves = [leaf_hash(leaf_encoding, v) for v in multiproof.leaves]
        root_bytes = _node(root, "root")
        return process_multiproof(leaves, multiproof.proof, multiproof.proof_flags) == root_bytes
    except MerkleError:
        return False
