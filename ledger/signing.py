"""secp256k1 signers for EIP-712 digests, and signature recovery.

`Signer` is the interface a KMS or HSM can implement later; `LocalSigner` keeps the key in
memory (coincurve: libsecp256k1) and stores it as an encrypted Ethereum keystore (v3, scrypt).
Recovery rejects high-s and malformed signatures exactly as OpenZeppelin's `ECDSA` does, so a
signature the library accepts is one the contract accepts.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import coincurve
from eth_account import Account
from eth_utils.address import to_checksum_address

from ledger.errors import SignatureError
from ledger.hashing import checksum_address, keccak256

__all__ = ["LocalSigner", "Signer", "recover_address", "verify_signature"]

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = _SECP256K1_N // 2


class Signer(ABC):
    """Anything that can sign a 32-byte digest for one Ethereum address."""

    @property
    @abstractmethod
    def address(self) -> str:
        """The checksummed address signatures recover to."""

    @abstractmethod
    def sign_digest(self, digest: bytes) -> bytes:
        """A 65-byte signature r ‖ s ‖ v (v = 27 or 28, low s) over `digest`."""


def _address_of(public_key: coincurve.PublicKey) -> str:
    return checksum_address(keccak256(public_key.format(compressed=False)[1:])[-20:])


class LocalSigner(Signer):
    """A key held in this process."""

    def __init__(self, private_key: bytes) -> None:
        if len(private_key) != 32:
            raise SignatureError("a secp256k1 private key is 32 bytes", code="KEY_INVALID")
        self._key = coincurve.PrivateKey(private_key)
        self._address = _address_of(self._key.public_key)

    @classmethod
    def generate(cls) -> LocalSigner:
        return cls(coincurve.PrivateKey().secret)

    @classmethod
    def from_hex(cls, private_key_hex: str) -> LocalSigner:
        return cls(bytes.fromhex(private_key_hex.removeprefix("0x")))

    @property
    def address(self) -> str:
        return self._address

    @property
    def private_key(self) -> bytes:
        return bytes(self._key.secret)

    def sign_digest(self, digest: bytes) -> bytes:
        signature = self._key.sign_recoverable(digest, hasher=None)
        return signature[:64] + bytes([signature[64] + 27])

    def to_keystore(self, password: str) -> dict[str, Any]:
        """An encrypted Ethereum keystore (v3, scrypt) of the key."""
        keystore: dict[str, Any] = Account.encrypt(self.private_key, password)
        return keystore

    @classmethod
    def from_keystore(cls, keystore: dict[str, Any] | Path, password: str) -> LocalSigner:
        data = json.loads(keystore.read_text()) if isinstance(keystore, Path) else keystore
        try:
            return cls(bytes(Account.decrypt(data, password)))
        except ValueError as exc:
            raise SignatureError(
                f"cannot decrypt key file: {exc}", code="KEY_DECRYPT_FAILED"
            ) from exc


def recover_address(digest: bytes, signature: bytes) -> str:
    """The address that made `signature` over `digest`; `SignatureError` if malformed."""
    if len(signature) != 65:
        raise SignatureError(f"a signature is 65 bytes, got {len(signature)}")
    v = signature[64]
    if v not in (27, 28):
        raise SignatureError(f"signature v must be 27 or 28, got {v}")
    if int.from_bytes(signature[32:64], "big") > _HALF_N:
        raise SignatureError("signature s is in the upper half of the curve order (malleable)")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes([v - 27]), digest, hasher=None
        )
    except Exception as exc:
        raise SignatureError(f"signature does not recover to a public key: {exc}") from exc
    return _address_of(public_key)


def verify_signature(digest: bytes, signature: bytes, expected_address: str) -> None:
    """Raises `SignatureError` unless `signature` over `digest` is by `expected_address`."""
    signer = recover_address(digest, signature)
    if signer.lower() != expected_address.lower():
        raise SignatureError(
            f"signature is by {signer}, expected {to_checksum_address(expected_address)}"
        )
