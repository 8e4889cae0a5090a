"""Loans: submission (platform), approval or rejection (funder), every party's signature (own
key or custodial) and what it signs, status and receipts."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.deps import CurrentCaller, FunderCaller, PartyCaller, PlatformCaller, Service
from gateway.errors import ApiError
from gateway.forms import read_form
from gateway.openapi import request_body
from gateway.routers.regulator import LoanPage, loan_filter
from ledger.bounds import CleanText, ReasonCode, RecordId, input_error
from ledger.enums import Anchoring, RetiredAs, SubmissionStatus
from ledger.errors import InputError
from ledger.limits import MAX_BATCH_SUBMISSION, MAX_RECEIPT_BATCH
from ledger.queries import MAX_PAGE, LoanFilter
from ledger.receipts import Receipt
from ledger.records import LoanRecord, Slot
from ledger.safejson import check_json_shape
from ledger.service import LoanSubmission, SigningView, SlotSignature, SubmissionOutcome
from ledger.timestamps import SignedEntryTimestamp
from ledger.vault import Erasure, StagedDocument, stage

router = APIRouter(prefix="/v1/loans", tags=["loans"])
_SETTLED = (SubmissionStatus.ANCHORED.value, SubmissionStatus.REJECTED.value)


class LoanBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    loans: list[LoanSubmission] = Field(min_length=1, max_length=MAX_BATCH_SUBMISSION)


class Confirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signature: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{130}$",
        description="own-key parties: the 65-byte signature r‖s‖v over the record id, as a"
        " wallet's signTypedData of the record's typed data makes it; omitted: the gateway"
        " signs with the party's custodial key",
    )


class ConfirmationBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_ids: list[RecordId] = Field(min_length=1, max_length=MAX_BATCH_SUBMISSION)


class ReceiptQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_ids: list[RecordId] = Field(min_length=1, max_length=MAX_RECEIPT_BATCH)


class MissingReceipt(BaseModel):
    record_id: str
    code: str = Field(description="RECORD_NOT_FOUND or NOT_ANCHORED")


class ReceiptBatch(BaseModel):
    receipts: list[Receipt] = Field(description="in the order asked; a repeated id comes once")
    missing: list[MissingReceipt]


class RetirementRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason_code: ReasonCode


class AmendmentRequest(RetirementRequest):
    superseded_by: str = Field(
        pattern=r"^0x[0-9a-fA-F]{64}$", description="the replacing record's id"
    )


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: CleanText = Field(min_length=1, max_length=1000)


class Outcome(BaseModel):
    """Where a record stands: and, once accepted, the gateway's signed promise to anchor it."""

    record_id: str
    status: SubmissionStatus
    duplicate: bool = Field(description="the same loan was submitted before: this is that record")
    entry_timestamp: SignedEntryTimestamp | None = None


class ItemError(BaseModel):
    code: str
    message: str


class SubmitItem(BaseModel):
    index: int
    record_id: str | None = None
    status: SubmissionStatus | None = None
    duplicate: bool | None = None
    error: ItemError | None = None


class SubmitBatchOut(BaseModel):
    accepted: int
    rejected: int
    results: list[SubmitItem]


class ConfirmItem(BaseModel):
    record_id: str
    status: SubmissionStatus | None = None
    error: ItemError | None = None


class ConfirmBatchOut(BaseModel):
    accepted: int
    rejected: int
    results: list[ConfirmItem]


class Prepared(BaseModel):
    record: LoanRecord
    record_id: str = Field(description="the EIP-712 digest to sign")
    typed_data: dict[str, Any] = Field(
        description="EIP-712 typed data, for wallets (eth_signTypedData_v4)"
    )


class SlotOut(BaseModel):
    """One place of the record a party signs for."""

    participant_id: int
    slot: Slot
    custodial: bool = Field(description="the gateway holds the party's key and signs for it")
    signed: bool
    signer: str | None = Field(description="the address the signature recovers to, once in")
    signature: str | None


class Signing(BaseModel):
    """What the parties of a record sign, and where the signing stands."""

    record_id: str = Field(description="the EIP-712 digest every party signs")
    status: SubmissionStatus
    record: LoanRecord
    typed_data: dict[str, Any] = Field(
        description="EIP-712 typed data (eth_signTypedData_v4); for ethers' signTypedData pass"
        " domain, message and the types without EIP712Domain"
    )
    disclosure: dict[str, Any] | None = Field(
        description="the fee disclosure form as the borrower saw it; the SHA-256 of its RFC 8785"
        " canonical JSON is the record's disclosure_digest"
    )
    signatures: list[SlotOut] = Field(description="every place, in the contract's order")
    missing: list[SlotOut] = Field(
        description="the places whose signature the record still waits for"
    )
    your_slots: list[Slot] = Field(description="the caller's places in the record")
    entry_timestamp: SignedEntryTimestamp | None
    rejection: Rejected | None


def _slot_view(slot: SlotSignature) -> SlotOut:
    return SlotOut(
        participant_id=slot.participant_id,
        slot=slot.slot,
        custodial=slot.custodial,
        signed=slot.signature is not None,
        signer=slot.signer,
        signature=slot.signature,
    )


def signing_view(view: SigningView) -> Signing:
    return Signing(
        record_id=view.record_id,
        status=SubmissionStatus(view.status),
        record=view.record,
        typed_data=view.typed_data,
        disclosure=view.disclosure,
        signatures=[_slot_view(s) for s in view.slots],
        missing=[_slot_view(s) for s in view.missing],
        your_slots=list(view.your_slots),
        entry_timestamp=view.entry_timestamp,
        rejection=Rejected(code=view.rejection_code, reason=view.rejection_reason)
        if view.rejection_code
        else None,
    )


class Retired(BaseModel):
    record_id: str
    retired: RetiredAs
    superseded_by: str | None
    reason_code: int
    transaction_hash: str
    block_number: int


class Rejected(BaseModel):
    code: str
    reason: str | None


class LoanStatus(BaseModel):
    record_id: str
    status: SubmissionStatus
    anchoring: Anchoring
    platform_id: int
    funder_id: int
    guarantor_id: int | None
    co_funder_id: int | None
    institution_type: str
    principal: int = Field(description="fen")
    apr_bps: int
    issued_at: int
    legacy: bool
    batch_root: str | None
    transaction_hash: str | None
    block_number: int | None
    block_time: int | None
    rejection: Rejected | None
    retired: RetiredAs | None
    entry_timestamp: SignedEntryTimestamp | None
    erasure: Erasure | None = Field(
        default=None,
        description="the loan's erasure (PIPL), requested or executed; the anchored record and"
        " its receipt are unchanged by it",
    )


def outcome_view(outcome: SubmissionOutcome) -> Outcome:
    return Outcome(
        record_id=outcome.record_id,
        status=SubmissionStatus(outcome.status),
        duplicate=outcome.duplicate,
        entry_timestamp=outcome.entry_timestamp,
    )


async def _read_upload(
    request: Request,
) -> tuple[LoanSubmission, StagedDocument | None, str, Any]:
    """JSON body, or multipart with a `submission` JSON field and an `agreement` file. The file
    stays in the form's spool file (on disk past 1 MiB), hashed chunk by chunk: it is never
    whole in memory. The form is returned too: close it once the document is stored."""
    limit: int = request.app.state.settings.max_upload_bytes
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await read_form(request, limit)
        try:
            submission, document, media_type = await _from_form(form, limit)
        except BaseException:
            await form.close()
            raise
        return submission, document, media_type, form
    return _submission(await request.body()), None, "application/pdf", None


def _submission(raw: bytes | str) -> LoanSubmission:
    """The submission in a JSON body or form field; its shape is checked before it is parsed."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    check_json_shape(data)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("the submission is not UTF-8", code="INVALID_UTF8") from exc
    try:
        return LoanSubmission.model_validate_json(data)
    except ValidationError as exc:
        raise input_error(exc.errors()) from exc


async def _from_form(form: Any, limit: int) -> tuple[LoanSubmission, StagedDocument | None, str]:
    raw = form.get("submission")
    upload = form.get("agreement")
    if not isinstance(raw, str):
        raise ApiError(
            422, "INVALID_INPUT", "multipart needs a `submission` field with the loan as JSON"
        )
    submission = _submission(raw)
    document = None
    media_type = "application/octet-stream"
    if upload is not None and not isinstance(upload, str):
        document = await run_in_threadpool(stage, upload.file)
        if document.size > limit:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the agreement exceeds {limit} bytes")
        media_type = upload.content_type or media_type
    return submission, document, media_type


_UPLOAD = {
    "required": ["submission"],
    "properties": {
        "submission": {"type": "string", "description": "the loan as JSON (LoanSubmission)"},
        "agreement": {"type": "string", "format": "binary", "description": "the agreement file"},
    },
}


@router.post(
    "",
    status_code=202,
    summary="Submit a loan (platform): JSON, or multipart with the agreement file",
    response_model=Outcome,
    openapi_extra=request_body(LoanSubmission, multipart=_UPLOAD),
)
async def submit(request: Request, service: Service, caller: PlatformCaller) -> Outcome:
    submission, document, media_type, form = await _read_upload(request)
    try:
        if submission.anchoring is Anchoring.PER_RECORD or document is not None:
            # per-record waits for its own transaction; a document is encrypted chunk by chunk
            return outcome_view(
                await run_in_threadpool(
                    service.submit_loan, caller, submission, document, media_type
                )
            )
        # Admission into the batch queue is CPU work of a millisecond: done on the event loop.
        return outcome_view(service.submit_loan(caller, submission, document, media_type))
    finally:
        if form is not None:
            await form.close()


@router.post(
    "/prepare",
    summary="The record and id a platform with its own key must sign (nothing stored)",
    response_model=Prepared,
    openapi_extra=request_body(LoanSubmission),
)
async def prepare(request: Request, service: Service, caller: PlatformCaller) -> Prepared:
    submission = _submission(await request.body())
    record, record_id = service.prepare_loan(caller, submission)
    return Prepared(
        record=record, record_id="0x" + record_id.hex(), typed_data=service.typed_data(record)
    )


def _tally(results: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch answer: how many items were accepted and rejected, and each item's result."""
    accepted = sum("error" not in r for r in results)
    return {"accepted": accepted, "rejected": len(results) - accepted, "results": results}


@router.post(
    "/batch",
    status_code=202,
    summary="Submit up to 10,000 loans (platform)",
    response_model=SubmitBatchOut,
    response_model_exclude_none=True,
)
def submit_batch(body: LoanBatch, service: Service, caller: PlatformCaller) -> SubmitBatchOut:
    return SubmitBatchOut.model_validate(_tally(service.submit_batch(caller, body.loans)))


@router.post(
    "/confirm-batch",
    summary="Co-sign many loans at once (funder)",
    response_model=ConfirmBatchOut,
    response_model_exclude_none=True,
)
def confirm_batch(
    body: ConfirmationBatch, service: Service, caller: FunderCaller
) -> ConfirmBatchOut:
    return ConfirmBatchOut.model_validate(_tally(service.confirm_batch(caller, body.record_ids)))


@router.post(
    "/receipts",
    summary="The receipts of many anchored records at once (up to 1,000)",
    response_model=ReceiptBatch,
)
async def receipts(body: ReceiptQuery, service: Service, caller: CurrentCaller) -> Response:
    # Stored JSON, concatenated: no parsing or re-serializing of the receipts themselves.
    found, missing = service.receipts_json(caller, body.record_ids)
    gaps = json.dumps([{"record_id": rid, "code": code} for rid, code in missing])
    text = '{"receipts":[' + ",".join(found) + '],"missing":' + gaps + "}"
    return Response(text, media_type="application/json")


@router.get(
    "/{record_id}/signing",
    summary="What a loan's parties sign: the full record, its id and EIP-712 typed data, the fee"
    " disclosure, and whose signatures are in and missing (anyone who may see the loan)",
    response_model=Signing,
)
def signing(record_id: RecordId, service: Service, caller: CurrentCaller) -> Signing:
    return signing_view(service.signing(caller, record_id))


@router.post(
    "/{record_id}/sign",
    summary="Sign a loan for one's place in it (platform, funder, guarantor, co-funder): own key"
    " (signature given, verified against the registered key) or custodial; the last signature"
    " settles it, in any order",
    response_model=Signing,
)
def sign(
    record_id: RecordId, service: Service, caller: PartyCaller, body: Confirmation | None = None
) -> Signing:
    service.sign_loan(caller, record_id, body.signature if body else None)
    return signing_view(service.signing(caller, record_id))


@router.post(
    "/{record_id}/confirm",
    summary="Approve a loan by co-signing it (funder, R7); with other parties' signatures"
    " missing it waits for them (awaiting_signatures, see /signing)",
    response_model=Outcome,
)
def confirm(
    record_id: RecordId, service: Service, caller: FunderCaller, body: Confirmation | None = None
) -> Outcome:
    return outcome_view(
        service.confirm_loan(caller, record_id.lower(), body.signature if body else None)
    )


@router.post(
    "/{record_id}/reject",
    summary="Refuse a loan awaiting approval (funder)",
    response_model=Outcome,
)
def reject(record_id: RecordId, body: Rejection, service: Service, caller: FunderCaller) -> Outcome:
    return outcome_view(service.reject_loan(caller, record_id.lower(), body.reason))


@router.post(
    "/{record_id}/revoke",
    summary="Revoke an anchored record (regulator, or its platform and funder)",
    response_model=Retired,
)
def revoke(
    record_id: RecordId, body: RetirementRequest, service: Service, caller: CurrentCaller
) -> Retired:
    return Retired.model_validate(service.retire(caller, record_id.lower(), body.reason_code))


@router.post(
    "/{record_id}/amend",
    summary="Amend an anchored record: superseded by another (same signers)",
    response_model=Retired,
)
def amend(
    record_id: RecordId, body: AmendmentRequest, service: Service, caller: CurrentCaller
) -> Retired:
    return Retired.model_validate(
        service.retire(caller, record_id.lower(), body.reason_code, body.superseded_by)
    )


#: longest `wait` of the status route, seconds; and how often it looks meanwhile
MAX_WAIT_SECONDS = 30.0
_WAIT_POLL_SECONDS = 0.1


@router.get(
    "",
    summary="The loans the caller may see (platform: its own; funder: funded or co-funded;"
    " credit enhancer: guaranteed), filtered, in cursor pages",
    response_model=LoanPage,
)
def own_loans(
    service: Service,
    caller: CurrentCaller,
    flt: Annotated[LoanFilter, Depends(loan_filter)],
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> LoanPage:
    items, next_cursor = service.own_loans(caller, flt, cursor=cursor, limit=limit)
    return LoanPage(items=items, next_cursor=next_cursor)


@router.get("/{record_id}", summary="Status of a loan record", response_model=LoanStatus)
async def status(
    record_id: RecordId,
    service: Service,
    caller: CurrentCaller,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="long-poll: answer once the record is anchored or rejected, or after"
            " this many seconds (at most 30), whichever comes first",
        ),
    ] = 0,
) -> LoanStatus:
    view = service.status(caller, record_id)
    deadline = time.monotonic() + wait
    while view["status"] not in _SETTLED and time.monotonic() < deadline:
        await asyncio.sleep(min(_WAIT_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        view = service.status(caller, record_id)
    entry = view.pop("entry_timestamp_json")
    erasure = service.vault.recorded_erasure(record_id)
    return LoanStatus.model_validate(
        {**view, "entry_timestamp": json.loads(entry) if entry else None, "erasure": erasure}
    )


@router.get(
    "/{record_id}/receipt",
    summary="The receipt (evidence package) of an anchored record",
    response_model=Receipt,
)
async def receipt(record_id: RecordId, service: Service, caller: CurrentCaller) -> Response:
    # Built and stored when the record was anchored: one indexed read, served as it is.
    return Response(service.receipt_json(caller, record_id), media_type="application/json")
