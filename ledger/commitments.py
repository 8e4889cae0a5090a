"""Borrower commitments that can be opened before an auditor or a court.

A record names its borrower only by a 32-byte commitment (`ledger.canonical.borrower_commitment`):
HMAC-SHA-256 under a key, over the identity (type and number, normalized) and a salt. When the
gateway makes it, the key and the salt are fresh random values **for that one record** (32 and
16 bytes), sealed in the vault (`ledger.vault.secrets`). Without them nobody, the gateway's
database readers included, can test an ID number against the commitment; with them (an
`Opening`) anyone can, with any HMAC implementation, for that record and no other: no key is
shared between records, so an opening reveals nothing about another borrower.

Who holds what: the gateway holds the sealed key and salt; the loan's platform (on the
borrower's behalf) and the regulator may fetch them (each fetch is logged); the borrower's ID
number itself is never stored, so whoever presents an opening brings the identity. Erasure
destroys the key and the salt: the commitment can then never be opened. A platform that makes
commitments itself should likewise use a fresh key per record, or one opening reveals its key.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger.bounds import CleanText
from ledger.canonical import borrower_commitment
from ledger.errors import VerificationError

__all__ = [
    "COMMITMENT_SCHEME",
    "Opening",
    "OpeningSecret",
    "check_opening",
    "new_commitment",
    "pack_secret",
    "unpack_secret",
]

COMMITMENT_SCHEME: Final = "hmac-sha256/v1"
_KEY_BYTES = 32
_SALT_BYTES = 16


class Opening(BaseModel):
    """What opens one record's borrower commitment: the identity, the record's key and salt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheme: Literal["hmac-sha256/v1"] = "hmac-sha256/v1"
    id_type: CleanText = Field(min_length=1, max_length=32)
    id_number: CleanText = Field(min_length=1, max_length=64)
    key: str = Field(
        pattern=r"^0x(?:[0-9a-fA-F]{2}){32,128}$", description="the record's HMAC key (0x hex)"
    )
    salt: str = Field(pattern=r"^0x(?:[0-9a-fA-F]{2}){16,128}$", description="0x hex")


class OpeningSecret(BaseModel):
    """What the vault holds to open one record's commitment (the identity is not stored)."""

    model_config = ConfigDict(frozen=True)

    record_id: str
    commitment: str
    scheme: Literal["hmac-sha256/v1"]
    key: str = Field(description="the record's own HMAC key (0x hex, 32 bytes)")
    salt: str = Field(description="the record's salt (0x hex, 16 bytes)")


def new_commitment(id_type: str, id_number: str) -> tuple[bytes, bytes, bytes]:
    """(commitment, key, salt) for one record, under a fresh key and salt."""
    key, salt = secrets.token_bytes(_KEY_BYTES), secrets.token_bytes(_SALT_BYTES)
    return borrower_commitment(key, id_type, id_number, salt), key, salt


def pack_secret(key: bytes, salt: bytes) -> bytes:
    """The vault's form of a record's opening secret: key ‖ salt."""
    return key + salt


def unpack_secret(secret: bytes) -> tuple[bytes, bytes]:
    return secret[:_KEY_BYTES], secret[_KEY_BYTES:]


def check_opening(commitment: str, opening: Opening) -> None:
    """Raises `VerificationError` (check `borrower_commitment`) unless `opening` opens
    `commitment` (0x-hex): the same identity, key and salt give the same HMAC."""
    expected = borrower_commitment(
        bytes.fromhex(opening.key[2:]),
        opening.id_type,
        opening.id_number,
        bytes.fromhex(opening.salt[2:]),
    )
    if not hmac.compare_digest(expected, bytes.fromhex(commitment.removeprefix("0x"))):
        raise VerificationError(
            "borrower_commitment",
            "the identity, key and salt given do not open this commitment",
            code="COMMITMENT_MISMATCH",
        )
