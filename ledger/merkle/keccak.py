"""keccak-256 for the Merkle library: the fastest binding installed, one hasher per thread.

The bindings, fastest first: ``safe-pysha3``, pycryptodome's C core called through cffi, then
``Crypto.Hash.keccak``. :data:`KECCAK_BACKEND` names the one in use; :func:`keccak256` hashes
with it. ``_BACKEND`` is read at call time by the tree builders (``ledger.merkle.core``,
``ledger.merkle.abi``), so swapping it swaps the binding everywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.errors import MerkleError

_Hasher = Callable[[bytes], bytes]

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
