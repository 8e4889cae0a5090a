"""Verification of receipts, by anyone, always against this gateway's own deployment (its trust
root, `GET /v1/deployment`), never against addresses a receipt names."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.deps import Service
from gateway.errors import ApiError
from gateway.forms import read_form
from gateway.openapi import request_body
from ledger import safejson
from ledger.bounds import input_error
from ledger.errors import LedgerError
from ledger.limits import MAX_VERIFY_BATCH
from ledger.verify import VerificationReport
from ledger.verify.bulk import BulkSummary, Outcome
from ledger.verify.checks import CHECKS_WITH_FIELDS
from ledger.verify.explanations import CHECK_EXPLANATIONS

router = APIRouter(prefix="/v1", tags=["verification"])


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receipt: dict[str, Any]
    document_sha256: str | None = Field(default=None, pattern=r"^(0x)?[0-9a-fA-F]{64}$")


class VerifyBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receipts: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_VERIFY_BATCH)


class CheckOut(BaseModel):
    name: str
    status: Literal["pass", "fail", "skip"]
    detail: str
    code: str | None = None


class DeploymentUsedOut(BaseModel):
    chain_id: int
    registry: str
    ledger: str
    genesis_hash: str | None
    pinned: bool
    as_of: str


class SignerOut(BaseModel):
    slot: Literal["platform", "funder", "guarantor", "co_funder"]
    participant_id: int
    signer: str = Field(description="the address the receipt says the signature recovers to")
    name: str | None = Field(
        description="the name registered on chain for this participant (null: unknown)"
    )


class ReportOut(BaseModel):
    """Every check by name; the deployment verified against; the fields nothing vouches for;
    the signers, named as the deployment's registry names them."""

    record_id: str
    format: str
    ok: bool
    pinned: bool
    deployment: DeploymentUsedOut | None
    checks: list[CheckOut]
    unverified: list[str]
    signers: list[SignerOut]


class ExplanationOut(BaseModel):
    name: str = Field(description="the check, as reports name it")
    en: str = Field(description="what the check establishes when it passes, in English")
    zh: str = Field(description="the same, in Chinese")


class ItemError(BaseModel):
    code: str
    message: str
    check: str | None = None


class BatchItem(BaseModel):
    index: int
    report: ReportOut | None = None
    error: ItemError | None = None


class CheckTally(BaseModel):
    passed: int = 0
    failed: int = 0
    skipped: int = 0


class BatchOut(BaseModel):
    passed: int = Field(description="receipts with every check passed or not applicable")
    failed: int = Field(description="receipts with at least one failed check")
    invalid: int = Field(description="items that are not receipts at all")
    by_check: dict[str, CheckTally]
    results: list[BatchItem]


def _out(report: VerificationReport) -> ReportOut:
    return ReportOut.model_validate(report.as_dict())


@router.get(
    "/verify/checks",
    summary="Every verification check, in order, with what it establishes (English, Chinese);"
    " disclosure_fields is in a report only when a field disclosure is verified",
    response_model=list[ExplanationOut],
)
def checks() -> list[ExplanationOut]:
    return [
        ExplanationOut(name=name, en=CHECK_EXPLANATIONS[name].en, zh=CHECK_EXPLANATIONS[name].zh)
        for name, _ in CHECKS_WITH_FIELDS
    ]


@router.post(
    "/verify",
    summary="Verify a receipt against this gateway's deployment (JSON, or multipart with the file)",
    response_model=ReportOut,
    openapi_extra=request_body(
        VerifyRequest,
        multipart={
            "required": ["receipt"],
            "properties": {
                "receipt": {"type": "string", "description": "the receipt JSON"},
                "document": {"type": "string", "format": "binary"},
            },
        },
    ),
)
async def verify(request: Request, service: Service) -> ReportOut:
    limit: int = request.app.state.settings.max_upload_bytes
    document: bytes | None = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await read_form(request, limit)
        try:
            raw_receipt = form.get("receipt")
            upload = form.get("document")
            if not isinstance(raw_receipt, str):
                raise ApiError(422, "INVALID_INPUT", "multipart needs a `receipt` field (JSON)")
            if upload is not None and not isinstance(upload, str):
                document = await upload.read(limit + 1)
                if len(document) > limit:
                    raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the document exceeds {limit} bytes")
            receipt = safejson.loads(raw_receipt)
            if not isinstance(receipt, dict):
                raise ApiError(422, "INVALID_INPUT", "the `receipt` field must be a JSON object")
            body = VerifyRequest(receipt=receipt)
        finally:
            await form.close()
    else:
        try:
            body = VerifyRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise input_error(exc.errors()) from exc
    report = service.verify(body.receipt, document=document, document_sha256=body.document_sha256)
    return _out(report)


@router.post(
    "/verify/batch",
    summary=f"Verify up to {MAX_VERIFY_BATCH:,} receipts against this gateway's deployment",
    response_model=BatchOut,
)
def verify_batch(body: VerifyBatchRequest, service: Service) -> BatchOut:
    results: list[BatchItem] = []
    summary = BulkSummary()
    for index, outcome in enumerate(service.verify_many(body.receipts)):
        if isinstance(outcome, LedgerError):
            summary.add(Outcome(str(index), "", "", error=(outcome.code, outcome.message)))
            check = getattr(outcome, "check", None)
            error = ItemError(code=outcome.code, message=outcome.message, check=check)
            results.append(BatchItem(index=index, error=error))
            continue
        summary.add(Outcome.of(str(index), outcome))
        results.append(BatchItem(index=index, report=_out(outcome)))
    tally = {
        name: CheckTally(passed=c["pass"], failed=c["fail"], skipped=c["skip"])
        for name, c in summary.by_check.items()
    }
    return BatchOut(
        passed=summary.passed,
        failed=summary.failed,
        invalid=summary.invalid,
        by_check=tally,
        results=results,
    )
