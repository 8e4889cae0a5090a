"""The receipt: one self-contained, versioned evidence package per anchored record.

It carries everything a court or auditor needs (人民法院在线诉讼规则 Art. 16-18): the record and
its EIP-712 typed data, the parties' signatures and addresses, the document digest and where the
document is kept, the fee disclosure in canonical form, the Merkle leaf (types, values, hash),
the proof and root, the chain id, contract addresses, transaction hash, block number and block
time, and the gateway's signed entry timestamp. Verification needs nothing else but read access
to a node of that chain. The JSON Schema is committed at `ledger/schemas/receipt-v1.schema.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger.records import Bytes32Hex, LoanRecord
from ledger.timestamps import SignedEntryTimestamp

__all__ = [
    "LEAF_TYPES",
    "RECEIPT_FORMAT",
    "SCHEMA_PATH",
    "Anchor",
    "DocumentRef",
    "Leaf",
    "PartySignature",
    "Receipt",
    "receipt_json_schema",
]

RECEIPT_FORMAT = "loan-evidence-receipt/v1"
#: OpenZeppelin StandardMerkleTree leaf encoding of a batched record: [recordId, signaturesHash].
LEAF_TYPES: tuple[str, str] = ("bytes32", "bytes32")
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "receipt-v1.schema.json"

Address = str


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PartySignature(_Part):
    """One party's EIP-712 signature over the record id."""

    participant_id: int = Field(ge=1)
    role: Literal["platform", "funder", "guarantor", "co_funder"]
    signer: Address = Field(
        pattern=r"^0x[0-9a-fA-F]{40}$", description="address the signature recovers to"
    )
    signature: str = Field(pattern=r"^0x[0-9a-f]{130}$")


class DocumentRef(_Part):
    """The agreement document: its digest, and where the original can be obtained."""

    sha256: Bytes32Hex
    media_type: str | None = None
    size: int | None = Field(default=None, ge=0)
    location: str | None = Field(
        default=None, description="where to get the original (vault URI...)"
    )


class Leaf(_Part):
    """The Merkle leaf as OpenZeppelin StandardMerkleTree encodes it."""

    types: list[str]
    values: list[str]
    hash: Bytes32Hex


class Anchor(_Part):
    """Where and when the record was anchored."""

    mode: Literal["batch", "per-record"]
    chain_id: int = Field(ge=1)
    registry: Address = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    ledger: Address = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    transaction_hash: Bytes32Hex
    block_number: int = Field(ge=0)
    block_time: int = Field(ge=0, description="unix seconds of the anchoring block")
    leaf: Leaf | None = Field(default=None, description="batch mode only")
    proof: list[Bytes32Hex] = Field(default_factory=list, description="batch mode only")
    root: Bytes32Hex | None = Field(default=None, description="batch mode only")
    batch_size: int | None = Field(default=None, ge=1)


class Receipt(_Part):
    """The evidence package of one record."""

    format: Literal["loan-evidence-receipt/v1"] = "loan-evidence-receipt/v1"
    record_type: Literal["LoanRecord"] = "LoanRecord"
    record: LoanRecord
    record_id: Bytes32Hex
    hash_algorithms: dict[str, str] = Field(
        default_factory=lambda: {
            "document": "sha-256",
            "disclosure": "sha-256 over RFC 8785 canonical JSON",
            "record_id": "EIP-712 (keccak-256)",
            "merkle": "OpenZeppelin StandardMerkleTree (keccak-256, sorted pairs)",
        }
    )
    typed_data: dict[str, Any] = Field(description="EIP-712 typed data any wallet library can hash")
    signatures: list[PartySignature]
    document: DocumentRef
    disclosure: dict[str, Any] | None = Field(
        default=None, description="the fee disclosure form (JSON)"
    )
    provenance: dict[str, str] = Field(
        default_factory=dict, description="source system, submitter..."
    )
    anchor: Anchor
    entry_timestamp: SignedEntryTimestamp | None = None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False)


def receipt_json_schema() -> dict[str, Any]:
    """The JSON Schema of a receipt (the committed file must equal this)."""
    schema = Receipt.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://loan-evidence-ledger.example/schemas/receipt-v1.schema.json"
    return schema
