"""Bytes and their ``0x``-hex form: 32-byte nodes given as bytes or hex, ``to_hex``, JSON values.

Every function that takes a node accepts ``bytes`` or a ``0x``-prefixed hex string
(:data:`Node`) and coerces it here, with the same error messages everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ledger.errors import MerkleError

Node = bytes | str
"""A 32-byte tree node: raw ``bytes`` or a ``0x``-prefixed hex string."""

_HEX_RE = re.compile(r"0[xX][0-9a-fA-F]*")
_fromhex = bytes.fromhex


def to_hex(data: bytes | bytearray | memoryview) -> str:
    """``0x``-prefixed lowercase hex, the representation the JS library uses."""
    return "0x" + bytes(data).hex()


def _hex_to_bytes(value: str, what: str) -> bytes:
    if not _HEX_RE.fullmatch(value) or len(value) % 2:
        raise MerkleError(f"{what}: expected an even-length 0x-prefixed hex string, got {value!r}")
    return _fromhex(value[2:])


def _fixed_hex(value: object, n: int) -> bytes | None:
    """Fast path: ``value`` is a 0x-hex string of exactly ``n`` bytes -> the bytes, else None.

    (``bytes.fromhex`` skips whitespace, but then the result is shorter than ``n``.)
    """
    if type(value) is str and len(value) == 2 + 2 * n and value[0] == "0" and value[1] in "xX":
        try:
            raw = _fromhex(value[2:])
        except ValueError:
            return None
        if len(raw) == n:
            return raw
    return None


def _node(value: object, what: str = "node") -> bytes:
    """Coerce a 32-byte node given as bytes or hex."""
    if type(value) is bytes and len(value) == 32:
        return value
    if isinstance(value, bytes):
        raw = value
    elif isinstance(value, bytearray | memoryview):
        raw = bytes(value)
    elif isinstance(value, str):
        raw = _hex_to_bytes(value, what)
    else:
        raise MerkleError(f"{what}: expected 32 bytes or a hex string, got {type(value).__name__}")
    if len(raw) != 32:
        raise MerkleError(f"{what}: Merkle tree nodes must be 32 bytes long, got {len(raw)}")
    return raw


def _nodes(values: Sequence[object], what: str) -> list[bytes]:
    if isinstance(values, str | bytes | bytearray) or not isinstance(values, Sequence):
        raise MerkleError(f"{what}: expected a sequence of 32-byte nodes")
    try:
        out = [
            v
            if type(v) is bytes
            else _fromhex(v[2:])
            if type(v) is str and len(v) == 66 and v[0] == "0" and v[1] in "xX"
            else _node(v, what)
            for v in values
        ]
    except ValueError:  # non-hex digits on the fast path: redo slowly for a precise message
        out = [_node(v, what) for v in values]
    if not all(len(x) == 32 for x in out):
        out = [_node(v, what) for v in out]
    return out


_PLAIN_JSON = frozenset({str, int, bool, float, type(None)})


def _jsonable(value: object, ints_as_strings: bool = False) -> Any:
    """Values as JSON: bytes become 0x-hex, tuples become lists; the rest is kept."""
    if isinstance(value, list | tuple):
        if not ints_as_strings:
            return [x if type(x) in _PLAIN_JSON else _jsonable(x) for x in value]
        return [_jsonable(x, ints_as_strings) for x in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return to_hex(value)
    if ints_as_strings and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value
