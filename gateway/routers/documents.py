"""The document vault over HTTP: a loan's agreement (streamed), its erasure, its evidence log,
and auditors' access grants (`ledger.vault`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import CurrentCaller, Service
from ledger.bounds import CleanText, ParticipantId, RecordId, UnixTime
from ledger.limits import MAX_GRANT_LOANS
from ledger.vault import Erasure, Grant, LogEntry

__all__ = ["router"]

router = APIRouter(tags=["documents"])

#: the response header carrying the document's SHA-256 (the agreement digest anchored on chain)
DIGEST_HEADER = "X-Document-SHA256"


@router.get(
    "/v1/loans/{record_id}/document",
    summary="The loan's agreement, decrypted and streamed (parties, regulator, auditors with a"
    " live grant); every read is logged",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "the document"},
        403: {"description": "DOCUMENT_FORBIDDEN, GRANT_REQUIRED"},
        404: {"description": "RECORD_NOT_FOUND, DOCUMENT_NOT_FOUND"},
        410: {"description": "DOCUMENT_ERASED"},
    },
)
async def document(record_id: RecordId, service: Service, caller: CurrentCaller) -> Any:
    info, chunks = await run_in_threadpool(service.vault.read, caller, record_id.lower())

    def body() -> Iterator[bytes]:  # iterated in a worker thread, chunk by chunk
        yield from chunks

    return StreamingResponse(
        body(),
        media_type=info.media_type,
        headers={
            "Content-Length": str(info.size),
            DIGEST_HEADER: info.sha256,
            "Cache-Control": "no-store",
        },
    )


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: CleanText = Field(min_length=1, max_length=500, description="why (no personal data)")
    reference: CleanText = Field(
        min_length=1, max_length=200, description="the borrower's erasure request reference"
    )


class ErasureOut(BaseModel):
    erasure: Erasure | None


@router.post(
    "/v1/loans/{record_id}/erasure",
    summary="Erasure (PIPL): the loan's platform requests it (the funder approves), or the"
    " regulator orders it (executed at once)",
    response_model=ErasureOut,
)
def request_erasure(
    record_id: RecordId, body: ErasureRequest, service: Service, caller: CurrentCaller
) -> ErasureOut:
    return ErasureOut(
        erasure=service.vault.request_erasure(
            caller, record_id.lower(), body.reason, body.reference
        )
    )


@router.post(
    "/v1/loans/{record_id}/erasure/approval",
    summary="The loan's funder approves its platform's erasure request: executed at once",
    response_model=ErasureOut,
)
def approve_erasure(record_id: RecordId, service: Service, caller: CurrentCaller) -> ErasureOut:
    return ErasureOut(erasure=service.vault.approve_erasure(caller, record_id.lower()))


@router.get(
    "/v1/loans/{record_id}/erasure",
    summary="The loan's erasure: requested, approved or ordered, executed (null: none)",
    response_model=ErasureOut,
)
def erasure(record_id: RecordId, service: Service, caller: CurrentCaller) -> ErasureOut:
    return ErasureOut(erasure=service.vault.erasure(caller, record_id.lower()))


class EvidenceLog(BaseModel):
    entries: list[LogEntry]


@router.get(
    "/v1/loans/{record_id}/evidence-log",
    summary="Who read the loan's document, grants covering it, its erasure: each entry with its"
    " on-chain anchor and Merkle proof once anchored",
    response_model=EvidenceLog,
)
def evidence_log(record_id: RecordId, service: Service, caller: CurrentCaller) -> EvidenceLog:
    return EvidenceLog(entries=service.vault.evidence_log(caller, record_id.lower()))


class GrantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    auditor_id: ParticipantId
    record_ids: list[RecordId] = Field(min_length=1, max_length=MAX_GRANT_LOANS)
    valid_from: UnixTime
    valid_until: UnixTime


class GrantList(BaseModel):
    grants: list[Grant]


@router.post(
    "/v1/grants",
    status_code=201,
    summary="Grant an auditor time-limited access to loans' documents (regulator: any loans;"
    " funder: loans it funds or co-funds)",
    response_model=Grant,
)
def create_grant(body: GrantRequest, service: Service, caller: CurrentCaller) -> Grant:
    return service.vault.grant(
        caller, body.auditor_id, list(body.record_ids), body.valid_from, body.valid_until
    )


@router.get(
    "/v1/grants",
    summary="Grants the caller made, or (an auditor) the grants made to it",
    response_model=GrantList,
)
def list_grants(service: Service, caller: CurrentCaller) -> GrantList:
    return GrantList(grants=service.vault.grants(caller))


@router.delete(
    "/v1/grants/{grant_id}",
    summary="Revoke a grant (its grantor)",
    response_model=Grant,
)
def revoke_grant(
    grant_id: Annotated[int, Path(ge=1, le=2**63 - 1)], service: Service, caller: CurrentCaller
) -> Grant:
    return service.vault.revoke(caller, grant_id)
