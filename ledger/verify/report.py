"""What verification says: one named result per check, the deployment verified against, and the
receipt's fields nothing vouches for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CheckResult",
    "CheckStatus",
    "DeploymentUsed",
    "ReportedSigner",
    "VerificationReport",
]

CheckStatus = Literal["pass", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One named check: passed, failed (with why and a stable code), or skipped (with why)."""

    name: str
    status: CheckStatus
    detail: str
    code: str | None = None


@dataclass(frozen=True, slots=True)
class ReportedSigner:
    """A party whose signature the receipt carries: its slot in the record, its participant id
    and address as the receipt gives them, and its name as the deployment's registry has it
    (`None` when the chain could not say). The `signatures` check says whether the signature
    is that participant's."""

    slot: str
    participant_id: int
    signer: str
    name: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "participant_id": self.participant_id,
            "signer": self.signer,
            "name": self.name,
        }


@dataclass(frozen=True, slots=True)
class DeploymentUsed:
    """The deployment a receipt was verified against, and whether the auditor pinned it."""

    chain_id: int
    registry: str
    ledger: str
    genesis_hash: str | None
    pinned: bool
    as_of: str = "the latest block"

    def as_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "registry": self.registry,
            "ledger": self.ledger,
            "genesis_hash": self.genesis_hash,
            "pinned": self.pinned,
            "as_of": self.as_of,
        }


@dataclass
class VerificationReport:
    """Every check of one receipt."""

    record_id: str
    format: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    deployment: DeploymentUsed | None = None
    unverified: list[str] = field(default_factory=list)
    signers: list[ReportedSigner] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.status != "fail" for c in self.checks)

    @property
    def pinned(self) -> bool:
        return self.deployment is not None and self.deployment.pinned

    @property
    def first_failure(self) -> CheckResult | None:
        return next((c for c in self.checks if c.status == "fail"), None)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.status == "fail"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "format": self.format,
            "ok": self.ok,
            "pinned": self.pinned,
            "deployment": self.deployment.as_dict() if self.deployment else None,
            "checks": [
                {
                    "name": c.name,
                    "status": c.status,
                    "detail": c.detail,
                    **({"code": c.code} if c.code else {}),
                }
                for c in self.checks
            ],
            "unverified": list(self.unverified),
            "signers": [signer.as_dict() for signer in self.signers],
        }
