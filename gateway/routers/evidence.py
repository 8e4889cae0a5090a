"""Evidence packages: one ZIP per anchored record for a court or arbitrator (`ledger.evidence`)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gateway.deps import CurrentCaller, Service
from ledger.bounds import RecordId
from ledger.evidence import export_package

router = APIRouter(prefix="/v1/loans", tags=["evidence"])

_ZIP = {
    200: {
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        "description": "the evidence package (evidence-package/v1), see docs/evidence.md",
    }
}


@router.get(
    "/{record_id}/evidence",
    summary="A record's court-ready evidence package (ZIP: document, receipt, verification"
    " report, chain facts, trust root, signers at signing time, provenance, bilingual"
    " certificate in HTML and PDF): the regulator and the loan's parties; 409 NOT_ANCHORED"
    " before it is anchored",
    response_class=Response,
    responses=_ZIP,  # type: ignore[arg-type]
)
def evidence(record_id: RecordId, service: Service, caller: CurrentCaller) -> Response:
    exported = export_package(service, caller, record_id)
    return Response(
        exported.data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{exported.filename}"',
            "X-Export-Seconds": f"{exported.seconds:.3f}",
        },
    )
