"""Secrets at rest: the master key, sealed custodial signing keys, API keys, the document vault.

- The master key (32 bytes) lives in `<data dir>/master.key` (mode 0600) or comes from
  `LEDGER_MASTER_KEY` (hex); it never enters the database.
- `seal`/`unseal`: AES-256-GCM with a random 96-bit nonce and associated data naming what is
  sealed, so a sealed key cannot be swapped for another participant's.
- Documents: one random data key each (AES-256-GCM), wrapped by the master key. Shredding drops
  the wrapped key and the ciphertext: the document is gone, its digest on chain stays (PIPL).
- API keys: random 32 bytes, shown once; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.errors import ConfigurationError, LedgerError

__all__ = [
    "API_KEY_PREFIX",
    "hash_api_key",
    "load_master_key",
    "new_api_key",
    "open_document",
    "seal",
    "seal_document",
    "unseal",
]

API_KEY_PREFIX = "lel_"
_NONCE = 12


def load_master_key(data_dir: Path) -> bytes:
    """The master key from LEDGER_MASTER_KEY, or the data dir (created on first use)."""
    from_env = os.environ.get("LEDGER_MASTER_KEY")
    if from_env:
        key = bytes.fromhex(from_env)
        if len(key) != 32:
            raise ConfigurationError("LEDGER_MASTER_KEY must be 32 bytes of hex")
        return key
    path = data_dir / "master.key"
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise ConfigurationError(f"{path} is not a 32-byte key")
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def seal(master_key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """nonce ‖ AES-256-GCM(master_key, plaintext, associated)."""
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(master_key).encrypt(nonce, plaintext, associated)


def unseal(master_key: bytes, sealed: bytes, associated: bytes) -> bytes:
    """Opens `seal`'s output; `LedgerError` if the key, data or associated data do not match."""
    try:
        return AESGCM(master_key).decrypt(sealed[:_NONCE], sealed[_NONCE:], associated)
    except InvalidTag as exc:
        raise LedgerError(
            "sealed secret does not open with this master key", code="SEAL_INVALID"
        ) from exc


def seal_document(master_key: bytes, document: bytes, sha256_hex: str) -> tuple[bytes, bytes]:
    """(ciphertext, wrapped data key) of a document under a fresh data key."""
    data_key = AESGCM.generate_key(bit_length=256)
    ciphertext = seal(data_key, document, sha256_hex.encode())
    return ciphertext, seal(master_key, data_key, b"document-key:" + sha256_hex.encode())


def open_document(
    master_key: bytes, ciphertext: bytes, wrapped_key: bytes, sha256_hex: str
) -> bytes:
    data_key = unseal(master_key, wrapped_key, b"document-key:" + sha256_hex.encode())
    return unseal(data_key, ciphertext, sha256_hex.encode())


def new_api_key() -> str:
    """A fresh API key (shown to its owner once)."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    """What is stored and looked up: SHA-256 hex of the key."""
    return hashlib.sha256(api_key.encode()).hexdigest()
