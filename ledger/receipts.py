"""The receipt: one self-contained, versioned evidence package per anchored record.

It carries everything a court or auditor needs (人民法院在线诉讼规则 Art. 16-18): the record and
its EIP-712 typed data, the parties' signatures and addresses, the document digest, media type
and size, the fee disclosure in canonical form, the provenance (who submitted it, from which
system, through which gateway), the Merkle leaf (types, values, hash), the proof and root, the
chain id, contract addresses, transaction hash, block number and block time, and the gateway's
signed entry timestamp. Verification needs nothing else but read access to a node of that chain
and the trust root of the deployment (`ledger.trust`).

Every field is bound to something signed or on chain, and checked (the map of field to check is
`ledger.verify.fields`), except those in `unsigned`: hints such as where the original document
can be fetched, which any holder of the receipt could change and which the verification report
lists as unverified.

Version 2 (`loan-evidence-receipt/v2`) binds the provenance and the document's media type and
size into the entry timestamp (`metadata_digest`) and moves the document's location into
`unsigned`. Version 1 receipts still verify; their provenance and document metadata are listed
as unverified. The JSON Schemas are committed under `ledger/schemas/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from ledger.canonical import canonical_digest, matches_digest
from ledger.errors import LedgerError, VerificationError
from ledger.records import Bytes32Hex, LoanRecord, Slot
from ledger.timestamps import SignedEntryTimestamp

__all__ = [
    "HASH_ALGORITHMS",
    "LEAF_TYPES",
    "RECEIPT_FORMAT",
    "RECEIPT_FORMAT_V1",
    "SCHEMA_DIR",
    "Anchor",
    "AnyReceipt",
    "DocumentRef",
    "DocumentRefV1",
    "ErasureNote",
    "Leaf",
    "PartySignature",
    "Provenance",
    "Receipt",
    "ReceiptV1",
    "Unsigned",
    "metadata_digest",
    "metadata_matches",
    "parse_receipt",
    "receipt_json_schema",
    "schema_path",
]

RECEIPT_FORMAT = "loan-evidence-receipt/v2"
RECEIPT_FORMAT_V1 = "loan-evidence-receipt/v1"
#: OpenZeppelin StandardMerkleTree leaf encoding of a batched record: [recordId, signaturesHash].
LEAF_TYPES: tuple[str, str] = ("bytes32", "bytes32")
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
#: The algorithms a receipt is built with; a receipt naming others is refused (check `format`).
HASH_ALGORITHMS: dict[str, str] = {
    "document": "sha-256",
    "disclosure": "sha-256 over RFC 8785 canonical JSON",
    "record_id": "EIP-712 (keccak-256)",
    "merkle": "OpenZeppelin StandardMerkleTree (keccak-256, sorted pairs)",
}

Address = str
Role = Slot


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PartySignature(_Part):
    """One party's EIP-712 signature over the record id."""

    participant_id: int = Field(ge=1, lt=2**64)
    role: Role = Field(description="the record's slot the party signs for")
    signer: Address = Field(
        pattern=r"^0x[0-9a-fA-F]{40}$", description="address the signature recovers to"
    )
    signature: str = Field(pattern=r"^0x[0-9a-f]{130}$")


class DocumentRef(_Part):
    """The agreement document: its digest (in the record), media type and size (bound by the
    gateway's entry timestamp)."""

    sha256: Bytes32Hex
    media_type: str | None = Field(default=None, max_length=200)
    size: int | None = Field(default=None, ge=0, lt=2**63)


class DocumentRefV1(DocumentRef):
    """Version 1 also gave the document's location here (unverified)."""

    location: str | None = Field(
        default=None, description="where to get the original (vault URI...)"
    )


class Provenance(_Part):
    """Where the record came from (Art. 18: source, submitter), as the gateway attests it."""

    submitted_by: int = Field(ge=1, lt=2**64, description="participant that submitted it")
    source_system: str = Field(default="", max_length=200)
    gateway_id: int = Field(ge=1, lt=2**64, description="gateway that accepted it")
    registry_block: int | None = Field(
        default=None,
        ge=0,
        lt=2**63,
        description="the block of the registry view the gateway checked the rules against",
    )


class ErasureNote(_Part):
    """The document was erased (crypto-shredded, PIPL): when, and on whose request and order."""

    erased_at: int = Field(ge=0, lt=2**63, description="unix seconds")
    requested_by: int = Field(ge=1, lt=2**64, description="the platform that asked")
    approved_by: int | None = Field(default=None, ge=1, lt=2**64, description="the funder")
    ordered_by: int | None = Field(default=None, ge=1, lt=2**64, description="the regulator")


class Unsigned(_Part):
    """Hints no signature or chain fact covers; the report lists them as unverified."""

    document_location: str | None = Field(
        default=None, max_length=1000, description="where the original document can be fetched"
    )
    document_erased: ErasureNote | None = Field(
        default=None,
        description="set when the receipt is served after the document was erased: the hash"
        " stays anchored and verifies, the file is gone",
    )


class Leaf(_Part):
    """The Merkle leaf as OpenZeppelin StandardMerkleTree encodes it."""

    types: list[str]
    values: list[str]
    hash: Bytes32Hex


class Anchor(_Part):
    """Where and when the record was anchored."""

    mode: Literal["batch", "per-record"]
    chain_id: int = Field(ge=1, lt=2**64)
    registry: Address = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    ledger: Address = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    transaction_hash: Bytes32Hex
    block_number: int = Field(ge=0, lt=2**63)
    block_time: int = Field(ge=0, lt=2**64, description="unix seconds of the anchoring block")
    leaf: Leaf | None = Field(default=None, description="batch mode only")
    proof: list[Bytes32Hex] = Field(default_factory=list, description="batch mode only")
    root: Bytes32Hex | None = Field(default=None, description="batch mode only")
    batch_size: int | None = Field(default=None, ge=1, lt=2**32)

    @model_validator(mode="after")
    def _shape_of_mode(self) -> Anchor:
        if self.mode == "batch" and (self.leaf is None or self.root is None):
            raise ValueError("a batch anchor needs its leaf and root")
        if self.mode == "per-record" and (
            self.leaf is not None or self.root is not None or self.proof or self.batch_size
        ):
            raise ValueError("a per-record anchor has no leaf, proof, root or batch size")
        return self


class _ReceiptBase(_Part):
    record_type: Literal["LoanRecord"] = "LoanRecord"
    record: LoanRecord
    record_id: Bytes32Hex
    hash_algorithms: dict[str, str] = Field(default_factory=lambda: dict(HASH_ALGORITHMS))
    typed_data: dict[str, Any] = Field(description="EIP-712 typed data any wallet library can hash")
    signatures: list[PartySignature] = Field(max_length=16)
    disclosure: dict[str, Any] | None = Field(
        default=None, description="the fee disclosure form (JSON)"
    )
    anchor: Anchor
    entry_timestamp: SignedEntryTimestamp | None = None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False)


class Receipt(_ReceiptBase):
    """The evidence package of one record (version 2)."""

    format: Literal["loan-evidence-receipt/v2"] = "loan-evidence-receipt/v2"
    document: DocumentRef
    provenance: Provenance | None = Field(
        default=None, description="None for a record anchored without a gateway"
    )
    unsigned: Unsigned = Field(default_factory=Unsigned)


class ReceiptV1(_ReceiptBase):
    """A receipt of the first format: provenance and document metadata were not bound."""

    format: Literal["loan-evidence-receipt/v1"] = "loan-evidence-receipt/v1"
    document: DocumentRefV1
    provenance: dict[str, str] = Field(
        default_factory=dict, description="source system, submitter..."
    )


AnyReceipt = Receipt | ReceiptV1


def _metadata(provenance: Provenance | None, document: DocumentRef) -> dict[str, Any]:
    return {
        "provenance": provenance.model_dump(mode="json") if provenance is not None else None,
        "document": {"media_type": document.media_type, "size": document.size},
    }


def metadata_digest(provenance: Provenance | None, document: DocumentRef) -> str:
    """SHA-256 (0x-hex) of the canonical JSON of what the gateway attests beyond the record: the
    provenance and the document's media type and size. Bound by `EntryPromise.metadata_digest`."""
    return "0x" + canonical_digest(_metadata(provenance, document)).hex()


def metadata_matches(digest: str, provenance: Provenance | None, document: DocumentRef) -> bool:
    """Whether `metadata_digest(provenance, document) == digest` (fast: `matches_digest`)."""
    return matches_digest(_metadata(provenance, document), bytes.fromhex(digest[2:]))


_ANY_RECEIPT: TypeAdapter[AnyReceipt] = TypeAdapter(
    Annotated[Receipt | ReceiptV1, Field(discriminator="format")]
)


def parse_receipt(data: AnyReceipt | dict[str, Any] | bytes | str) -> AnyReceipt:
    """A receipt of either format; `VerificationError` (check `format`) if it is neither."""
    if isinstance(data, Receipt | ReceiptV1):
        return data
    try:
        if isinstance(data, bytes | str):
            # pydantic's Rust parser bounds nesting itself (it refuses, it does not crash)
            return _ANY_RECEIPT.validate_json(data)
        if not isinstance(data, dict):
            raise ValueError("a receipt is a JSON object")
        return _ANY_RECEIPT.validate_python(data)
    except (ValueError, LedgerError) as exc:
        detail = exc.message if isinstance(exc, LedgerError) else str(exc)
        raise VerificationError(
            "format", f"not a valid receipt: {detail}", code="VERIFY_FORMAT"
        ) from exc


def schema_path(version: int = 2) -> Path:
    return SCHEMA_DIR / f"receipt-v{version}.schema.json"


def receipt_json_schema(version: int = 2) -> dict[str, Any]:
    """The JSON Schema of a receipt (the committed file must equal this)."""
    model: type[BaseModel] = Receipt if version == 2 else ReceiptV1
    schema = model.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://loan-evidence-ledger.example/schemas/receipt-v{version}.schema.json"
    return schema
