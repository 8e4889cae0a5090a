"""The document vault: agreements uploaded through the gateway, encrypted at rest.

AES-256-GCM under a fresh data key per document, the data key wrapped by the master key (kept
outside the database). Destroying the wrapped key shreds the document; its digest stays on chain.
"""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from ledger.keystore import seal_document
from ledger.store import DocumentRow

__all__ = ["Documents"]


class Documents:
    def __init__(self, master_key: bytes) -> None:
        self._master = master_key

    def store(self, s: Session, sha256_hex: str, document: bytes, media_type: str) -> None:
        """Encrypts the document into the vault in session `s` (once per digest)."""
        if s.get(DocumentRow, sha256_hex) is not None:
            return
        ciphertext, wrapped = seal_document(self._master, document, sha256_hex)
        s.add(
            DocumentRow(
                sha256=sha256_hex,
                media_type=media_type,
                size=len(document),
                ciphertext=ciphertext,
                wrapped_key=wrapped,
                created_at=time.time(),
            )
        )
