"""The document vault as the admission stage uses it: agreements uploaded through the gateway,
encrypted at rest chunk by chunk (`ledger.vault`).

AES-256-GCM under a fresh data key per document, the data key wrapped by the master key (kept
outside the database). Destroying the wrapped key shreds the document; its digest stays on chain.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.vault import MasterKeyWrapper, StagedDocument
from ledger.vault.documents import store_document

__all__ = ["Documents"]


class Documents:
    def __init__(self, master_key: bytes) -> None:
        self._wrapper = MasterKeyWrapper(master_key)

    def store(
        self, s: Session, sha256_hex: str, document: bytes | StagedDocument, media_type: str
    ) -> None:
        """Encrypts the document into the vault in session `s` (once per digest)."""
        store_document(s, self._wrapper, sha256_hex, document, media_type)
