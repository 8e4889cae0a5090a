"""The evidence package's format: a ZIP a court can archive, its manifest (`package.json`) and
the facts gathered at export time (`evidence.json`).

A package holds, each as its own member with its SHA-256 and size listed in `package.json`:

    package.json        the manifest (format "evidence-package/v1"), signed by the gateway
    receipt.json        the record's receipt (`ledger.receipts`)
    report.json         the verification report, run at export time
    evidence.json       chain facts, trust root, signers at signing time, provenance, history
    trust-root.json     the deployment the package was verified against
    certificate.html    the bilingual certificate (中文 / English)
    certificate.pdf     the same, as PDF with embedded CJK fonts
    HOW-TO-VERIFY.txt   how to check it with our CLI or with open tools
    vault.json          every vault access, grant and erasure of the record (the evidence log,
                        each entry with its on-chain anchor and Merkle proof), and the erasure
    disclosure.json     a fee-disclosure/v2 form: every field with its salt and the multiproof
                        to the anchored digest (so the receipt's form is checked field by field)
    document/<name>     the original agreement file, unless it was erased

The manifest's signature is the exporting gateway's Ed25519 key, the one registered for it on
chain: changing any byte of `package.json` (a member's digest, the record id) is detected.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger.canonical import canonical_json
from ledger.records import Bytes32Hex
from ledger.trust import TrustRoot

__all__ = [
    "CERTIFICATE_HTML",
    "CERTIFICATE_PDF",
    "DISCLOSURE_JSON",
    "EVIDENCE_JSON",
    "HOW_TO_VERIFY",
    "MANIFEST",
    "PACKAGE_FORMAT",
    "RECEIPT_JSON",
    "REPORT_JSON",
    "TRUST_ROOT_JSON",
    "VAULT_JSON",
    "ChainSection",
    "DocumentEntry",
    "EvidenceFacts",
    "HistoryEvent",
    "Manifest",
    "ManifestSignature",
    "Member",
    "ProvenanceSection",
    "SignerAtSigning",
    "VaultSection",
]

PACKAGE_FORMAT = "evidence-package/v1"
MANIFEST = "package.json"
RECEIPT_JSON = "receipt.json"
REPORT_JSON = "report.json"
EVIDENCE_JSON = "evidence.json"
TRUST_ROOT_JSON = "trust-root.json"
CERTIFICATE_HTML = "certificate.html"
CERTIFICATE_PDF = "certificate.pdf"
HOW_TO_VERIFY = "HOW-TO-VERIFY.txt"
VAULT_JSON = "vault.json"
DISCLOSURE_JSON = "disclosure.json"


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Member(_Part):
    """One file of the package: its name, SHA-256 (0x-hex) and size."""

    name: str = Field(max_length=200)
    sha256: Bytes32Hex
    size: int = Field(ge=0)
    media_type: str = Field(max_length=200)


class VaultSection(_Part):
    """What the vault knows of the record: every entry of the evidence log about it (reads of
    its document, disclosures, commitment openings, exports, grants, erasure steps), each with
    its anchor on chain once mined; and its erasure, if any (with its reason and reference)."""

    evidence_log: list[dict[str, Any]] = Field(description="`ledger.vault.LogEntry` objects")
    erasure: dict[str, Any] | None = Field(description="`ledger.vault.Erasure`, or None")


class DocumentEntry(_Part):
    """The original agreement: included (as `member`), or why not."""

    status: Literal["included", "erased", "not_held"]
    sha256: Bytes32Hex = Field(description="the digest the record carries")
    member: str | None = None
    media_type: str | None = None
    size: int | None = None
    note: str = ""


class ManifestSignature(_Part):
    """The exporting gateway's Ed25519 signature over the canonical JSON of the manifest without
    this field (RFC 8785), under its key registered on chain at `exported_at`."""

    gateway_id: int = Field(ge=1, lt=2**64)
    public_key: str = Field(pattern=r"^0x[0-9a-f]{64}$")
    signature: str = Field(pattern=r"^0x[0-9a-f]{128}$")


class Manifest(_Part):
    """`package.json`."""

    format: Literal["evidence-package/v1"] = "evidence-package/v1"
    record_id: Bytes32Hex
    exported_at: int = Field(ge=0, description="unix seconds, the gateway's clock")
    exported_by: dict[str, Any] = Field(description="the gateway and the caller who exported it")
    members: list[Member]
    document: DocumentEntry
    sections_not_included: dict[str, str] = Field(
        default_factory=dict, description="sections of the format this package lacks, and why"
    )
    signature: ManifestSignature | None = None

    def signed_bytes(self) -> bytes:
        """What the signature covers: the canonical JSON of everything but the signature."""
        return canonical_json(self.model_dump(mode="json", exclude={"signature"}))

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)


class ChainSection(_Part):
    """Where the record is on chain (from the receipt, checked by the verifier)."""

    chain_id: int
    registry: str
    ledger: str
    mode: str
    transaction_hash: str
    block_number: int
    block_time: int
    leaf: dict[str, Any] | None = None
    proof: list[str] = Field(default_factory=list)
    root: str | None = None
    batch_size: int | None = None


class SignerAtSigning(_Part):
    """A party's registration in the registry when the record was issued (its epoch then)."""

    slot: str
    participant_id: int
    name: str | None
    role: str | None
    institution_type: str | None
    signer: str = Field(description="the address the signature recovers to (receipt)")
    registered_signer: str | None = Field(description="the registry's signer at issued_at")
    epoch_valid_from: int | None = Field(description="unix seconds that key was registered")
    status_at_signing: str | None


class ProvenanceSection(_Part):
    """Where the record came from (Art. 18), as the receipt and the fee form give it."""

    source_system: str | None
    submitted_by: int | None
    submitted_by_name: str | None
    gateway_id: int | None
    gateway_name: str | None
    entry_accepted_at: int | None = Field(description="the gateway's signed entry timestamp")
    anchor_deadline: int | None
    borrower_confirmation_method: str | None
    borrower_confirmed_at: str | None
    borrower_reading_seconds: int | None
    issued_at: int


class HistoryEvent(_Part):
    """A revocation or amendment touching the record, from the ledger's events."""

    event: Literal["revoked", "amended", "amends"]
    record_id: str
    superseded_by: str | None
    reason_code: int
    retired_at: int
    transaction_hash: str
    block_number: int


class EvidenceFacts(_Part):
    """`evidence.json`: what the exporting gateway gathered beyond the receipt."""

    record_id: Bytes32Hex
    chain: ChainSection
    trust_root: TrustRoot
    signers: list[SignerAtSigning]
    provenance: ProvenanceSection
    history: list[HistoryEvent]
    head_block: int = Field(description="the chain head the history was read to")
