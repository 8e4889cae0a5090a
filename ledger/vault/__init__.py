"""The document vault (issue 14): agreements encrypted at rest as a STREAM of AES-256-GCM chunks
under a per-document data key wrapped by a `KeyWrapper` (the master key today); who may read
them (parties, regulator, auditors with a live grant); the evidence log of reads, grants and
erasures (hashed; on-chain anchoring not built yet); crypto-shredding (erasure).

Modules: `crypto` (keys, chunk sealing), `documents` (store, stream, shred), `log` (entries,
hashing), `grants`, `erasure`, `vault` (`Vault`: the operations with their access rules).

The library interface others build on: `evidence_log_of`, `erasure_of`, `log_access`,
`document_stream` (clear text of a stored document by digest, `DocumentErased` if shredded).
"""

from __future__ import annotations

from ledger.vault.crypto import CHUNK_SIZE, KeyWrapper, MasterKeyWrapper
from ledger.vault.documents import (
    DocumentInfo,
    StagedDocument,
    document_digest,
    document_stream,
    stage,
)
from ledger.vault.erasure import Erasure, erasure_of
from ledger.vault.grants import Grant
from ledger.vault.log import LogAnchor, LogEntry, evidence_log_of, log_access
from ledger.vault.vault import Vault

__all__ = [
    "CHUNK_SIZE",
    "DocumentInfo",
    "Erasure",
    "Grant",
    "KeyWrapper",
    "LogAnchor",
    "LogEntry",
    "MasterKeyWrapper",
    "StagedDocument",
    "Vault",
    "document_digest",
    "document_stream",
    "erasure_of",
    "evidence_log_of",
    "log_access",
    "stage",
]
