"""The checks, link by link, of one receipt against the deployment the auditor trusts.

In order (each named in the report and in the error):

    format            a receipt format this verifier knows, built with the known algorithms
    deployment        the node is the trusted chain (chain id, genesis hash); the receipt names
                      the trusted registry and ledger, the ledger reads that registry, the
                      regulator holds its role. Without a trust root: skipped, and said so
    document          the receipt's document digest is the record's; the given document (or
                      digest) hashes to it, and has the stated size
    disclosure        SHA-256 of the RFC 8785 form = the record's disclosure digest (a v2 form:
                      a disclosure of every field proves it, else skipped); its principal
                      is the record's; its stated APR follows from its own schedule and fees
                      (within tolerance), and the record's APR is the one they give (to the bp)
    disclosure_fields (only when a field disclosure is given) its multiproof leads from the
                      disclosed fields to the record's disclosure digest, it names this record,
                      and the receipt's form, if any, has the same values at those paths
    record_id         EIP-712 digest of the record under the trusted domain = the receipt's id
    typed_data        the receipt's EIP-712 JSON describes the same record and domain
    signatures        one per party in the contract's order, each labelled with its slot and of a
                      participant registered in the role that slot needs, each recovering to the
                      key registered for that participant at the anchoring time
    leaf              (batch) [record id, keccak256(abi.encode(signatures))], hashed as
                      OpenZeppelin StandardMerkleTree does
    proof             (batch) the proof leads from the leaf to the root
    anchor            the trusted ledger emitted the root (batch) or the record (per record) in
                      the stated transaction and block, at the stated time; the batch holds the
                      stated number of records
    entry_timestamp   the gateway's Ed25519 promise is valid under its key registered on chain,
                      names this record, chain, ledger and leaf, and was kept (anchored by the
                      deadline); a batch receipt must carry one
    provenance        the provenance and the document's media type and size are the ones the
                      promise binds (receipt v2)
    rate_cap          the APR is within the cap for the funder's institution type at issue time
                      (or a legacy loan issued before the cutoff)
    violation         no violation of the record was proven on chain
    status            the record has not been revoked or superseded
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from ledger.canonical import canonical_digest, digest_bytes, digest_file, matches_digest
from ledger.disclosure import FORMAT_V2, FeeDisclosure
from ledger.disclosure_proofs import Disclosure, form_leaves, verify_disclosure
from ledger.eip712 import Domain, loan_record_id, signatures_hash, typed_data
from ledger.enums import Role
from ledger.errors import LedgerError, SignatureError, VerificationError
from ledger.hashing import checksum_address
from ledger.merkle import leaf_hash, process_proof
from ledger.receipts import (
    HASH_ALGORITHMS,
    LEAF_TYPES,
    AnyReceipt,
    Receipt,
    ReceiptV1,
    metadata_matches,
)
from ledger.timestamps import EntryPromise, verify_entry_timestamp
from ledger.trust import TrustRoot
from ledger.verify.facts import ChainFacts

__all__ = [
    "CHECKS",
    "CHECKS_WITH_FIELDS",
    "CHECK_NAMES",
    "FIELDS_CHECK",
    "CheckFailed",
    "CheckSkipped",
    "ReceiptChecks",
    "slots",
]

# The role a signature's slot needs in the registry.
_SLOT_ROLES: dict[str, Role] = {
    "platform": Role.PLATFORM,
    "funder": Role.FUNDER,
    "guarantor": Role.CREDIT_ENHANCER,
    "co_funder": Role.FUNDER,
}


class CheckFailed(Exception):
    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.code = code


class CheckSkipped(Exception):
    pass


_ABSENT = object()


def _b32(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text[2:])


def slots(receipt: AnyReceipt) -> Sequence[tuple[int, str]]:
    """(participant id, slot) of every party that must sign, in the contract's order."""
    return receipt.record.signer_slots()


class ReceiptChecks:
    """One receipt's checks (each returns a detail, raises CheckFailed or CheckSkipped)."""

    def __init__(
        self,
        receipt: AnyReceipt,
        facts: ChainFacts,
        trust: TrustRoot | None,
        document: Path | bytes | None,
        document_sha256: str | None,
        node: tuple[CheckFailed | None, CheckFailed | None] = (None, None),
        fields: Disclosure | None = None,
    ) -> None:
        self.node_verdicts = node
        self.fields = fields
        self.r = receipt
        self.a = receipt.anchor
        self.facts = facts
        self.trust = trust
        self.document = document
        self.document_sha256 = document_sha256
        self.domain = trust.domain if trust is not None else Domain(self.a.chain_id, self.a.ledger)

    @cached_property
    def record_id(self) -> bytes:
        return loan_record_id(self.r.record, self.domain)

    @cached_property
    def signature_bytes(self) -> list[bytes]:
        return [bytes.fromhex(s.signature[2:]) for s in self.r.signatures]

    # ------------------------------------------------------------------ the checks

    def format(self) -> str:
        if self.r.hash_algorithms != HASH_ALGORITHMS:
            raise CheckFailed(f"the receipt names other hash algorithms: {self.r.hash_algorithms}")
        if self.a.mode == "batch" and isinstance(self.r, Receipt) and self.a.batch_size is None:
            raise CheckFailed("a batch receipt must state its batch size")
        return self.r.format

    def deployment(self) -> str:
        a, trust, facts = self.a, self.trust, self.facts
        node_chain = facts.chain_id()
        if trust is None:
            if node_chain != a.chain_id:
                raise CheckFailed(
                    f"the node is chain {node_chain}, the receipt is for chain {a.chain_id}",
                    "WRONG_CHAIN",
                )
            if (checksum_address(a.registry), checksum_address(a.ledger)) != (
                facts.registry,
                facts.ledger,
            ):
                raise CheckFailed(
                    f"the chain facts at hand are of registry {facts.registry}, ledger"
                    f" {facts.ledger}, not of the deployment the receipt names",
                    "DEPLOYMENT_MISMATCH",
                )
            raise CheckSkipped(
                f"no trust root: checked only against the deployment the receipt names (chain"
                f" {a.chain_id}, registry {a.registry}, ledger {a.ledger}), which anyone can"
                " deploy a copy of"
            )
        chain, contracts = self.node_verdicts
        if chain is not None:
            raise chain
        named = (a.chain_id, checksum_address(a.registry), checksum_address(a.ledger))
        trusted = (trust.chain_id, facts.registry, facts.ledger)
        if named != trusted:
            raise CheckFailed(
                f"the receipt names chain {a.chain_id}, registry {a.registry}, ledger {a.ledger};"
                f" the trusted deployment is chain {trust.chain_id}, registry {facts.registry},"
                f" ledger {facts.ledger}",
                "DEPLOYMENT_MISMATCH",
            )
        if contracts is not None:
            raise contracts
        return f"chain {trust.chain_id}, registry {facts.registry}, ledger {facts.ledger}"

    def document_check(self) -> str:
        expected = self.r.record.agreement_digest
        if self.r.document.sha256 != expected:
            raise CheckFailed(
                f"the receipt's document digest {self.r.document.sha256} is not the record's"
                f" {expected}",
                "DOCUMENT_MISMATCH",
            )
        size: int | None = None
        if self.document is not None:
            if isinstance(self.document, bytes):
                actual, size = digest_bytes(self.document), len(self.document)
            else:
                actual, size = digest_file(self.document), self.document.stat().st_size
            actual_hex = "0x" + actual.hex()
        elif self.document_sha256 is not None:
            actual_hex = "0x" + self.document_sha256.lower().removeprefix("0x")
        else:
            raise CheckSkipped("no document or digest given (the receipt's digest is the record's)")
        if actual_hex != expected:
            raise CheckFailed(
                f"document SHA-256 {actual_hex} != agreement digest {expected}", "DOCUMENT_MISMATCH"
            )
        if size is not None and self.r.document.size is not None and size != self.r.document.size:
            raise CheckFailed(
                f"the document has {size} bytes, the receipt says {self.r.document.size}",
                "DOCUMENT_MISMATCH",
            )
        return f"SHA-256 {expected}"

    def _v2_digest(self, form: FeeDisclosure) -> str:
        """The digest of a v2 form, proven by a disclosure of every one of its fields."""
        if self.fields is None:
            raise CheckSkipped(
                "the form is fee-disclosure/v2, committed field by field: its digest is checked"
                " with a disclosure of every field (GET /v1/loans/{id}/disclosure?fields=/)"
            )
        try:
            values = verify_disclosure(self.fields, _b32(self.r.record.disclosure_digest))
        except VerificationError:
            raise CheckSkipped(
                "the form is fee-disclosure/v2 and the disclosure given does not verify"
                " (disclosure_fields says why)"
            ) from None
        if values != form_leaves(form):
            raise CheckSkipped(
                "the form is fee-disclosure/v2 and the disclosure given does not cover all of"
                " it: the disclosed fields are checked (disclosure_fields), the rest is not"
            )
        return "every field proven against the digest"

    def _disclosed(self) -> dict[str, Any]:
        assert self.fields is not None
        try:
            return verify_disclosure(self.fields, _b32(self.r.record.disclosure_digest))
        except VerificationError as exc:
            raise CheckFailed(str(exc).removeprefix(f"{exc.check}: "), "DISCLOSURE_FIELDS") from exc

    def disclosure(self) -> str:
        if self.r.disclosure is None:
            raise CheckSkipped("the receipt carries no disclosure form")
        from ledger.disclosure import check_disclosure

        record = self.r.record
        if self.r.disclosure.get("format") == FORMAT_V2:
            try:
                v2 = FeeDisclosure.model_validate(self.r.disclosure)
            except ValueError as exc:
                raise CheckFailed(f"form is malformed: {exc}", "DISCLOSURE_INCONSISTENT") from exc
            tied = self._v2_digest(v2)
        elif not matches_digest(self.r.disclosure, _b32(record.disclosure_digest)):
            digest = "0x" + canonical_digest(self.r.disclosure).hex()
            raise CheckFailed(
                f"canonical form hashes to {digest}, record says {record.disclosure_digest}"
            )
        try:
            form = FeeDisclosure.model_validate(self.r.disclosure)
            if form.principal != record.principal:
                raise CheckFailed(
                    f"form's principal is {form.principal} fen, record anchors {record.principal}"
                )
            computed = check_disclosure(form)
        except (LedgerError, ValueError) as exc:
            raise CheckFailed(f"form is inconsistent: {exc}", "DISCLOSURE_INCONSISTENT") from exc
        if computed.nominal_bps != record.apr_bps:
            raise CheckFailed(
                f"form's numbers give {computed.nominal_percent}% ({computed.nominal_bps} bps),"
                f" record anchors {record.apr_bps} bps"
            )
        else:
            tied = "digest matches"
        return (
            f"{tied}; stated {form.stated_apr_bps} bps, computed"
            f" {computed.nominal_percent}% = the record's {record.apr_bps} bps"
        )

    def disclosure_fields(self) -> str:
        """Only run when a field disclosure is given (`CHECKS_WITH_FIELDS`)."""
        if self.fields is None:
            raise CheckSkipped("no field disclosure given")
        values = self._disclosed()
        if self.fields.record_id is not None and self.fields.record_id != self.r.record_id:
            raise CheckFailed(
                f"the disclosure names record {self.fields.record_id}, the receipt is of"
                f" {self.r.record_id}",
                "DISCLOSURE_FIELDS",
            )
        if self.r.disclosure is not None and self.r.disclosure.get("format") == FORMAT_V2:
            try:
                form = form_leaves(FeeDisclosure.model_validate(self.r.disclosure))
            except ValueError as exc:
                raise CheckFailed(f"form is malformed: {exc}", "DISCLOSURE_FIELDS") from exc
            differ = sorted(p for p, v in values.items() if form.get(p, _ABSENT) != v)
            if differ:
                raise CheckFailed(
                    f"the receipt's form differs from the disclosure at {', '.join(differ)}",
                    "DISCLOSURE_FIELDS",
                )
        return (
            f"{len(values)} of {self.fields.leaf_count} fields proven against the disclosure"
            f" digest: {', '.join(sorted(values))}"
        )

    def record_id_check(self) -> str:
        computed = "0x" + self.record_id.hex()
        if computed != self.r.record_id:
            raise CheckFailed(
                f"EIP-712 digest of the record is {computed}, receipt says {self.r.record_id}"
            )
        return computed

    def typed_data_check(self) -> str:
        if self.r.typed_data != typed_data(self.r.record, self.domain):
            raise CheckFailed("the EIP-712 typed data does not describe this record and domain")
        return "matches the record and domain"

    def signatures(self) -> str:
        from ledger.signing import recover_address

        needed = slots(self.r)
        given = [(s.participant_id, s.role) for s in self.r.signatures]
        if given != needed:
            raise CheckFailed(f"signatures are labelled {given}, the record needs {needed}")
        digest = self.record_id
        for s, raw in zip(self.r.signatures, self.signature_bytes, strict=True):
            who = f"participant {s.participant_id} ({s.role})"
            role, _ = self.facts.role_of(s.participant_id)
            if role != _SLOT_ROLES[s.role]:
                raise CheckFailed(f"{who} is registered as {Role(role).name.lower()}")
            try:
                recovered = recover_address(digest, raw)
            except SignatureError as exc:
                raise CheckFailed(f"{who}: {exc}") from exc
            if recovered.lower() != s.signer.lower():
                raise CheckFailed(f"{who}: signature is by {recovered}, receipt says {s.signer}")
            epoch = self.facts.epoch_at(s.participant_id, self.a.block_time)
            if epoch.signer.lower() != recovered.lower():
                raise CheckFailed(
                    f"{who}: signer {recovered} was not its registered key at"
                    f" {self.a.block_time} (registered: {epoch.signer})"
                )
        return f"{len(needed)} signatures by the registered keys of {[p for p, _ in needed]}"

    def expected_leaf(self) -> tuple[list[str], str]:
        values = [
            "0x" + self.record_id.hex(),
            "0x" + signatures_hash(self.signature_bytes).hex(),
        ]
        return values, "0x" + leaf_hash(LEAF_TYPES, values).hex()

    def leaf(self) -> str:
        if self.a.mode != "batch":
            raise CheckSkipped("per-record anchor: no Merkle leaf")
        leaf = self.a.leaf
        assert leaf is not None  # the model requires it in batch mode
        values, computed = self.expected_leaf()
        if list(leaf.types) != list(LEAF_TYPES) or [v.lower() for v in leaf.values] != values:
            raise CheckFailed(
                f"leaf values {leaf.values} are not [record id, signatures hash] {values}"
            )
        if computed != leaf.hash:
            raise CheckFailed(f"leaf hashes to {computed}, receipt says {leaf.hash}")
        return computed

    def proof(self) -> str:
        if self.a.mode != "batch":
            raise CheckSkipped("per-record anchor: no Merkle proof")
        assert self.a.leaf is not None and self.a.root is not None
        root = process_proof(_b32(self.expected_leaf()[1]), [_b32(p) for p in self.a.proof])
        if "0x" + root.hex() != self.a.root:
            raise CheckFailed(f"proof leads to 0x{root.hex()}, receipt says root {self.a.root}")
        return f"{len(self.a.proof)} steps to root {self.a.root}"

    def anchor(self) -> str:
        a, facts = self.a, self.facts
        tx = facts.anchor_tx(_b32(a.transaction_hash))
        if tx is None:
            raise CheckFailed(
                f"transaction {a.transaction_hash} did not anchor anything in the ledger"
                f" (as of {facts.as_of()})",
                "ANCHOR_NOT_FOUND",
            )
        if tx.block_number != a.block_number:
            raise CheckFailed(
                f"transaction is in block {tx.block_number}, receipt says {a.block_number}"
            )
        block_time = facts.block_time(a.block_number)
        if block_time != a.block_time:
            raise CheckFailed(
                f"block {a.block_number} has time {block_time}, receipt says {a.block_time}"
            )
        if a.mode == "batch":
            assert a.root is not None
            root = _b32(a.root)
            batch = facts.batch(root)
            if batch is None:
                raise CheckFailed(f"root {a.root} was never anchored", "ROOT_NOT_ANCHORED")
            if root not in tx.roots:
                raise CheckFailed("the ledger did not anchor this root in that transaction")
            if batch.block_number != a.block_number or batch.anchored_at != a.block_time:
                raise CheckFailed(
                    f"root anchored in block {batch.block_number} at {batch.anchored_at}, receipt"
                    f" says {a.block_number} at {a.block_time}"
                )
            if a.batch_size is not None and a.batch_size != batch.record_count:
                raise CheckFailed(
                    f"the batch holds {batch.record_count} records, receipt says {a.batch_size}",
                    "BATCH_SIZE_MISMATCH",
                )
            return f"root in block {a.block_number} at {a.block_time} by gateway {batch.gateway_id}"
        record_id = _b32(self.r.record_id)
        anchored = facts.per_record_anchor(record_id)
        if (
            record_id not in tx.record_ids
            or anchored is None
            or anchored.anchored_at != a.block_time
        ):
            raise CheckFailed(
                "the ledger did not anchor this record by itself at the stated time",
                "RECORD_NOT_ANCHORED",
            )
        return f"record in block {a.block_number} at {a.block_time}"

    def entry_timestamp(self) -> str:
        entry = self.r.entry_timestamp
        if entry is None:
            if self.a.mode == "batch":
                raise CheckFailed(
                    "a batch receipt must carry the gateway's signed entry timestamp",
                    "ENTRY_TIMESTAMP_MISSING",
                )
            raise CheckSkipped("no signed entry timestamp (anchored by itself, without a gateway)")
        p = entry.promise
        role, _ = self.facts.role_of(p.gateway_id)
        if role != Role.GATEWAY:
            raise CheckFailed(f"participant {p.gateway_id} is not a gateway")
        epoch = self.facts.epoch_at(p.gateway_id, p.accepted_at)
        try:
            verify_entry_timestamp(entry, epoch.ed25519_public_key)
        except SignatureError as exc:
            raise CheckFailed(str(exc), exc.code) from exc
        if (
            p.record_id != self.r.record_id
            or p.chain_id != self.a.chain_id
            or p.ledger.lower() != self.a.ledger.lower()
        ):
            raise CheckFailed("the promise names another record, chain or ledger")
        if p.leaf_hash != self.expected_leaf()[1]:
            raise CheckFailed("the promise names another leaf")
        if self.a.block_time > p.anchor_deadline:
            raise CheckFailed(
                f"anchored at {self.a.block_time}, after the promised deadline {p.anchor_deadline}",
                "PROMISE_BROKEN",
            )
        return (
            f"gateway {p.gateway_id} promised by {p.anchor_deadline}; anchored at"
            f" {self.a.block_time}"
        )

    def provenance(self) -> str:
        if isinstance(self.r, ReceiptV1):
            raise CheckSkipped("receipt v1: provenance and document metadata are not bound")
        entry = self.r.entry_timestamp
        provenance = self.r.provenance
        if entry is None or not isinstance(entry.promise, EntryPromise):
            if provenance is None:
                raise CheckSkipped("no provenance (anchored without a gateway)")
            raise CheckSkipped("no entry timestamp of version 2 binds the provenance")
        if not metadata_matches(entry.promise.metadata_digest, provenance, self.r.document):
            raise CheckFailed(
                "the provenance or the document's media type or size is not what the gateway signed"
            )
        if provenance is None:
            return "the gateway attested no provenance"
        if provenance.submitted_by != self.r.record.platform_id:
            raise CheckFailed(
                f"submitted by {provenance.submitted_by}, but the record's platform is"
                f" {self.r.record.platform_id}"
            )
        if provenance.gateway_id != entry.promise.gateway_id:
            raise CheckFailed(
                f"provenance names gateway {provenance.gateway_id}, the promise"
                f" {entry.promise.gateway_id}"
            )
        source = provenance.source_system or "unnamed system"
        return (
            f"submitted by participant {provenance.submitted_by} from {source} through gateway"
            f" {provenance.gateway_id}"
        )

    def rate_cap(self) -> str:
        rec = self.r.record
        _, institution = self.facts.role_of(rec.funder_id)
        found, cap = self.facts.rate_cap_at(institution, rec.issued_at)
        if not found:
            raise CheckFailed(f"no rate cap exists for institution type {institution}")
        if rec.is_legacy:
            cutoff = self.facts.legacy_cutoff_at(self.a.block_time)
            if rec.issued_at >= cutoff:
                raise CheckFailed(
                    f"flagged legacy but issued at {rec.issued_at}, after the cutoff {cutoff}"
                )
            return f"legacy loan issued before the cutoff ({rec.apr_bps} bps; cap {cap} bps)"
        if rec.apr_bps > cap:
            raise CheckFailed(
                f"APR {rec.apr_bps} bps exceeds the cap of {cap} bps", "RATE_CAP_EXCEEDED"
            )
        return f"{rec.apr_bps} bps <= cap {cap} bps"

    def violation(self) -> str:
        code = self.facts.violation_of(_b32(self.r.record_id))
        if code != b"\0\0\0\0":
            from ledger.chain.artifacts import error_selectors

            name = error_selectors().get(code, ("0x" + code.hex(), ()))[0]
            raise CheckFailed(f"a violation was proven on chain: {name}", "VIOLATION_PROVEN")
        return f"none proven (as of {self.facts.as_of()})"

    def status(self) -> str:
        retired = self.facts.retirement(_b32(self.r.record_id))
        if retired is None:
            return f"current: neither revoked nor superseded (as of {self.facts.as_of()})"
        if retired.status == 2:
            raise CheckFailed(
                f"the record was revoked at {retired.retired_at} (reason {retired.reason_code})",
                "RECORD_REVOKED",
            )
        raise CheckFailed(
            f"the record was amended at {retired.retired_at}: superseded by"
            f" 0x{retired.superseded_by.hex()} (reason {retired.reason_code})",
            "RECORD_SUPERSEDED",
        )


CHECKS: tuple[tuple[str, Callable[[ReceiptChecks], str]], ...] = (
    ("format", ReceiptChecks.format),
    ("deployment", ReceiptChecks.deployment),
    ("document", ReceiptChecks.document_check),
    ("disclosure", ReceiptChecks.disclosure),
    ("record_id", ReceiptChecks.record_id_check),
    ("typed_data", ReceiptChecks.typed_data_check),
    ("signatures", ReceiptChecks.signatures),
    ("leaf", ReceiptChecks.leaf),
    ("proof", ReceiptChecks.proof),
    ("anchor", ReceiptChecks.anchor),
    ("entry_timestamp", ReceiptChecks.entry_timestamp),
    ("provenance", ReceiptChecks.provenance),
    ("rate_cap", ReceiptChecks.rate_cap),
    ("violation", ReceiptChecks.violation),
    ("status", ReceiptChecks.status),
)
CHECK_NAMES = tuple(name for name, _ in CHECKS)
#: the check a field disclosure adds to a report (after `disclosure`) when one is given
FIELDS_CHECK: tuple[str, Callable[[ReceiptChecks], str]] = (
    "disclosure_fields",
    ReceiptChecks.disclosure_fields,
)
_AT = CHECK_NAMES.index("disclosure") + 1
CHECKS_WITH_FIELDS = (*CHECKS[:_AT], FIELDS_CHECK, *CHECKS[_AT:])
