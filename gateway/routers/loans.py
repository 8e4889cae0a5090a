"""Loans: submission (platform), co-signing or rejection (funder), status and receipts."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.deps import CurrentCaller, FunderCaller, PlatformCaller, Service
from gateway.errors import ApiError
from ledger.eip712 import typed_data
from ledger.errors import InputError
from ledger.safejson import check_json_shape
from ledger.service import (
    MAX_BATCH_SUBMISSION,
    LoanSubmission,
    SubmissionOutcome,
    submission_summary,
)

router = APIRouter(prefix="/v1/loans", tags=["loans"])


class LoanBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    loans: list[LoanSubmission] = Field(min_length=1, max_length=MAX_BATCH_SUBMISSION)


class Confirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signature: str | None = Field(
        default=None, pattern=r"^0x[0-9a-fA-F]{130}$", description="non-custodial funders"
    )


class ConfirmationBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH_SUBMISSION)


class RetirementRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason_code: int = Field(ge=0, lt=2**16)


class AmendmentRequest(RetirementRequest):
    superseded_by: str = Field(
        pattern=r"^0x[0-9a-fA-F]{64}$", description="the replacing record's id"
    )


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


def outcome_view(outcome: SubmissionOutcome) -> dict[str, Any]:
    return {
        "record_id": outcome.record_id,
        "status": outcome.status,
        "duplicate": outcome.duplicate,
        "entry_timestamp": outcome.entry_timestamp.model_dump(mode="json")
        if outcome.entry_timestamp
        else None,
    }


async def read_form(request: Request, limit: int) -> Any:
    """The multipart form, with an oversized part answered 413 (Starlette says 400)."""
    try:
        return await request.form(max_part_size=limit)
    except StarletteHTTPException as exc:
        if "maximum size" in str(exc.detail).lower():
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"a form part exceeds {limit} bytes") from exc
        raise ApiError(422, "INVALID_INPUT", f"malformed multipart body: {exc.detail}") from exc


async def _read_upload(request: Request) -> tuple[LoanSubmission, bytes | None, str]:
    """JSON body, or multipart with a `submission` JSON field and an `agreement` file."""
    limit: int = request.app.state.settings.max_upload_bytes
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await read_form(request, limit)
        try:
            return await _from_form(form, limit)
        finally:
            await form.close()
    return _submission(await request.body()), None, "application/pdf"


def _submission(raw: bytes | str) -> LoanSubmission:
    """The submission in a JSON body or form field; its shape is checked before it is parsed."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    check_json_shape(data)
    try:
        return LoanSubmission.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InputError(f"{where}: {first.get('msg', 'invalid')}") from exc


async def _from_form(form: Any, limit: int) -> tuple[LoanSubmission, bytes | None, str]:
    raw = form.get("submission")
    upload = form.get("agreement")
    if not isinstance(raw, str):
        raise ApiError(
            422, "INVALID_INPUT", "multipart needs a `submission` field with the loan as JSON"
        )
    document = None
    media_type = "application/octet-stream"
    if upload is not None and not isinstance(upload, str):
        chunks, size = [], 0
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the agreement exceeds {limit} bytes")
            chunks.append(chunk)
        document = b"".join(chunks)
        media_type = upload.content_type or media_type
    return _submission(raw), document, media_type


@router.post(
    "",
    status_code=202,
    summary="Submit a loan (platform): JSON, or multipart with the agreement file",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": LoanSubmission.model_json_schema()}}
        }
    },
)
async def submit(request: Request, service: Service, caller: PlatformCaller) -> dict[str, Any]:
    submission, document, media_type = await _read_upload(request)
    return outcome_view(service.submit_loan(caller, submission, document, media_type))


@router.post(
    "/prepare", summary="The record and id a platform with its own key must sign (nothing stored)"
)
async def prepare(request: Request, service: Service, caller: PlatformCaller) -> dict[str, Any]:
    submission = _submission(await request.body())
    record, record_id = service.prepare_loan(caller, submission)
    return {
        "record": record.model_dump(mode="json"),
        "record_id": "0x" + record_id.hex(),
        "typed_data": typed_data(record, service.chain.domain),
    }


@router.post("/batch", status_code=202, summary="Submit up to 10,000 loans (platform)")
def submit_batch(body: LoanBatch, service: Service, caller: PlatformCaller) -> dict[str, Any]:
    results = service.submit_batch(caller, body.loans)
    accepted = sum("error" not in r for r in results)
    return {"accepted": accepted, "rejected": len(results) - accepted, "results": results}


@router.post("/confirm-batch", summary="Co-sign many loans at once (funder)")
def confirm_batch(
    body: ConfirmationBatch, service: Service, caller: FunderCaller
) -> dict[str, Any]:
    results = service.confirm_batch(caller, body.record_ids)
    accepted = sum("error" not in r for r in results)
    return {"accepted": accepted, "rejected": len(results) - accepted, "results": results}


@router.post("/{record_id}/confirm", summary="Co-sign a loan (funder, R7)")
def confirm(
    record_id: str, service: Service, caller: FunderCaller, body: Confirmation | None = None
) -> dict[str, Any]:
    return outcome_view(
        service.confirm_loan(caller, record_id.lower(), body.signature if body else None)
    )


@router.post("/{record_id}/reject", summary="Refuse a loan awaiting approval (funder)")
def reject(
    record_id: str, body: Rejection, service: Service, caller: FunderCaller
) -> dict[str, Any]:
    return outcome_view(service.reject_loan(caller, record_id.lower(), body.reason))


@router.post(
    "/{record_id}/revoke",
    summary="Revoke an anchored record (regulator, or its platform and funder)",
)
def revoke(
    record_id: str, body: RetirementRequest, service: Service, caller: CurrentCaller
) -> dict[str, Any]:
    return service.retire(caller, record_id.lower(), body.reason_code)


@router.post(
    "/{record_id}/amend", summary="Amend an anchored record: superseded by another (same signers)"
)
def amend(
    record_id: str, body: AmendmentRequest, service: Service, caller: CurrentCaller
) -> dict[str, Any]:
    return service.retire(caller, record_id.lower(), body.reason_code, body.superseded_by)


@router.get("/{record_id}", summary="Status of a loan record")
def status(record_id: str, service: Service, caller: CurrentCaller) -> dict[str, Any]:
    row = service.submission(caller, record_id)
    view = submission_summary(row)
    view["entry_timestamp"] = (
        json.loads(row.entry_timestamp_json) if row.entry_timestamp_json else None
    )
    return view


@router.get("/{record_id}/receipt", summary="The receipt (evidence package) of an anchored record")
def receipt(record_id: str, service: Service, caller: CurrentCaller) -> dict[str, Any]:
    return service.receipt(caller, record_id).model_dump(mode="json")
