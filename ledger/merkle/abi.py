"""Solidity ``abi.encode`` of leaf values, and OZ's leaf and node hashes built on it.

Elementary types (``uint``/``int``, ``address``, ``bool``, ``bytesN``, ``bytes``, ``string``)
are encoded here without ``eth_abi``; arrays and tuples are normalised and handed to
``eth_abi``. :func:`leaf_hash` is ``standardLeafHash``, :func:`hash_pair` is
``standardNodeHash``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from ledger.errors import MerkleError
from ledger.merkle import keccak as _keccak
from ledger.merkle.hexutil import Node, _fixed_hex, _fromhex, _hex_to_bytes, _node
from ledger.merkle.keccak import _hasher

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
    k = _keccak._BACKEND.ctor
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
