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
"""

from __future__ import annotations

import gc
import re
import threading
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import Any, Generic, TypeVar

from ledger.errors import MerkleError

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

Node = bytes | str
"""A 32-byte tree node: raw ``bytes`` or a ``0x``-prefixed hex string."""

T = TypeVar("T")
_Hasher = Callable[[bytes], bytes]

# ---------------------------------------------------------------------------------------------
# keccak-256 backends
# ---------------------------------------------------------------------------------------------

_KECCAK_EMPTY = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")


@dataclass(frozen=True, slots=True)
class _Backend:
    """A keccak-256 binding: ``new_hasher()`` makes a hash function (one per thread), and
    ``ctor`` - when the binding has a cheap hash-object constructor (pysha3) - lets hot loops
    call ``ctor(data).digest()`` inline, saving a Python call per hash."""

    name: str
    new_hasher: Callable[[], _Hasher]
    ctor: Any = None


def _pysha3_backend() -> _Backend:
    import sha3  # safe-pysha3

    k: Any = sha3.keccak_256

    def hasher(data: bytes) -> bytes:
        return k(data).digest()  # type: ignore[no-any-return]

    return _Backend("pysha3", lambda: hasher, k)


def _cffi_backend() -> _Backend:
    # pycryptodome's C keccak core called directly: no Python hash object per call.
    from Crypto.Hash import keccak as _kmod
    from Crypto.Util import _raw_api

    if getattr(_raw_api, "backend", None) != "cffi":
        raise ImportError("pycryptodome is not using cffi")
    lib: Any = getattr(_kmod, "_raw_keccak_lib")  # noqa: B009 - private, untyped
    ffi: Any = getattr(_raw_api, "ffi")  # noqa: B009

    def new_hasher() -> _Hasher:
        holder = ffi.new("void **")
        if lib.keccak_init(holder, 64, 24):  # capacity 2*32 bytes, 24 rounds
            raise MerkleError("keccak_init failed")
        state = ffi.gc(holder[0], lib.keccak_destroy)
        out = ffi.new("uint8_t[32]")
        buf = ffi.buffer(out)
        reset, absorb, digest = lib.keccak_reset, lib.keccak_absorb, lib.keccak_digest

        def hasher(data: bytes) -> bytes:
            reset(state)
            absorb(state, data, len(data))
            digest(state, out, 32, 1)  # 0x01 = original Keccak padding
            return buf[:]  # type: ignore[no-any-return]

        return hasher

    return _Backend("pycryptodome-cffi", new_hasher)


def _pycryptodome_backend() -> _Backend:
    from Crypto.Hash import keccak as _kmod

    new = _kmod.new

    def hasher(data: bytes) -> bytes:
        return new(data=data, digest_bits=256).digest()

    return _Backend("pycryptodome", lambda: hasher)


def _available_backends() -> list[_Backend]:
    """Every usable keccak binding, fastest first (the tests cross-check them)."""
    found: list[_Backend] = []
    for load in (_pysha3_backend, _cffi_backend, _pycryptodome_backend):
        try:
            backend = load()
            if backend.new_hasher()(b"") == _KECCAK_EMPTY:
                found.append(backend)
        except Exception:  # an unusable optional binding is simply skipped
            continue
    return found


_BACKEND: _Backend = _available_backends()[0]  # pycryptodome is a hard dependency
KECCAK_BACKEND: str = _BACKEND.name
"""Name of the keccak-256 binding in use: ``pysha3``, ``pycryptodome-cffi`` or ``pycryptodome``."""

_tls = threading.local()


def _hasher() -> _Hasher:
    """A keccak-256 function private to the calling thread (cffi state is not shareable)."""
    if getattr(_tls, "backend", None) is not _BACKEND:
        _tls.hasher = _BACKEND.new_hasher()
        _tls.backend = _BACKEND
    h: _Hasher = _tls.hasher
    return h


def keccak256(data: bytes | bytearray | memoryview) -> bytes:
    """keccak-256 (the Ethereum one, not NIST SHA3-256) of ``data``."""
    return _hasher()(bytes(data))


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


# ---------------------------------------------------------------------------------------------
# bytes / hex helpers
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# ABI encoding (abi.encode) - fast path for elementary types, eth_abi for arrays / tuples
# ---------------------------------------------------------------------------------------------

_ZERO12 = bytes(12)
_ZERO32 = bytes(32)
_TRUE_WORD = (1).to_bytes(32, "big")
_INT_RE = re.compile(r"-?[0-9]+|0[xX][0-9a-fA-F]+")
_INT_TYPE_RE = re.compile(r"(u?)int([0-9]*)")
_BYTES_N_RE = re.compile(r"bytes([0-9]+)")

_Encode = Callable[[Any], bytes]


def _as_int(value: object, abi_type: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str):
        # The JS library accepts number, bigint, decimal strings and 0x-hex strings.
        if _INT_RE.fullmatch(value):
            return int(value, 16) if value[1:2] in ("x", "X") else int(value, 10)
    elif isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise MerkleError(f"{abi_type}: expected an integer, got {value!r}")


def _int_coercer(abi_type: str, bits: int, signed: bool) -> Callable[[object], int]:
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)

    def coerce(value: object) -> int:
        x = value if type(value) is int else _as_int(value, abi_type)
        if x < lo or x > hi:
            raise MerkleError(f"{abi_type}: {x} is out of range")
        return x

    return coerce


def _address_coercer(value: object) -> bytes:
    raw = _fixed_hex(value, 20)
    if raw is not None:
        return raw
    if isinstance(value, bytes | bytearray) and len(value) == 20:
        return bytes(value)
    raise MerkleError(f"address: expected 20 bytes or a 0x-prefixed 40-digit hex, got {value!r}")


def _bool_coercer(value: object) -> bool:
    if value is True or value == "true":
        return True
    if value is False or value == "false":
        return False
    raise MerkleError(f"bool: expected true/false, got {value!r}")


def _fixed_bytes_coercer(n: int) -> Callable[[object], bytes]:
    what = f"bytes{n}"

    def coerce(value: object) -> bytes:
        if isinstance(value, bytes):
            raw = value
        elif isinstance(value, str):
            raw = _hex_to_bytes(value, what)
        elif isinstance(value, bytearray | memoryview):
            raw = bytes(value)
        else:
            raise MerkleError(f"{what}: expected bytes or a hex string, got {value!r}")
        if len(raw) != n:
            raise MerkleError(f"{what}: expected {n} bytes, got {len(raw)}")
        return raw

    return coerce


def _dyn_bytes_coercer(value: object) -> bytes:
    if isinstance(value, str):
        return _hex_to_bytes(value, "bytes")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise MerkleError(f"bytes: expected bytes or a hex string, got {value!r}")


def _string_coercer(value: object) -> bytes:
    if not isinstance(value, str):
        raise MerkleError(f"string: expected a str, got {value!r}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MerkleError(f"string: not encodable as UTF-8: {exc}") from None


def _dynamic_tail(raw: bytes) -> bytes:
    return len(raw).to_bytes(32, "big") + raw + bytes(-len(raw) % 32)


def _uint_encoder(abi_type: str, bits: int) -> _Encode:
    coerce = _int_coercer(abi_type, bits, False)
    hi = (1 << bits) - 1

    def enc(v: Any) -> bytes:
        if type(v) is int and 0 <= v <= hi:
            return v.to_bytes(32, "big")
        return coerce(v).to_bytes(32, "big")

    return enc


def _int_encoder(abi_type: str, bits: int) -> _Encode:
    coerce = _int_coercer(abi_type, bits, True)
    return lambda v: coerce(v).to_bytes(32, "big", signed=True)


def _enc_address(v: Any) -> bytes:
    if type(v) is str and len(v) == 42 and v[0] == "0" and v[1] in "xX":
        try:
            raw = _fromhex(v[2:])
        except ValueError:
            raw = b""
        if len(raw) == 20:
            return _ZERO12 + raw
    return _ZERO12 + _address_coercer(v)


def _enc_bytes32(v: Any) -> bytes:
    if type(v) is bytes and len(v) == 32:
        return v
    if type(v) is str and len(v) == 66 and v[0] == "0" and v[1] in "xX":
        try:
            raw = _fromhex(v[2:])
        except ValueError:
            raw = b""
        if len(raw) == 32:
            return raw
    return _fixed_bytes_coercer(32)(v)


def _fixed_bytes_encoder(n: int) -> _Encode:
    if n == 32:
        return _enc_bytes32
    coerce = _fixed_bytes_coercer(n)
    pad = bytes(32 - n)
    return lambda v: coerce(v) + pad


def _elementary(abi_type: str) -> tuple[bool, _Encode] | None:
    """``(is_dynamic, encode)`` for an elementary type; None for arrays / tuples / others.

    ``encode`` returns the 32-byte word of a static type, the length-prefixed padded tail of
    ``bytes``/``string``.
    """
    t = abi_type
    if t == "address":
        return False, _enc_address
    if t == "bool":
        return False, lambda v: _TRUE_WORD if _bool_coercer(v) else _ZERO32
    if t == "string":
        return True, lambda v: _dynamic_tail(_string_coercer(v))
    if t == "bytes":
        return True, lambda v: _dynamic_tail(_dyn_bytes_coercer(v))
    m = _INT_TYPE_RE.fullmatch(t)
    if m:
        digits = m.group(2)
        bits = int(digits) if digits else 256
        if not (8 <= bits <= 256 and bits % 8 == 0) or digits[:1] == "0":
            raise MerkleError(f"invalid ABI type {abi_type!r}")
        return False, (_int_encoder(t, bits) if not m.group(1) else _uint_encoder(t, bits))
    m = _BYTES_N_RE.fullmatch(t)
    if m:
        n = int(m.group(1))
        if not 1 <= n <= 32 or m.group(1)[0] == "0":
            raise MerkleError(f"invalid ABI type {abi_type!r}")
        return False, _fixed_bytes_encoder(n)
    return None


def _normalize_for_eth_abi(abi_type: Any, value: object) -> object:
    """Turn JS-style values (hex strings, decimal strings...) into what eth_abi expects."""
    from eth_abi.grammar import TupleType

    type_str: str = abi_type.to_type_str()
    if abi_type.arrlist:
        if not isinstance(value, list | tuple):
            raise MerkleError(f"{type_str}: expected a list, got {value!r}")
        dim = abi_type.arrlist[-1]
        if dim and len(value) != dim[0]:
            raise MerkleError(f"{type_str}: expected {dim[0]} items, got {len(value)}")
        item = abi_type.item_type
        return [_normalize_for_eth_abi(item, v) for v in value]
    if isinstance(abi_type, TupleType):
        comps: Any = abi_type.components
        if not isinstance(value, list | tuple) or len(value) != len(comps):
            raise MerkleError(f"{type_str}: expected a list of {len(comps)} items, got {value!r}")
        return tuple(_normalize_for_eth_abi(c, v) for c, v in zip(comps, value, strict=True))
    base, sub = abi_type.base, abi_type.sub
    if base in ("uint", "int"):
        bits = sub if sub is not None else 256
        return _int_coercer(type_str, bits, base == "int")(value)
    if base == "address":
        return _address_coercer(value)
    if base == "bool":
        return _bool_coercer(value)
    if base == "string":
        _string_coercer(value)
        return value
    if base == "bytes":
        return _dyn_bytes_coercer(value) if sub is None else _fixed_bytes_coercer(sub)(value)
    raise MerkleError(f"unsupported ABI type {type_str!r}")


def _bad_values(types: tuple[str, ...], values: object) -> MerkleError:
    return MerkleError(f"expected a list of {len(types)} values for {list(types)}, got {values!r}")


@lru_cache(maxsize=256)
def _encoder(types: tuple[str, ...]) -> Callable[[Sequence[Any]], bytes]:
    """``abi.encode(types, values)`` specialised for ``types``; values must be a list/tuple."""
    n = len(types)
    elems = [_elementary(t) for t in types]
    specs = [e for e in elems if e is not None]

    if len(specs) == n and not any(dyn for dyn, _ in specs):
        fns = [f for _, f in specs]
        if n == 1:
            (f0,) = fns

            def enc1(values: Sequence[Any]) -> bytes:
                if len(values) != 1:
                    raise _bad_values(types, values)
                return f0(values[0])

            return enc1
        if n == 2:
            f0, f1 = fns

            def enc2(values: Sequence[Any]) -> bytes:
                if len(values) != 2:
                    raise _bad_values(types, values)
                return f0(values[0]) + f1(values[1])

            return enc2
        if n == 3:
            f0, f1, f2 = fns

            def enc3(values: Sequence[Any]) -> bytes:
                if len(values) != 3:
                    raise _bad_values(types, values)
                return f0(values[0]) + f1(values[1]) + f2(values[2])

            return enc3

        def enc_static(values: Sequence[Any]) -> bytes:
            if len(values) != n:
                raise _bad_values(types, values)
            return b"".join([f(v) for f, v in zip(fns, values, strict=True)])

        return enc_static

    if len(specs) == n:
        head_size = 32 * n

        def enc_dynamic(values: Sequence[Any]) -> bytes:
            if len(values) != n:
                raise _bad_values(types, values)
            heads: list[bytes] = []
            tails: list[bytes] = []
            offset = head_size
            for (dyn, f), v in zip(specs, values, strict=True):
                if dyn:
                    tail = f(v)
                    heads.append(offset.to_bytes(32, "big"))
                    tails.append(tail)
                    offset += len(tail)
                else:
                    heads.append(f(v))
            return b"".join(heads) + b"".join(tails)

        return enc_dynamic

    # Arrays / tuples: normalise the values and let eth_abi do the head/tail layout.
    from eth_abi.abi import encode as eth_abi_encode
    from eth_abi.exceptions import ParseError
    from eth_abi.grammar import normalize as _normalize
    from eth_abi.grammar import parse

    normalize: Callable[[str], str] = _normalize
    try:
        parsed: list[Any] = [parse(normalize(t)) for t in types]
        for p in parsed:
            p.validate()
    except (ParseError, ValueError) as exc:
        raise MerkleError(f"invalid ABI types {list(types)}: {exc}") from None
    type_strs = [p.to_type_str() for p in parsed]

    def enc_generic(values: Sequence[Any]) -> bytes:
        if len(values) != n:
            raise _bad_values(types, values)
        normalized = [_normalize_for_eth_abi(p, v) for p, v in zip(parsed, values, strict=True)]
        try:
            return eth_abi_encode(type_strs, normalized)
        except Exception as exc:
            raise MerkleError(f"cannot ABI-encode {values!r} as {list(types)}: {exc}") from None

    return enc_generic


def _types_key(types: Sequence[str]) -> tuple[str, ...]:
    if isinstance(types, str) or not all(isinstance(t, str) for t in types):
        raise MerkleError(f"leaf encoding must be a list of ABI type strings, got {types!r}")
    return tuple(types)


def _check_value(types: tuple[str, ...], value: object) -> None:
    if not isinstance(value, list | tuple):
        raise _bad_values(types, value)


def abi_encode(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """``abi.encode(values)`` for ``types``, accepting the value forms the JS library accepts.

    Integers: ``int``, decimal or ``0x`` strings. ``bytesN``/``bytes``: ``bytes`` or ``0x`` hex.
    ``address``: 20 bytes or ``0x`` + 40 hex digits (checksum not enforced, as in JS).
    ``bool``: ``True``/``False`` or ``"true"``/``"false"``. Lengths must be exact (the JS
    library silently pads short ``bytesN``/addresses; here that is an error).
    """
    key = _types_key(types)
    _check_value(key, values)
    return _encoder(key)(values)


def _leaf_hashes(types: tuple[str, ...], values: Sequence[Sequence[Any]]) -> list[bytes]:
    """``standardLeafHash`` of many values (which must already be lists/tuples)."""
    enc = _encoder(types)
    k = _BACKEND.ctor
    if k is not None:
        return [k(k(enc(v)).digest()).digest() for v in values]
    h = _hasher()
    return [h(h(enc(v))) for v in values]


def leaf_hash(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """OZ ``standardLeafHash``: ``keccak256(keccak256(abi.encode(types, values)))``."""
    h = _hasher()
    return h(h(abi_encode(types, values)))


def hash_pair(a: Node, b: Node) -> bytes:
    """OZ ``standardNodeHash`` / ``Hashes.commutativeKeccak256``: keccak of the sorted pair."""
    x, y = _node(a), _node(b)
    return _hasher()(x + y if x < y else y + x)


# ---------------------------------------------------------------------------------------------
# core: array-based tree, proofs, multiproofs (port of merkle-tree/src/core.ts)
# ---------------------------------------------------------------------------------------------


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
    k = _BACKEND.ctor
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


# ---------------------------------------------------------------------------------------------
# trees with values (port of merkletree.ts / standard.ts / simple.ts)
# ---------------------------------------------------------------------------------------------

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
