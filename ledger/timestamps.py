"""Signed entry timestamps: a gateway's Ed25519-signed promise to anchor a record by a deadline.

Returned at once when a record is accepted (like Sigstore Rekor's SET). The payload is RFC 8785
canonical JSON, so anyone can re-serialize and check it with any Ed25519 library and the
gateway's public key registered on chain. If the record's anchor is later than the deadline (or
never comes), the signed promise proves the gateway at fault.
"""

from __future__ import annotations

from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict, Field

from ledger.canonical import canonical_json
from ledger.errors import SignatureError
from ledger.records import Bytes32Hex

__all__ = ["EntryPromise", "GatewayKey", "SignedEntryTimestamp", "verify_entry_timestamp"]


class EntryPromise(BaseModel):
    """What the gateway promises: this record (leaf) will be anchored on this chain by `deadline`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["entry-timestamp/v1"] = "entry-timestamp/v1"
    gateway_id: int = Field(ge=1)
    chain_id: int = Field(ge=1)
    ledger: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    record_id: Bytes32Hex
    leaf_hash: Bytes32Hex
    accepted_at: int = Field(ge=0, description="unix seconds")
    anchor_deadline: int = Field(ge=0, description="unix seconds")

    def canonical(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))


class SignedEntryTimestamp(BaseModel):
    """The promise, the Ed25519 public key it was signed with, and the signature (hex)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    promise: EntryPromise
    public_key: Bytes32Hex
    signature: str = Field(pattern=r"^0x[0-9a-f]{128}$")


class GatewayKey:
    """A gateway's Ed25519 signing key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key: bytes = raw

    @classmethod
    def generate(cls) -> GatewayKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> GatewayKey:
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def seed(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        return self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign(self, promise: EntryPromise) -> SignedEntryTimestamp:
        signature = self._key.sign(promise.canonical())
        return SignedEntryTimestamp(
            promise=promise,
            public_key="0x" + self.public_key.hex(),
            signature="0x" + signature.hex(),
        )


def verify_entry_timestamp(
    entry: SignedEntryTimestamp | dict[str, Any], expected_key: bytes | None = None
) -> None:
    """Raises `SignatureError` unless the signature over the promise is valid (under `expected_key`,
    typically the gateway's key registered on chain at `accepted_at`)."""
    set_ = (
        entry
        if isinstance(entry, SignedEntryTimestamp)
        else SignedEntryTimestamp.model_validate(entry)
    )
    key = bytes.fromhex(set_.public_key[2:])
    if expected_key is not None and key != expected_key:
        raise SignatureError(
            "entry timestamp was signed with a key that is not the gateway's registered key",
            code="ENTRY_TIMESTAMP_KEY_MISMATCH",
        )
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(
            bytes.fromhex(set_.signature[2:]), set_.promise.canonical()
        )
    except InvalidSignature as exc:
        raise SignatureError(
            "entry timestamp signature is invalid", code="ENTRY_TIMESTAMP_INVALID"
        ) from exc
