"""Which check vouches for which field of a receipt (format v2), and which fields nothing does.

Every leaf of the receipt's JSON Schema is in exactly one of the two tables; a test walks the
schema and fails if a field is added without saying how it is verified. `[]` stands for every
item of a list; `typed_data` and `disclosure` are free-form objects checked whole.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FIELD_CHECKS", "UNVERIFIED_FIELDS", "schema_fields"]

_RECORD = (
    "agreement_digest",
    "disclosure_digest",
    "borrower_commitment",
    "funder_id",
    "platform_id",
    "guarantor_id",
    "co_funder_id",
    "co_funder_share_bps",
    "principal",
    "apr_bps",
    "term_days",
    "issued_at",
    "flags",
)
_PROMISE = (
    "accepted_at",
    "anchor_deadline",
    "chain_id",
    "format",
    "gateway_id",
    "leaf_hash",
    "ledger",
    "metadata_digest",
    "record_id",
)

#: field -> the check that fails when the field is changed.
FIELD_CHECKS: dict[str, str] = {
    "format": "format",
    "record_type": "format",
    "hash_algorithms": "format",
    **{f"record.{name}": "record_id" for name in _RECORD},  # the parties signed the record id
    "record_id": "record_id",
    "typed_data": "typed_data",
    "signatures[].participant_id": "signatures",
    "signatures[].role": "signatures",
    "signatures[].signer": "signatures",
    "signatures[].signature": "signatures",
    "document.sha256": "document",
    "document.media_type": "provenance",  # bound by the promise's metadata digest
    "document.size": "provenance",
    "disclosure": "disclosure",
    "provenance.submitted_by": "provenance",
    "provenance.source_system": "provenance",
    "provenance.gateway_id": "provenance",
    "provenance.registry_block": "provenance",
    "anchor.mode": "anchor",
    "anchor.chain_id": "deployment",
    "anchor.registry": "deployment",
    "anchor.ledger": "deployment",
    "anchor.transaction_hash": "anchor",
    "anchor.block_number": "anchor",
    "anchor.block_time": "anchor",
    "anchor.leaf.types[]": "leaf",
    "anchor.leaf.values[]": "leaf",
    "anchor.leaf.hash": "leaf",
    "anchor.proof[]": "proof",
    "anchor.root": "proof",
    "anchor.batch_size": "anchor",
    **{f"entry_timestamp.promise.{name}": "entry_timestamp" for name in _PROMISE},
    "entry_timestamp.public_key": "entry_timestamp",
    "entry_timestamp.signature": "entry_timestamp",
}

#: fields no signature or chain fact covers: the report lists them as unverified.
UNVERIFIED_FIELDS: frozenset[str] = frozenset(
    {
        "unsigned.document_location",
        # the gateway's word that the document was erased (served after the erasure)
        "unsigned.document_erased.erased_at",
        "unsigned.document_erased.requested_by",
        "unsigned.document_erased.approved_by",
        "unsigned.document_erased.ordered_by",
    }
)


def schema_fields(schema: dict[str, Any]) -> set[str]:
    """The leaf paths of a JSON Schema (objects into their properties, arrays as `[]`)."""
    defs = schema.get("$defs", {})
    out: set[str] = set()

    def walk(node: dict[str, Any], path: str) -> None:
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        for key in ("anyOf", "oneOf"):
            if key in node:
                for alternative in node[key]:
                    if alternative.get("type") != "null":
                        walk(alternative, path)
                return
        if node.get("type") == "object" and "properties" in node:
            for name, sub in node["properties"].items():
                walk(sub, f"{path}.{name}" if path else name)
        elif node.get("type") == "array" and "items" in node:
            walk(node["items"], path + "[]")
        else:
            out.add(path)

    walk(schema, "")
    return out
