"""Borrower commitments before an auditor or a court: the vault's key and salt of one record's
commitment (its platform, the regulator), and a check anyone can run that an identity opens it."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from gateway.deps import CurrentCaller, Service
from ledger.bounds import RecordId
from ledger.commitments import Opening, OpeningSecret, check_opening
from ledger.records import Bytes32Hex

router = APIRouter(prefix="/v1", tags=["evidence"])


class CommitmentCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    commitment: Bytes32Hex
    opening: Opening


class CommitmentOpened(BaseModel):
    opens: Literal[True]
    commitment: str
    scheme: str


@router.get(
    "/loans/{record_id}/borrower-opening",
    summary="The HMAC key and salt of a record's borrower commitment, to prove before a court"
    " whose loan it is (the loan's platform, the regulator; the identity is not stored)",
    response_model=OpeningSecret,
)
def borrower_opening(record_id: RecordId, service: Service, caller: CurrentCaller) -> OpeningSecret:
    return service.borrower_opening(caller, record_id)


@router.post(
    "/verify/commitment",
    summary="Check that an identity, key and salt open a borrower commitment (anyone);"
    " 422 COMMITMENT_MISMATCH if they do not",
    response_model=CommitmentOpened,
)
def verify_commitment(body: CommitmentCheck) -> CommitmentOpened:
    check_opening(body.commitment, body.opening)
    return CommitmentOpened(
        opens=True, commitment=body.commitment.lower(), scheme=body.opening.scheme
    )
