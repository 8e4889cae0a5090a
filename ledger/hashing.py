"""Keccak-256 for the library.

It has one implementation, in `ledger.merkle` (the fastest binding installed: safe-pysha3 ~0.9 µs
per 64-byte hash, else pycryptodome); this module re-exports it for code that is not about
Merkle trees. SHA-256 digests live in `ledger.canonical`.
"""

from __future__ import annotations

from ledger.merkle import keccak256

__all__ = ["keccak256"]
