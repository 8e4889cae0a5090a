"""Exporting a package from a gateway's service: who may, and building it.

Who may export a record's package: the regulator, the loan's parties (its platform, funder,
co-funder and guarantor), and an auditor with a live grant covering it (else 403
GRANT_REQUIRED). A party of other loans gets RECORD_NOT_FOUND, as on every loan route (the
gateway does not tell which records exist); every other role (gateways) gets 403
ROLE_FORBIDDEN. A record not yet anchored: 409 NOT_ANCHORED. Every export is logged in the
evidence log.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger.access import Caller
from ledger.disclosure import FORMAT_V2
from ledger.disclosure_proofs import Disclosure
from ledger.enums import Role
from ledger.errors import Conflict, DocumentErased, NotFound, PermissionDenied
from ledger.evidence.certificate import how_to_verify_text, render_html
from ledger.evidence.collect import gather_facts
from ledger.evidence.model import (
    CERTIFICATE_HTML,
    CERTIFICATE_PDF,
    DISCLOSURE_JSON,
    EVIDENCE_JSON,
    HOW_TO_VERIFY,
    RECEIPT_JSON,
    REPORT_JSON,
    TRUST_ROOT_JSON,
    VAULT_JSON,
    DocumentEntry,
    Manifest,
    ManifestSignature,
    VaultSection,
)
from ledger.evidence.package import member_of, write_package
from ledger.evidence.pdf import render_pdf
from ledger.receipts import AnyReceipt, parse_receipt
from ledger.store import DocumentRow
from ledger.vault import document_stream, erasure_of, evidence_log_of, log_access
from ledger.vault.grants import live_grant_covers

if TYPE_CHECKING:
    from ledger.service import LedgerService

__all__ = ["EXPORT_ROLES", "ExportedPackage", "export_package", "may_export"]

#: the roles that may export a package (parties only for their own loans, auditors with a grant)
EXPORT_ROLES = (Role.REGULATOR, Role.PLATFORM, Role.FUNDER, Role.CREDIT_ENHANCER, Role.AUDITOR)


@dataclass(frozen=True)
class ExportedPackage:
    record_id: str
    data: bytes
    seconds: float
    pdf_seconds: float

    @property
    def filename(self) -> str:
        return f"evidence-{self.record_id[2:18]}.zip"


def may_export(service: LedgerService, caller: Caller, record_id: str) -> None:
    """Raises ROLE_FORBIDDEN unless the caller's role may export packages at all, and
    GRANT_REQUIRED for an auditor without a live grant covering the record."""
    if caller.role not in EXPORT_ROLES:
        raise PermissionDenied(
            "evidence packages are for the regulator, the loan's parties and granted auditors",
            code="ROLE_FORBIDDEN",
        )
    if caller.role is Role.AUDITOR:
        with service.db.session() as s:
            grant = live_grant_covers(s, caller.participant_id, record_id.lower(), service.clock())
        if grant is None:
            raise PermissionDenied(
                "no live access grant to you covers this loan", code="GRANT_REQUIRED"
            )


def _vault(service: LedgerService, record_id: str) -> VaultSection:
    with service.db.session() as s:
        log = evidence_log_of(s, record_id)
        erasure = erasure_of(s, record_id)
    return VaultSection(
        evidence_log=[entry.model_dump(mode="json") for entry in log],
        erasure=None if erasure is None else erasure.model_dump(mode="json"),
    )


def _full_disclosure(
    service: LedgerService, caller: Caller, receipt: AnyReceipt
) -> Disclosure | None:
    """Every field of a v2 fee form with its salt and proof: what lets a verifier check the
    receipt's form against the anchored digest (None for v1 forms, or once the seed is erased)."""
    form = receipt.disclosure
    if form is None or form.get("format") != FORMAT_V2:
        return None
    try:
        return service.disclose(caller, receipt.record_id, ["/"])
    except Conflict:  # erased: the seed is gone
        return None


def _document(service: LedgerService, sha256: str) -> tuple[DocumentEntry, bytes | None]:
    """The agreement's clear text from the vault (`ledger.vault.document_stream`), or why not."""
    with service.db.session() as s:
        row = s.get(DocumentRow, sha256)
        media_type = row.media_type if row is not None else None
        size = row.size if row is not None else None
        shredded_at = row.shredded_at if row is not None else None
    try:
        data = b"".join(document_stream(service.db, sha256, service.custody.master_key))
    except DocumentErased:
        return DocumentEntry(
            status="erased",
            sha256=sha256,
            media_type=media_type,
            size=size,
            note=f"shredded at {int(shredded_at or 0)} (unix seconds)",
        ), None
    except NotFound:
        return DocumentEntry(
            status="not_held", sha256=sha256, note="the gateway never received the file"
        ), None
    media_type = media_type or "application/octet-stream"
    extension = mimetypes.guess_extension(media_type) or ".bin"
    member = f"document/agreement{extension}"
    return DocumentEntry(
        status="included", sha256=sha256, member=member, media_type=media_type, size=len(data)
    ), data


def export_package(service: LedgerService, caller: Caller, record_id: str) -> ExportedPackage:
    """The evidence package of one anchored record, verified now and signed by this gateway."""
    started = time.perf_counter()
    may_export(service, caller, record_id)
    receipt_text = service.receipt_json(caller, record_id)  # RECORD_NOT_FOUND, NOT_ANCHORED
    receipt = parse_receipt(receipt_text)
    document, data = _document(service, receipt.record.agreement_digest)
    disclosure = _full_disclosure(service, caller, receipt)
    report = service.verify(receipt_text, document=data, fields=disclosure)
    vault = _vault(service, receipt.record_id.lower())
    with service.chain_lock:
        facts = gather_facts(receipt, service.registry.facts(), service.client, service.trust_root)
    draft = Manifest(
        record_id=receipt.record_id,
        exported_at=service.clock(),
        exported_by={
            "gateway_id": service.gateway_id,
            "caller": {"participant_id": caller.participant_id, "role": caller.role.label},
        },
        members=[],
        document=document,
    )
    html = render_html(receipt, report, facts, draft, vault)
    pdf_started = time.perf_counter()
    pdf = render_pdf(html)
    pdf_seconds = time.perf_counter() - pdf_started

    def as_json(value: object) -> bytes:
        return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()

    files: dict[str, tuple[bytes, str]] = {
        RECEIPT_JSON: (receipt_text.encode(), "application/json"),
        REPORT_JSON: (as_json(report.as_dict()), "application/json"),
        EVIDENCE_JSON: (as_json(facts.model_dump(mode="json")), "application/json"),
        TRUST_ROOT_JSON: (service.trust_root.to_json().encode(), "application/json"),
        CERTIFICATE_HTML: (html.encode(), "text/html; charset=utf-8"),
        CERTIFICATE_PDF: (pdf, "application/pdf"),
        HOW_TO_VERIFY: (how_to_verify_text(receipt, draft).encode(), "text/plain; charset=utf-8"),
        VAULT_JSON: (as_json(vault.model_dump(mode="json")), "application/json"),
    }
    if disclosure is not None:
        files[DISCLOSURE_JSON] = (
            as_json(disclosure.model_dump(mode="json")),
            "application/json",
        )
    if data is not None and document.member is not None:
        files[document.member] = (data, document.media_type or "application/octet-stream")
    unsigned = draft.model_copy(
        update={"members": [member_of(n, b, t) for n, (b, t) in files.items()]}
    )
    key = service.identity.key
    manifest = unsigned.model_copy(
        update={
            "signature": ManifestSignature(
                gateway_id=service.gateway_id,
                public_key="0x" + key.public_key.hex(),
                signature="0x" + key.sign_bytes(unsigned.signed_bytes()).hex(),
            )
        }
    )
    package = write_package(manifest, {n: b for n, (b, _) in files.items()})
    with service.db.session() as s:  # the export is itself evidence: in the vault's log
        log_access(
            s,
            kind="evidence_export",
            record_id=receipt.record_id.lower(),
            actor_id=caller.participant_id,
            actor_role=caller.role.label,
            details={"package_sha256": "0x" + hashlib.sha256(package).hexdigest()},
        )
    return ExportedPackage(receipt.record_id, package, time.perf_counter() - started, pdf_seconds)
