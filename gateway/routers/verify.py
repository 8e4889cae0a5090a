"""Verification of a receipt: anyone may call it; every check is answered by name."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.deps import Service
from gateway.errors import ApiError
from gateway.routers.loans import read_form
from ledger import safejson
from ledger.verify import verify_receipt

router = APIRouter(prefix="/v1", tags=["verification"])


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receipt: dict[str, Any]
    document_sha256: str | None = Field(default=None, pattern=r"^(0x)?[0-9a-fA-F]{64}$")


@router.post(
    "/verify",
    summary="Verify a receipt against the chain (JSON, or multipart with the document file)",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": VerifyRequest.model_json_schema()}}
        }
    },
)
async def verify(request: Request, service: Service) -> dict[str, Any]:
    limit: int = request.app.state.settings.max_upload_bytes
    document: bytes | None = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await read_form(request, limit)
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
        await form.close()
    else:
        try:
            body = VerifyRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise ApiError(422, "INVALID_INPUT", f"{where}: {first.get('msg', 'invalid')}") from exc
    with service.chain_lock:
        report = verify_receipt(
            body.receipt,
            service.client,
            document=document,
            document_sha256=body.document_sha256,
            raise_on_failure=False,
        )
    return report.as_dict()
