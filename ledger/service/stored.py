"""How the gateway keeps a record's evidence in its queue row, and reads it back.

A row holds the record, every party's signature with the address it recovers to (so nothing is
recovered twice), the document reference, the disclosure form, the provenance and, once
accepted, the entry timestamp. Rows written before receipt v2 kept bare signatures, ids as
strings and the gateway as `gateway`; they are read the same way.
"""

from __future__ import annotations

import json
from typing import Any

from ledger.anchoring import SignedLoan
from ledger.receipts import DocumentRef, DocumentRefV1, Provenance
from ledger.records import LoanRecord
from ledger.signing import recover_address
from ledger.timestamps import SignedEntryTimestamp

__all__ = ["Signatures", "provenance_of", "signatures_of", "signed_loan"]

#: participant id -> (signature 0x-hex, signer address)
Signatures = dict[int, tuple[str, str]]


def signatures_of(raw: str, record_id: str) -> Signatures:
    """A row's signatures (old rows: bare signatures, recovered here once)."""
    out: Signatures = {}
    for pid, value in json.loads(raw).items():
        if isinstance(value, str):
            signer = recover_address(bytes.fromhex(record_id[2:]), bytes.fromhex(value[2:]))
            out[int(pid)] = (value, signer)
        else:
            out[int(pid)] = (str(value["signature"]), str(value["signer"]))
    return out


def signatures_json(signatures: Signatures) -> str:
    return json.dumps(
        {
            str(pid): {"signature": sig, "signer": signer}
            for pid, (sig, signer) in signatures.items()
        }
    )


def provenance_of(raw: str) -> Provenance:
    data: dict[str, Any] = json.loads(raw)
    if "gateway" in data:  # before receipt v2
        data = {
            "submitted_by": int(data["submitted_by"]),
            "source_system": data.get("source_system", ""),
            "gateway_id": int(data["gateway"]),
        }
    return Provenance.model_validate(data)


def signed_loan(
    record_json: str,
    record_id: str,
    signatures: Signatures,
    document_json: str,
    disclosure_json: str | None,
    provenance_json: str,
    entry_timestamp_json: str | None,
) -> SignedLoan:
    """The `SignedLoan` of a stored record (every party has signed)."""
    record = LoanRecord.model_validate_json(record_json)
    ordered = [signatures[pid] for pid in record.signer_ids()]
    stored = DocumentRefV1.model_validate_json(document_json)
    return SignedLoan(
        record,
        bytes.fromhex(record_id[2:]),
        tuple(bytes.fromhex(sig[2:]) for sig, _ in ordered),
        tuple(signer for _, signer in ordered),
        DocumentRef(sha256=stored.sha256, media_type=stored.media_type, size=stored.size),
        json.loads(disclosure_json) if disclosure_json else None,
        provenance_of(provenance_json),
        SignedEntryTimestamp.model_validate_json(entry_timestamp_json)
        if entry_timestamp_json
        else None,
        document_location=stored.location,
    )
