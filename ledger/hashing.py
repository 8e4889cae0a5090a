"""Hash primitives shared by the library.

Keccak-256 has one implementation, in `ledger.merkle` (it picks the fastest binding installed:
safe-pysha3 ~0.9 µs per 64-byte hash, else pycryptodome); this module re-exports it.
"""

from __future__ import annotations

import hashlib

from ledger.merkle import keccak256

__all__ = ["keccak256", "sha256"]


def sha256(data: bytes) -> bytes:
    """SHA-256 digest of `data`."""
    return hashlib.sha256(data).digest()
