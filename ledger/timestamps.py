"""Signed entry timestamps: a gateway's Ed25519-signed promise to anchor a record by a deadline.

Returned at once when a record is accepted (like Sigstore Rekor's SET). The payload is RFC 8785
canonical JSON, so anyone can re-serialize and check it with any Ed25519 library and the
gateway's public key registered on chain. If the record's anchor is later than the deadline (or
never comes), the signed promise proves the gateway at fault.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey
from pydantic import BaseModel, ConfigDict, Field

from ledger.canonical import canonical_json, canonical_model_json, compact_json
from ledger.errors import SignatureError
from ledger.records import Bytes32Hex

__all__ = [
    "EntryPromise",
    "EntryPromiseV1",
    "GatewayKey",
    "SignedEntryTimestamp",
    "verify_entry_timestamp",
]


class EntryPromiseV1(BaseModel):
    """What the gateway promises: this record (leaf) will be anchored on this chain by `deadline`.

    Version 1 (receipts before `loan-evidence-receipt/v2`): says nothing of the provenance or the
    document's media type and size, so those stay unverified in such receipts."""

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
        return canonical_model_json(self)


class EntryPromise(EntryPromiseV1):
    """Version 2: the promise also binds `metadata_digest`, the SHA-256 of the canonical JSON of
    the record's provenance and document metadata (`ledger.receipts.metadata_digest`), so the
    gateway answers for who submitted the record, from which system, and what file it was."""

    format: Literal["entry-timestamp/v2"] = "entry-timestamp/v2"  # type: ignore[assignment]
    metadata_digest: Bytes32Hex


class SignedEntryTimestamp(BaseModel):
    """The promise, the Ed25519 public key it was signed with, and the signature (hex)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    promise: Annotated[EntryPromise | EntryPromiseV1, Field(discriminator="format")]
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

    def sign_bytes(self, message: bytes) -> bytes:
        """The Ed25519 signature of `message` (an evidence package's manifest)."""
        return self._key.sign(message)

    def sign(self, promise: EntryPromiseV1) -> SignedEntryTimestamp:
        signature = self._key.sign(promise.canonical())
        return SignedEntryTimestamp(
            promise=promise,
            public_key="0x" + self.public_key.hex(),
            signature="0x" + signature.hex(),
        )


@lru_cache(maxsize=1024)
def _public_key(raw: bytes) -> VerifyKey:
    # Verification through libsodium (PyNaCl): twice as fast as OpenSSL's here, and strict
    # (canonical encodings only). Signing stays with `cryptography`; both are RFC 8032 Ed25519.
    return VerifyKey(raw)


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
    public_key, signature = _public_key(key), bytes.fromhex(set_.signature[2:])
    fields = set_.promise.model_dump(mode="json")
    try:  # the compact form is the canonical one for any promise a gateway signs: try it first
        public_key.verify(compact_json(fields), signature)
        return
    except (CryptoError, ValueError):
        pass
    try:
        public_key.verify(canonical_json(fields), signature)
    except (CryptoError, ValueError) as exc:
        raise SignatureError(
            "entry timestamp signature is invalid", code="ENTRY_TIMESTAMP_INVALID"
        ) from exc
