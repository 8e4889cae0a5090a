"""Batches: whether a Merkle root is anchored, without polling each of its records."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.deps import CurrentCaller, Service
from ledger.bounds import Digest32

router = APIRouter(prefix="/v1/batches", tags=["loans"])


class BatchStatus(BaseModel):
    root: str
    status: str = Field(description="anchored (a root not anchored yet answers 404)")
    transaction_hash: str
    block_number: int
    block_time: int
    size: int = Field(description="records in the batch")
    visible_records: int = Field(description="of them, those the caller may see")


@router.get(
    "/{root}",
    summary="An anchored batch: transaction, block, size (BATCH_NOT_FOUND until anchored)",
    response_model=BatchStatus,
)
def batch(root: Digest32, service: Service, caller: CurrentCaller) -> BatchStatus:
    return BatchStatus.model_validate(service.batch(caller, root))
