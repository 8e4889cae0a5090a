"""The deployment this gateway serves: the trust root auditors pin, the EIP-712 domain records
are signed under, the contracts own-key participants call, and the gateway's own keys."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.deps import Service
from ledger.trust import TrustRoot

router = APIRouter(prefix="/v1", tags=["deployment"])


class Eip712Domain(BaseModel):
    name: str
    version: str
    chainId: int  # the EIP-712 spelling
    verifyingContract: str


class Contracts(BaseModel):
    registry: str = Field(
        description="ParticipantRegistry: own-key funders send addToWhitelist here"
    )
    ledger: str = Field(description="EvidenceLedger: the EIP-712 verifying contract")


class GatewayKeys(BaseModel):
    participant_id: int
    chain_account: str = Field(description="the address this gateway anchors from")
    ed25519_public_key: str = Field(description="the key its entry timestamps are signed with")


class DeploymentOut(BaseModel):
    trust_root: TrustRoot = Field(
        description="save it (e.g. as trust-root.json) and verify with `ledger verify --trust`"
    )
    eip712_domain: Eip712Domain
    contracts: Contracts
    gateway: GatewayKeys


@router.get(
    "/deployment",
    summary="The trust root, the EIP-712 domain and the contracts of this deployment (anyone)",
    response_model=DeploymentOut,
)
def deployment(service: Service) -> DeploymentOut:
    return DeploymentOut.model_validate(service.deployment_info())
