"""Documents in the vault: written and read as a stream of encrypted chunks (`ledger.vault.crypto`),
never whole in memory; documents stored whole by earlier versions (one AES-256-GCM blob) stay
readable. Shredding (`shred_document`) destroys the wrapped data key and every chunk.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from ledger.errors import DocumentErased, LedgerError, NotFound
from ledger.keystore import unseal
from ledger.store import Database, DocumentChunkRow, DocumentRow
from ledger.vault.crypto import (
    CHUNK_SIZE,
    KeyWrapper,
    MasterKeyWrapper,
    chunk_cipher,
    key_context,
    new_data_key,
    open_chunk,
    seal_chunk,
)

__all__ = [
    "DocumentInfo",
    "StagedDocument",
    "document_digest",
    "document_info",
    "document_stream",
    "shred_document",
    "stage",
    "store_document",
]


@dataclass(frozen=True)
class StagedDocument:
    """An upload already hashed, waiting in a seekable file (a spooled temporary file): what the
    vault encrypts chunk by chunk. `len()` is its size, like the bytes it stands for."""

    sha256: str  # 0x + 64 hex
    size: int
    file: BinaryIO

    def __len__(self) -> int:
        return self.size


def stage(file: BinaryIO, chunk_size: int = CHUNK_SIZE) -> StagedDocument:
    """Hashes a seekable file from its start, chunk by chunk; rewinds it."""
    file.seek(0)
    h, size = hashlib.sha256(), 0
    while chunk := file.read(chunk_size):
        h.update(chunk)
        size += len(chunk)
    file.seek(0)
    return StagedDocument("0x" + h.hexdigest(), size, file)


def document_digest(document: bytes | StagedDocument) -> bytes:
    """SHA-256 of a document in memory or staged."""
    if isinstance(document, StagedDocument):
        return bytes.fromhex(document.sha256[2:])
    return hashlib.sha256(document).digest()


def store_document(
    s: Session,
    wrapper: KeyWrapper,
    sha256_hex: str,
    document: bytes | StagedDocument,
    media_type: str,
) -> None:
    """Encrypts the document into the vault in session `s` (once per digest), one chunk at a
    time: each chunk is inserted as it is sealed, so memory holds one chunk."""
    if s.get(DocumentRow, sha256_hex) is not None:
        return
    source: BinaryIO = (
        document.file if isinstance(document, StagedDocument) else io.BytesIO(document)
    )
    source.seek(0)
    digest = bytes.fromhex(sha256_hex[2:])
    data_key = new_data_key()
    cipher = chunk_cipher(data_key)
    h, size, index = hashlib.sha256(), 0, 0
    chunk = source.read(CHUNK_SIZE)
    while True:
        following = source.read(CHUNK_SIZE) if len(chunk) == CHUNK_SIZE else b""
        final = not following
        h.update(chunk)
        size += len(chunk)
        s.execute(
            insert(DocumentChunkRow),
            {
                "sha256": sha256_hex,
                "idx": index,
                "ciphertext": seal_chunk(cipher, digest, index, final, chunk),
            },
        )
        index += 1
        if final:
            break
        chunk = following
    if h.digest() != digest:  # the file changed between staging and storing
        raise LedgerError(
            "the document changed while it was stored", code="DOCUMENT_DIGEST_MISMATCH"
        )
    s.add(
        DocumentRow(
            sha256=sha256_hex,
            media_type=media_type,
            size=size,
            ciphertext=None,
            wrapped_key=wrapper.wrap(data_key, key_context(sha256_hex)),
            created_at=time.time(),
            chunk_count=index,
        )
    )


@dataclass(frozen=True)
class DocumentInfo:
    sha256: str
    media_type: str
    size: int


def _live_row(s: Session, sha256_hex: str) -> DocumentRow:
    row = s.get(DocumentRow, sha256_hex)
    if row is None:
        raise NotFound(f"no document {sha256_hex} in the vault", code="DOCUMENT_NOT_FOUND")
    if row.shredded_at is not None or row.wrapped_key is None:
        raise DocumentErased(f"document {sha256_hex} was erased (its key is destroyed)")
    return row


def document_info(s: Session, sha256_hex: str) -> DocumentInfo:
    """Media type and size of a stored document; `DocumentErased` if shredded."""
    row = _live_row(s, sha256_hex)
    return DocumentInfo(row.sha256, row.media_type, row.size)


def document_stream(
    db: Database, sha256_hex: str, master_key: bytes | KeyWrapper
) -> Iterator[bytes]:
    """The document's clear text, chunk by chunk (each read in its own short transaction).

    Raises at once (not at the first `next`): `NotFound` `DOCUMENT_NOT_FOUND`, `DocumentErased`
    if shredded, `SEAL_INVALID` if the master key does not open its data key. While streaming,
    a chunk that does not authenticate (moved, cut, altered) raises `DOCUMENT_CORRUPT`."""
    wrapper = MasterKeyWrapper(master_key) if isinstance(master_key, bytes) else master_key
    with db.session() as s:
        row = _live_row(s, sha256_hex)
        assert row.wrapped_key is not None
        data_key = wrapper.unwrap(row.wrapped_key, key_context(sha256_hex))
        chunk_count, legacy = row.chunk_count, row.ciphertext
    if chunk_count is None:  # stored whole by an earlier version
        if legacy is None:
            raise DocumentErased(f"document {sha256_hex} was erased (its ciphertext is gone)")
        return _slices(unseal(data_key, legacy, sha256_hex.encode()))
    return _chunks(db, sha256_hex, data_key, chunk_count)


def _slices(clear: bytes) -> Iterator[bytes]:
    for start in range(0, len(clear), CHUNK_SIZE):
        yield clear[start : start + CHUNK_SIZE]


def _chunks(db: Database, sha256_hex: str, data_key: bytes, count: int) -> Iterator[bytes]:
    cipher = chunk_cipher(data_key)
    digest = bytes.fromhex(sha256_hex[2:])
    for index in range(count):
        with db.session() as s:
            sealed = s.execute(
                select(DocumentChunkRow.ciphertext).where(
                    DocumentChunkRow.sha256 == sha256_hex, DocumentChunkRow.idx == index
                )
            ).scalar_one_or_none()
        if sealed is None:
            raise DocumentErased(f"document {sha256_hex} lost chunk {index} (erased meanwhile?)")
        yield open_chunk(cipher, digest, index, index == count - 1, sealed)


def shred_document(s: Session, sha256_hex: str) -> bool:
    """Destroys the document's wrapped key, ciphertext and chunks; False if there was none."""
    row = s.get(DocumentRow, sha256_hex)
    if row is None:
        return False
    row.wrapped_key = None
    row.ciphertext = None
    row.shredded_at = time.time()
    s.execute(delete(DocumentChunkRow).where(DocumentChunkRow.sha256 == sha256_hex))
    return True
