"""Participants and rate policy (regulator)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import CurrentCaller, RegulatorCaller, Service
from ledger.chain.deploy import InstitutionType, ParticipantStatus, Role

router = APIRouter(prefix="/v1", tags=["participants"])

RoleName = Literal["funder", "platform", "credit_enhancer", "auditor", "regulator"]
InstitutionName = Literal["none", "bank", "trust", "consumer_finance", "small_loan", "other"]


class NewParticipant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: RoleName
    name: str = Field(min_length=1, max_length=200)
    institution_type: InstitutionName = "none"
    signer_address: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="non-custodial: the participant's own key",
    )


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["active", "suspended"]


class RateCapChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cap_bps: int = Field(gt=0, le=1_000_000)
    effective_from: int = Field(default=0, ge=0, description="unix seconds; 0 = now")


class LprChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lpr_bps: int = Field(gt=0, le=1_000_000)
    effective_from: int = Field(default=0, ge=0)


def participant_view(row: Any) -> dict[str, Any]:
    view: dict[str, Any] = row.to_model().model_dump()
    return view


@router.post("/participants", status_code=201, summary="Register a participant (regulator)")
def register(body: NewParticipant, service: Service, _: RegulatorCaller) -> dict[str, Any]:
    row, api_key = service.register_participant(
        Role[body.role.upper()],
        body.name,
        InstitutionType[body.institution_type.upper()],
        body.signer_address,
    )
    return {"participant": participant_view(row), "api_key": api_key}


@router.get("/participants", summary="Participants known to this gateway")
def participants(service: Service, _: CurrentCaller) -> list[dict[str, Any]]:
    return [participant_view(r) for r in service.participants()]


@router.put("/participants/{participant_id}/status", summary="Suspend or reactivate (regulator)")
def set_status(
    participant_id: int, body: StatusChange, service: Service, _: RegulatorCaller
) -> dict[str, Any]:
    service.set_participant_status(participant_id, ParticipantStatus[body.status.upper()])
    return {"id": participant_id, "status": body.status}


@router.put("/policy/rate-caps/{institution_type}", summary="Set a per-loan cap (regulator)")
def set_rate_cap(
    institution_type: InstitutionName, body: RateCapChange, service: Service, _: RegulatorCaller
) -> dict[str, Any]:
    service.set_rate_cap(
        InstitutionType[institution_type.upper()], body.cap_bps, body.effective_from
    )
    return {
        "institution_type": institution_type,
        "cap_bps": body.cap_bps,
        "effective_from": body.effective_from,
    }


@router.put("/policy/lpr", summary="Record the 1-year LPR (regulator)")
def set_lpr(body: LprChange, service: Service, _: RegulatorCaller) -> dict[str, Any]:
    service.set_lpr(body.lpr_bps, body.effective_from)
    return {"lpr_bps": body.lpr_bps, "effective_from": body.effective_from}
