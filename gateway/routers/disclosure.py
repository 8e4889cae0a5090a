"""Selective disclosure of a loan's fee form: some fields with the multiproof tying them to the
anchored disclosure digest (for the loan's parties and the regulator), and its verification (by
anyone, optionally against the loan's receipt)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import CurrentCaller, Service
from gateway.routers.verify import ReportOut
from ledger.bounds import RecordId, check_text
from ledger.disclosure_proofs import Disclosure
from ledger.errors import InputError

router = APIRouter(tags=["disclosure"])

_MAX_PATHS = 200


class DisclosureVerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    disclosure: Disclosure
    receipt: dict[str, Any] | None = Field(
        default=None,
        description="the loan's receipt: ties the digest to the anchored record (default: the"
        " disclosure's own receipt, if it carries one)",
    )


class DisclosureVerification(BaseModel):
    """What a disclosure proves: its fields, and whether a verified receipt ties its digest to an
    anchored record (`report`, with the `disclosure_fields` check)."""

    ok: bool = Field(description="the fields are proven (and, with a receipt, every check holds)")
    record_id: str | None
    disclosure_digest: str
    anchored: bool = Field(description="a receipt tied the digest to an anchored record")
    fields: dict[str, Any] | None = Field(
        description="path -> value of every disclosed field (arrays: {length}); null if unproven"
    )
    report: ReportOut | None = None


def _paths(fields: str) -> list[str]:
    check_text(fields, "fields", 10_000)  # no NUL (TEXT_NUL)
    paths = [p.strip() for p in fields.split(",") if p.strip()]
    if not paths or len(paths) > _MAX_PATHS:
        raise InputError(
            f"fields must name 1 to {_MAX_PATHS} JSON Pointer paths, comma-separated",
            code="DISCLOSURE_UNKNOWN_PATH",
        )
    return paths


@router.get(
    "/v1/loans/{record_id}/disclosure",
    summary="Some fields of a loan's fee disclosure form, with the OpenZeppelin multiproof that"
    " ties them to its disclosure digest (the loan's parties and the regulator)",
    response_model=Disclosure,
)
def disclosure(
    record_id: RecordId,
    service: Service,
    caller: CurrentCaller,
    fields: Annotated[
        str,
        Query(
            max_length=10_000,
            description="comma-separated JSON Pointer paths of fields or subtrees, e.g."
            " /fees,/stated_apr_bps (/ : the whole form)",
        ),
    ],
) -> Disclosure:
    return service.disclose(caller, record_id, _paths(fields))


@router.post(
    "/v1/verify/disclosure",
    summary="Verify a selective disclosure of a fee form (anyone), optionally against the loan's"
    " receipt",
    response_model=DisclosureVerification,
    tags=["verification"],
)
def verify_disclosure(body: DisclosureVerifyRequest, service: Service) -> DisclosureVerification:
    values, report = service.verify_fields(body.disclosure, body.receipt)
    return DisclosureVerification(
        ok=values is not None and (report is None or report.ok),
        record_id=body.disclosure.record_id,
        disclosure_digest=body.disclosure.disclosure_digest,
        anchored=report is not None and values is not None and report.ok,
        fields=values,
        report=ReportOut.model_validate(report.as_dict()) if report is not None else None,
    )
