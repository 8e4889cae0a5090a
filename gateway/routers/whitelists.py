"""Funders' whitelists (R1): changed by the funder (custodial key), read by any participant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import CurrentCaller, FunderCaller, Service
from ledger.bounds import EffectiveTime, ParticipantId

router = APIRouter(prefix="/v1", tags=["whitelists"])


class WhitelistEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    effective_from: EffectiveTime = Field(
        default=0, description="unix seconds; 0 = now; never in the past"
    )


class Listed(BaseModel):
    funder_id: int
    partner_id: int
    effective_from: int


class Delisted(BaseModel):
    funder_id: int
    partner_id: int
    effective_until: int


class Period(BaseModel):
    valid_from: int
    valid_until: int | None = Field(description="null: still listed")


class Whitelist(BaseModel):
    funder_id: int
    partner_id: int
    partner_role: str
    periods: list[Period]


@router.put(
    "/whitelist/{partner_id}",
    summary="Put a partner on the caller's whitelist (funder)",
    response_model=Listed,
)
def add(
    partner_id: ParticipantId,
    service: Service,
    caller: FunderCaller,
    body: WhitelistEntry | None = None,
) -> Listed:
    effective_from = body.effective_from if body else 0
    service.whitelist_add(caller.participant_id, partner_id, effective_from)
    return Listed(
        funder_id=caller.participant_id, partner_id=partner_id, effective_from=effective_from
    )


@router.delete(
    "/whitelist/{partner_id}",
    summary="Take a partner off the caller's whitelist (funder)",
    response_model=Delisted,
)
def remove(
    partner_id: ParticipantId,
    service: Service,
    caller: FunderCaller,
    effective_until: Annotated[EffectiveTime, Query(description="unix seconds; 0 = now")] = 0,
) -> Delisted:
    service.whitelist_remove(caller.participant_id, partner_id, effective_until)
    return Delisted(
        funder_id=caller.participant_id, partner_id=partner_id, effective_until=effective_until
    )


@router.get(
    "/whitelists",
    summary="Every whitelist with its history (from the registry view of the chain)",
    response_model=list[Whitelist],
)
def whitelists(
    service: Service, _: CurrentCaller, funder_id: ParticipantId | None = None
) -> list[Whitelist]:
    return [Whitelist.model_validate(w) for w in service.whitelists(funder_id)]
