"""Participants and rate policy (regulator); the participants known to this gateway (anyone
with a key)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.deps import CurrentCaller, RegulatorCaller, Service
from ledger.bounds import CleanText, EffectiveTime, ParticipantId
from ledger.enums import InstitutionLabel, InstitutionType, RoleLabel, StatusLabel
from ledger.records import Participant

router = APIRouter(prefix="/v1", tags=["participants"])


class NewParticipant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: RoleLabel
    name: CleanText = Field(min_length=1, max_length=200)
    institution_type: InstitutionLabel = InstitutionType.NONE
    signer_address: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="non-custodial: the participant's own key",
    )


class Registered(BaseModel):
    participant: Participant
    api_key: str = Field(description="shown once: store it now")


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: StatusLabel


class StatusSet(BaseModel):
    id: int
    status: StatusLabel


class RateCapChange(BaseModel):
    """A fixed cap (`cap_bps`), or one linked to the LPR (`lpr_multiple_bps`: 40,000 = 4 x LPR),
    which then follows every LPR change."""

    model_config = ConfigDict(extra="forbid")
    cap_bps: int | None = Field(default=None, gt=0, le=1_000_000)
    lpr_multiple_bps: int | None = Field(default=None, gt=0, le=1_000_000)
    effective_from: EffectiveTime = Field(default=0, description="unix seconds; 0 = now")

    @model_validator(mode="after")
    def _one_kind(self) -> RateCapChange:
        if (self.cap_bps is None) == (self.lpr_multiple_bps is None):
            raise ValueError("give either cap_bps or lpr_multiple_bps")
        return self


class RateCapSet(RateCapChange):
    institution_type: InstitutionLabel


class LprChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lpr_bps: int = Field(gt=0, le=1_000_000)
    effective_from: EffectiveTime = Field(default=0, description="unix seconds; 0 = now")


@router.post(
    "/participants",
    status_code=201,
    summary="Register a participant (regulator)",
    response_model=Registered,
)
def register(body: NewParticipant, service: Service, _: RegulatorCaller) -> Registered:
    row, api_key = service.register_participant(
        body.role, body.name, body.institution_type, body.signer_address
    )
    return Registered(participant=row.to_model(), api_key=api_key)


@router.get(
    "/participants",
    summary="Participants known to this gateway",
    response_model=list[Participant],
)
def participants(service: Service, _: CurrentCaller) -> list[Participant]:
    return [r.to_model() for r in service.participants()]


@router.get(
    "/me",
    summary="The participant the API key belongs to (any role)",
    response_model=Participant,
)
def me(service: Service, caller: CurrentCaller) -> Participant:
    return service.participant(caller.participant_id).to_model()


@router.put(
    "/participants/{participant_id}/status",
    summary="Suspend or reactivate (regulator)",
    response_model=StatusSet,
)
def set_status(
    participant_id: ParticipantId, body: StatusChange, service: Service, _: RegulatorCaller
) -> StatusSet:
    service.set_participant_status(participant_id, body.status)
    return StatusSet(id=participant_id, status=body.status)


@router.put(
    "/policy/rate-caps/{institution_type}",
    summary="Set a per-loan cap, fixed or linked to the LPR (regulator)",
    response_model=RateCapSet,
    response_model_exclude_none=True,
)
def set_rate_cap(
    institution_type: InstitutionLabel,
    body: RateCapChange,
    service: Service,
    _: RegulatorCaller,
) -> RateCapSet:
    service.set_rate_cap(
        institution_type, body.cap_bps, body.effective_from, lpr_multiple_bps=body.lpr_multiple_bps
    )
    return RateCapSet(institution_type=institution_type, **body.model_dump())


@router.put("/policy/lpr", summary="Record the 1-year LPR (regulator)", response_model=LprChange)
def set_lpr(body: LprChange, service: Service, _: RegulatorCaller) -> LprChange:
    service.set_lpr(body.lpr_bps, body.effective_from)
    return body
