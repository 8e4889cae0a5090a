"""Keccak-256 and EIP-55 addresses for the library.

Keccak has one implementation, in `ledger.merkle` (the fastest binding installed: safe-pysha3
~0.9 µs per 64-byte hash, else pycryptodome); this module re-exports it for code that is not about
Merkle trees. `checksum_address` is EIP-55 over that keccak, ~50x faster than eth-utils' (which
dominated receipt verification). SHA-256 digests live in `ledger.canonical`.
"""

from __future__ import annotations

from functools import lru_cache

from ledger.merkle import keccak256

__all__ = ["checksum_address", "keccak256"]

_HEX = frozenset("0123456789abcdef")


@lru_cache(maxsize=65_536)
def _checksum(lower: str) -> str:
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if d >= "8" and c > "9" else c for c, d in zip(lower, digest[:40], strict=True)
    )


def checksum_address(address: str | bytes) -> str:
    """The EIP-55 mixed-case form of a 20-byte address (bytes, or hex with or without 0x).

    `ValueError` if it is not 20 bytes of hex. Does not check an existing mix of cases: it is
    the canonical form, for comparing and printing."""
    if isinstance(address, bytes | bytearray):
        if len(address) != 20:
            raise ValueError(f"an address is 20 bytes, got {len(address)}")
        return _checksum(bytes(address).hex())
    lower = address.lower().removeprefix("0x")
    if len(lower) != 40 or not _HEX.issuperset(lower):
        raise ValueError(f"not an address: {address!r}")
    return _checksum(lower)
