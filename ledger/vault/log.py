"""The evidence log: every read of a document, every evidence export and commitment opening,
every grant, revocation and erasure, as an entry that names who (participant id and role), what
(kind, record id) and when (unix seconds), with details that hold ids and codes only — never
clear personal data (no names, no id numbers, no document content).

An entry is hashed as RFC 8785 canonical JSON (`ledger.canonical.canonical_json`), keccak-256,
so it can be committed to in a Merkle batch (an OpenZeppelin standard leaf of
`(uint256 entry id, bytes32 entry_digest)`), anchored on chain by `ledger.vault.anchoring`; an
entry's `anchor` is None until its batch is mined.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.canonical import canonical_json
from ledger.errors import InputError
from ledger.merkle import StandardMerkleTree, to_hex
from ledger.merkle.keccak import keccak256
from ledger.store import EvidenceLogBatchRow, EvidenceLogRow

__all__ = [
    "KINDS",
    "LEAF_ENCODING",
    "LogAnchor",
    "LogEntry",
    "batch_entries",
    "evidence_log_of",
    "log_access",
    "log_tree",
]

#: the kinds of entries this library writes; others (evidence exports, commitment openings)
#: may use any lower-case word of their own
KINDS = (
    "document_read",
    "grant_created",
    "grant_revoked",
    "erasure_requested",
    "erasure_ordered",
    "erasure_executed",
)
_KIND = re.compile(r"^[a-z][a-z_]{0,39}$")
_MAX_DETAILS = 4096


class LogAnchor(BaseModel):
    """Where an entry is anchored: its batch's root, the transaction, the inclusion proof."""

    model_config = ConfigDict(frozen=True)

    root: str
    tx_hash: str | None
    block_number: int | None
    block_time: int | None
    entry_id: int = Field(description="the entry's id in the log: the leaf's first value")
    proof: list[str] = Field(description="OpenZeppelin MerkleProof of the entry's leaf")


class LogEntry(BaseModel):
    """One entry of the evidence log (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    record_id: str | None
    actor_id: int
    actor_role: str
    at: int = Field(description="unix seconds")
    details: dict[str, Any]
    entry_digest: str = Field(description="0x keccak-256 of the entry's RFC 8785 JSON")
    anchor: LogAnchor | None = Field(description="None while not yet anchored")


def _body(
    kind: str,
    record_id: str | None,
    actor_id: int,
    actor_role: str,
    at: int,
    details: dict[str, Any],
) -> dict[str, Any]:
    return {
        "v": 1,
        "kind": kind,
        "record_id": record_id,
        "actor_id": actor_id,
        "actor_role": actor_role,
        "at": at,
        "details": details,
    }


def log_access(
    session: Session,
    *,
    kind: str,
    record_id: str | None,
    actor_id: int,
    actor_role: str,
    details: dict[str, Any],
    at: int | None = None,
) -> None:
    """Appends an entry in `session`'s transaction (committed with what it records).

    `details` must be JSON of strings, integers, booleans, lists and objects (no floats: the
    entry is hashed) and hold no clear personal data."""
    if not _KIND.match(kind):
        raise InputError(f"log entry kind {kind!r} is not a lower-case word", code="INVALID_INPUT")
    when = int(time.time()) if at is None else at
    body = _body(
        kind, record_id.lower() if record_id else None, actor_id, actor_role, when, details
    )
    encoded = canonical_json(body)
    if len(encoded) > _MAX_DETAILS:
        raise InputError("log entry details are too long", code="TEXT_TOO_LONG")
    session.add(
        EvidenceLogRow(
            record_id=body["record_id"],
            kind=kind,
            entry_json=encoded.decode("utf-8"),
            entry_digest=to_hex(keccak256(encoded)),
            at=when,
        )
    )


#: the leaf of one entry: its id in the log and the keccak-256 of its RFC 8785 JSON
LEAF_ENCODING = ("uint256", "bytes32")


def log_tree(entries: Sequence[tuple[int, str]]) -> StandardMerkleTree:
    """The tree of a batch's (entry id, 0x digest) pairs."""
    return StandardMerkleTree.of(
        [[entry_id, bytes.fromhex(digest[2:])] for entry_id, digest in entries],
        list(LEAF_ENCODING),
    )


def batch_entries(s: Session, root: str) -> list[tuple[int, str]]:
    """The (id, digest) of the entries of the batch `root`, in log order."""
    return [
        (int(entry_id), str(digest))
        for entry_id, digest in s.execute(
            select(EvidenceLogRow.id, EvidenceLogRow.entry_digest)
            .where(EvidenceLogRow.batch_root == root)
            .order_by(EvidenceLogRow.id)
        ).all()
    ]


def _entry(row: EvidenceLogRow, anchor: LogAnchor | None) -> LogEntry:
    body = json.loads(row.entry_json)
    return LogEntry(
        kind=body["kind"],
        record_id=body["record_id"],
        actor_id=body["actor_id"],
        actor_role=body["actor_role"],
        at=body["at"],
        details=body["details"],
        entry_digest=row.entry_digest,
        anchor=anchor,
    )


def evidence_log_of(session: Session, record_id: str) -> list[LogEntry]:
    """Every entry about `record_id`, oldest first, each with its anchor (batch root,
    transaction, block, and the OpenZeppelin proof of its leaf `(uint256 id, bytes32 digest)`)
    once its batch is mined; None before (`ledger.vault.anchoring`)."""
    rows = session.scalars(
        select(EvidenceLogRow)
        .where(EvidenceLogRow.record_id == record_id.lower())
        .order_by(EvidenceLogRow.id)
    ).all()
    roots = {row.batch_root for row in rows if row.batch_root}
    batches = {
        b.root: b
        for b in session.scalars(
            select(EvidenceLogBatchRow).where(
                EvidenceLogBatchRow.root.in_(roots), EvidenceLogBatchRow.tx_hash.is_not(None)
            )
        ).all()
    }
    trees = {}
    for root in batches:
        listed = batch_entries(session, root)
        trees[root] = (log_tree(listed), {entry_id: n for n, (entry_id, _) in enumerate(listed)})
    entries = []
    for row in rows:
        batch = batches.get(row.batch_root or "")
        anchor = None
        if batch is not None:
            tree, position = trees[batch.root]
            proof = tree.get_proof(position[row.id])
            anchor = LogAnchor(
                root=batch.root,
                tx_hash=batch.tx_hash,
                block_number=batch.block_number,
                block_time=batch.block_time,
                entry_id=row.id,
                proof=[to_hex(node) for node in proof],
            )
        entries.append(_entry(row, anchor))
    return entries
