"""``SimpleMerkleTree``: a tree whose values are the 32-byte leaves themselves (OZ's ``simple.ts``).

``of``, and ``load``/``dump`` (``simple-v1``, default node hash only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ledger.errors import MerkleError
from ledger.merkle.base import MerkleTree
from ledger.merkle.core import _gc_paused
from ledger.merkle.hexutil import Node, _node, _nodes


class SimpleMerkleTree(MerkleTree[bytes]):
    """``@openzeppelin/merkle-tree`` ``SimpleMerkleTree``: the values *are* the 32-byte leaves.

    Use it when the leaf hashes already exist: ``SimpleMerkleTree.of([leaf_hash(types, v) ...])``
    has the same root, proofs and multiproof flags as ``StandardMerkleTree.of(values, types)``
    (with the same ``sort_leaves``). Only the default (commutative keccak) node hash is supported.
    """

    __slots__ = ()

    def __init__(self) -> None:
        raise TypeError("use SimpleMerkleTree.of(...) or SimpleMerkleTree.load(...)")

    @classmethod
    def _make(
        cls, tree: list[bytes], values: list[bytes], tree_index: list[int]
    ) -> SimpleMerkleTree:
        self = object.__new__(cls)
        self._init(tree, values, tree_index)
        return self

    @classmethod
    def of(cls, values: Sequence[Node], *, sort_leaves: bool = True) -> SimpleMerkleTree:
        """``SimpleMerkleTree.of(values, {sortLeaves})`` over 32-byte leaves."""
        with _gc_paused():
            leaves = _nodes(values, "leaf")
            tree, tree_index = cls._prepare(leaves, sort_leaves)
        return cls._make(tree, leaves, tree_index)

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> SimpleMerkleTree:
        """``SimpleMerkleTree.load(dump)`` for ``simple-v1`` dumps (without custom hashing)."""
        if not isinstance(data, Mapping):
            raise MerkleError("dump must be a JSON object")
        if data.get("format") != "simple-v1":
            raise MerkleError(f"Unknown format {data.get('format')!r}")
        if data.get("hash") is not None:
            raise MerkleError("Data expects a custom node hashing function")
        with _gc_paused():
            tree, values, tree_index = cls._parse_dump(data)
            leaves = _nodes(values, "value")
        self = cls._make(tree, leaves, tree_index)
        self.validate()
        return self

    def leaf_hash(self, value: bytes) -> bytes:
        return _node(value, "leaf")

    def _leaf_hashes(self, values: Sequence[bytes]) -> list[bytes]:
        return _nodes(values, "leaf")

    def dump(self) -> dict[str, Any]:
        """The ``simple-v1`` JSON object."""
        ti = self._tree_index
        with _gc_paused():
            return {
                "format": "simple-v1",
                "tree": ["0x" + node.hex() for node in self._tree],
                "values": [
                    {"value": "0x" + v.hex(), "treeIndex": ti[i]}
                    for i, v in enumerate(self._values)
                ],
            }
