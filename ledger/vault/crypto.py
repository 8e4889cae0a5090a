"""The vault's cryptography: data keys wrapped by a `KeyWrapper`, documents as a STREAM of
AES-256-GCM chunks.

Each document gets a fresh 256-bit data key. Chunk `i` of `n` (each `CHUNK_SIZE` bytes of clear
text, the last one shorter, an empty document one empty chunk) is sealed with

    nonce = i (11 bytes, big-endian) ‖ final (1 byte: 1 for chunk n-1, else 0)
    associated data = b"ledger-vault-chunk:v1" ‖ sha256 of the document ‖ i (8 bytes) ‖ final

so a chunk cannot be moved to another place, another document, or passed off as the last one:
reordering, dropping or truncating chunks fails authentication (Hoang, Reyhanitabar, Rogaway,
Vizár: online AE, the STREAM construction). A nonce never repeats under one key because a key
seals one document only.
"""

from __future__ import annotations

from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.errors import LedgerError
from ledger.keystore import seal, unseal

__all__ = [
    "CHUNK_SIZE",
    "KeyWrapper",
    "MasterKeyWrapper",
    "chunk_cipher",
    "key_context",
    "new_data_key",
    "open_chunk",
    "seal_chunk",
]

CHUNK_SIZE = 1 << 20
"""Clear-text bytes per encrypted chunk (1 MiB): what upload and download hold in memory."""

_AD_PREFIX = b"ledger-vault-chunk:v1"


class KeyWrapper(Protocol):
    """Wraps and unwraps data keys: the master key today (`MasterKeyWrapper`), a KMS later.
    `context` names what the key is for; unwrapping with another context fails."""

    def wrap(self, data_key: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


class MasterKeyWrapper:
    """AES-256-GCM under the gateway's master key (kept outside the database)."""

    def __init__(self, master_key: bytes) -> None:
        self._key = master_key

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        return seal(self._key, data_key, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        return unseal(self._key, wrapped, context)


def key_context(sha256_hex: str) -> bytes:
    """What a document's data key is wrapped for (the label documents stored whole by earlier releases were sealed under)."""
    return b"document-key:" + sha256_hex.encode()


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _nonce_and_ad(digest: bytes, index: int, final: bool) -> tuple[bytes, bytes]:
    flag = b"\x01" if final else b"\x00"
    nonce = index.to_bytes(11, "big") + flag
    return nonce, _AD_PREFIX + digest + index.to_bytes(8, "big") + flag


def seal_chunk(cipher: AESGCM, digest: bytes, index: int, final: bool, chunk: bytes) -> bytes:
    nonce, ad = _nonce_and_ad(digest, index, final)
    return cipher.encrypt(nonce, chunk, ad)


def open_chunk(cipher: AESGCM, digest: bytes, index: int, final: bool, sealed: bytes) -> bytes:
    nonce, ad = _nonce_and_ad(digest, index, final)
    try:
        return cipher.decrypt(nonce, sealed, ad)
    except InvalidTag as exc:
        raise LedgerError(
            f"document chunk {index} does not authenticate (moved, cut or altered)",
            code="DOCUMENT_CORRUPT",
        ) from exc


def chunk_cipher(data_key: bytes) -> AESGCM:
    return AESGCM(data_key)
