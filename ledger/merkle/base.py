"""``MerkleTree``: what the standard and simple trees share (OZ's ``MerkleTreeImpl``).

A tree with values: the node array, the values in input order, where each value sits in the
array, lookup by value, validation, and proofs / multiproofs for values.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Generic

from ledger.errors import MerkleError
from ledger.merkle.core import (
    MultiProof,
    T,
    _build,
    _gc_paused,
    get_multiproof,
    get_proof,
    is_valid_merkle_tree,
    process_multiproof,
    process_proof,
    render_merkle_tree,
)
from ledger.merkle.hexutil import Node, _nodes, to_hex


def _is_index(leaf: object) -> bool:
    return isinstance(leaf, int) and not isinstance(leaf, bool)


class MerkleTree(Generic[T]):
    """What :class:`StandardMerkleTree` and :class:`SimpleMerkleTree` share (``MerkleTreeImpl``).

    ``values`` keep the input order ("value index"); the node array is OZ's layout. Wherever
    the JS API takes ``number | T``, this takes an ``int`` value index or a value.
    """

    __slots__ = ("_lookup", "_tree", "_tree_index", "_values")

    _tree: list[bytes]
    _values: list[T]
    _tree_index: array[int]  # value index -> node index; 8 bytes per value, not ~36
    _lookup: dict[bytes, int] | None

    def _init(self, tree: list[bytes], values: list[T], tree_index: Sequence[int]) -> None:
        if len(tree_index) != len(values):
            raise MerkleError("every value needs exactly one treeIndex")
        self._tree = tree
        self._values = values
        try:
            self._tree_index = array("q", tree_index)
        except OverflowError:
            raise MerkleError("treeIndex out of range") from None
        self._lookup = None

    # -- provided by subclasses --------------------------------------------------------------

    def leaf_hash(self, value: T) -> bytes:
        """The leaf (32 bytes) of ``value`` in this tree."""
        raise NotImplementedError

    def _leaf_hashes(self, values: Sequence[T]) -> list[bytes]:
        raise NotImplementedError

    def dump(self) -> dict[str, Any]:
        raise NotImplementedError

    # -- construction helpers ----------------------------------------------------------------

    @staticmethod
    def _prepare(hashes: list[bytes], sort_leaves: bool) -> tuple[list[bytes], list[int]]:
        n = len(hashes)
        if n == 0:
            raise MerkleError("Expected non-zero number of leaves")
        if sort_leaves:
            order = sorted(range(n), key=hashes.__getitem__)  # stable, like Array#sort
            tree = _build([hashes[i] for i in order])
            last = len(tree) - 1
            tree_index = [0] * n
            for leaf_pos, value_index in enumerate(order):
                tree_index[value_index] = last - leaf_pos
        else:
            tree = _build(hashes)
            tree_index = list(range(len(tree) - 1, len(tree) - 1 - n, -1))
        return tree, tree_index

    @staticmethod
    def _parse_dump(data: Mapping[str, Any]) -> tuple[list[bytes], list[Any], list[int]]:
        raw_tree = data.get("tree")
        raw_values = data.get("values")
        if not isinstance(raw_tree, list) or not isinstance(raw_values, list):
            raise MerkleError("dump must have 'tree' and 'values' lists")
        tree = _nodes(raw_tree, "tree node")
        try:
            values = [entry["value"] for entry in raw_values]
            tree_index = [entry["treeIndex"] for entry in raw_values]
        except (TypeError, KeyError):
            raise MerkleError("dump 'values' entries need 'value' and 'treeIndex'") from None
        if not all(type(i) is int for i in tree_index):
            raise MerkleError("dump 'treeIndex' entries must be integers")
        return tree, values, tree_index

    # -- accessors ---------------------------------------------------------------------------

    @property
    def root(self) -> bytes:
        """The Merkle root (32 bytes)."""
        return self._tree[0]

    @property
    def root_hex(self) -> str:
        return to_hex(self._tree[0])

    @property
    def tree(self) -> list[bytes]:
        """A copy of OZ's node array (root first, leaves reversed at the end)."""
        return list(self._tree)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def length(self) -> int:
        return len(self._values)

    def at(self, index: int) -> T | None:
        """The value at value index ``index`` (negative counts from the end), or ``None``."""
        try:
            return self._values[index]
        except IndexError:
            return None

    def entries(self) -> Iterator[tuple[int, T]]:
        yield from enumerate(self._values)

    def tree_index(self, index: int) -> int:
        """Where the value with value index ``index`` sits in the node array."""
        return self._tree_index[self._check_value_index(index)]

    def render(self) -> str:
        return render_merkle_tree(self._tree)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={self.root_hex}, length={len(self)})"

    # -- validation / lookup -----------------------------------------------------------------

    def _check_value_index(self, index: object) -> int:
        if not _is_index(index) or not 0 <= index < len(self._values):  # type: ignore[operator]
            raise MerkleError(f"Index out of bounds: {index!r}")
        return index  # type: ignore[return-value]

    def _validate_value_at(self, index: int) -> None:
        ti = self._tree_index[self._check_value_index(index)]
        if self._tree[ti] != self.leaf_hash(self._values[index]):
            raise MerkleError("Merkle tree does not contain the expected value")

    def validate(self) -> None:
        """Check every value against its leaf and the whole node array (raises MerkleError)."""
        tree, n = self._tree, len(self._tree)
        first_leaf = n // 2
        if not all(first_leaf <= ti < n for ti in self._tree_index):
            raise MerkleError("a treeIndex does not point at a leaf")
        with _gc_paused():
            hashes = self._leaf_hashes(self._values)
        if hashes != [tree[ti] for ti in self._tree_index]:
            raise MerkleError("Merkle tree does not contain the expected value")
        if not is_valid_merkle_tree(tree):
            raise MerkleError("Merkle tree is invalid")

    def leaf_lookup(self, value: T) -> int:
        """Value index of ``value`` (the last one, if the value occurs more than once)."""
        idx = self._hash_lookup().get(self.leaf_hash(value))
        if idx is None:
            raise MerkleError("Leaf is not in tree")
        return idx

    def _hash_lookup(self) -> dict[bytes, int]:
        if self._lookup is None:  # built lazily: it costs ~0.3 s per million leaves
            tree, ti = self._tree, self._tree_index
            with _gc_paused():
                self._lookup = {tree[t]: i for i, t in enumerate(ti)}
        return self._lookup

    def _value_index(self, leaf: int | T) -> int:
        if _is_index(leaf):
            return leaf  # type: ignore[return-value]
        return self.leaf_lookup(leaf)  # type: ignore[arg-type]

    def _leaf_of(self, leaf: int | T) -> bytes:
        if _is_index(leaf):
            return self.leaf_hash(self._values[self._check_value_index(leaf)])
        return self.leaf_hash(leaf)  # type: ignore[arg-type]

    # -- proofs ------------------------------------------------------------------------------

    def get_proof(self, leaf: int | T) -> list[bytes]:
        """Proof for a value (given by value index or as the value itself)."""
        value_index = self._value_index(leaf)
        self._validate_value_at(value_index)
        tree_index = self._tree_index[value_index]
        proof = get_proof(self._tree, tree_index)
        if process_proof(self._tree[tree_index], proof) != self.root:
            raise MerkleError("Unable to prove value")
        return proof

    def get_multiproof(self, leaves: Sequence[int | T]) -> MultiProof[T]:
        """Multiproof for several values; the result's ``leaves`` are values, as in JS."""
        value_indices = [self._value_index(leaf) for leaf in leaves]
        for vi in value_indices:
            self._validate_value_at(vi)
        mp = get_multiproof(self._tree, [self._tree_index[vi] for vi in value_indices])
        if process_multiproof(mp.leaves, mp.proof, mp.proof_flags) != self.root:
            raise MerkleError("Unable to prove values")
        lookup = self._hash_lookup()
        return MultiProof(
            leaves=[self._values[lookup[h]] for h in mp.leaves],
            proof=mp.proof,
            proof_flags=mp.proof_flags,
        )

    def verify(self, leaf: int | T, proof: Sequence[Node]) -> bool:
        """Does ``proof`` prove ``leaf`` (value index or value) against this tree's root?"""
        try:
            return process_proof(self._leaf_of(leaf), proof) == self.root
        except MerkleError:
            return False

    def verify_multiproof(self, multiproof: MultiProof[Any]) -> bool:
        """Does ``multiproof`` (leaves: value indices or values) prove against this root?"""
        try:
            leaves = [self._leaf_of(leaf) for leaf in multiproof.leaves]
            return process_multiproof(leaves, multiproof.proof, multiproof.proof_flags) == self.root
        except MerkleError:
            return False
