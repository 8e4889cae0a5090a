"""Funders' whitelists (R1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import CurrentCaller, FunderCaller, Service

router = APIRouter(prefix="/v1", tags=["whitelists"])


class WhitelistEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    effective_from: int = Field(
        default=0, ge=0, description="unix seconds; 0 = now; never in the past"
    )


@router.put("/whitelist/{partner_id}", summary="Put a partner on the caller's whitelist (funder)")
def add(
    partner_id: int, service: Service, caller: FunderCaller, body: WhitelistEntry | None = None
) -> dict[str, Any]:
    effective_from = body.effective_from if body else 0
    service.whitelist_add(caller.participant_id, partner_id, effective_from)
    return {
        "funder_id": caller.participant_id,
        "partner_id": partner_id,
        "effective_from": effective_from,
    }


@router.delete(
    "/whitelist/{partner_id}", summary="Take a partner off the caller's whitelist (funder)"
)
def remove(
    partner_id: int,
    service: Service,
    caller: FunderCaller,
    effective_until: int = Query(default=0, ge=0, description="unix seconds; 0 = now"),
) -> dict[str, Any]:
    service.whitelist_remove(caller.participant_id, partner_id, effective_until)
    return {
        "funder_id": caller.participant_id,
        "partner_id": partner_id,
        "effective_until": effective_until,
    }


@router.get("/whitelists", summary="Every whitelist with its history, from the chain")
def whitelists(
    service: Service, _: CurrentCaller, funder_id: int | None = None
) -> list[dict[str, Any]]:
    return service.whitelists(funder_id)
