"""What callers hand the gateway and what it hands back, as values (no HTTP here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ledger.bounds import CleanText, OptionalParticipantId, ParticipantId, UnixTime
from ledger.disclosure import FORMAT_V2, FeeDisclosure
from ledger.enums import Anchoring, SubmissionStatus
from ledger.records import LoanRecord, Slot
from ledger.timestamps import SignedEntryTimestamp

__all__ = ["LoanSubmission", "SigningView", "SlotSignature", "SubmissionOutcome"]


class LoanSubmission(BaseModel):
    """What a platform submits for one loan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agreement_sha256: str = Field(pattern=r"^(0x)?[0-9a-fA-F]{64}$")
    disclosure: FeeDisclosure
    borrower_id_type: CleanText = Field(min_length=1, max_length=32, default="resident-id")
    borrower_id: CleanText | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="turned into a keyed, salted commitment at once, never stored",
    )
    borrower_commitment: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{64}$",
        description="instead of borrower_id: a commitment the platform made with its own key "
        "(needed to sign the record before submitting it, non-custodially)",
    )
    funder_id: ParticipantId
    guarantor_id: OptionalParticipantId = 0
    co_funder_id: OptionalParticipantId = 0
    co_funder_share_bps: int = Field(default=0, ge=0, lt=10_000)
    term_days: int | None = Field(
        default=None,
        ge=1,
        lt=2**32,
        description="days from disbursement to the last instalment; default: the form's. When"
        " given it must be the form's (TERM_MISMATCH)",
    )
    issued_at: UnixTime | None = Field(
        default=None, description="unix seconds (2000-2099); default: now"
    )
    legacy: bool = False
    anchoring: Anchoring = Anchoring.BATCH
    platform_signature: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{130}$")
    funder_signature: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{130}$")
    source_system: CleanText = Field(default="", max_length=200)

    @field_validator("disclosure", mode="before")
    @classmethod
    def _v2_unless_stated(cls, value: Any) -> Any:
        """A form that does not state its format is committed field by field (v2), so that it
        can be disclosed selectively; `fee-disclosure/v1` stays accepted when stated."""
        if isinstance(value, dict) and "format" not in value:
            return {**value, "format": FORMAT_V2}
        return value

    @model_validator(mode="after")
    def _one_borrower_reference(self) -> LoanSubmission:
        if (self.borrower_id is None) == (self.borrower_commitment is None):
            raise ValueError("give exactly one of borrower_id and borrower_commitment")
        if self.platform_signature is not None and (
            self.issued_at is None or self.borrower_commitment is None
        ):
            raise ValueError(
                "a platform signature needs issued_at and borrower_commitment (the record must be fixed)"
            )
        return self

    @property
    def agreement_digest(self) -> str:
        """The agreement's SHA-256 as the record holds it (0x, lowercase)."""
        return "0x" + self.agreement_sha256.removeprefix("0x").lower()


@dataclass(frozen=True)
class SubmissionOutcome:
    """Where one submitted record stands after a call."""

    record_id: str
    status: str
    entry_timestamp: SignedEntryTimestamp | None
    duplicate: bool = False


@dataclass(frozen=True)
class SlotSignature:
    """One place of a record that a party signs for, and whether its signature is in."""

    participant_id: int
    slot: Slot
    custodial: bool  # the gateway holds the party's key (and signs for it when asked)
    signer: str | None = None  # the address the signature recovers to, once in
    signature: str | None = None


@dataclass(frozen=True)
class SigningView:
    """What a party signs, and where the signing stands: the full record, its id (the EIP-712
    digest), the typed data for wallets, the fee disclosure form the borrower saw, each party's
    signature or its absence."""

    record_id: str
    status: str
    record: LoanRecord
    typed_data: dict[str, Any]
    disclosure: dict[str, Any] | None
    slots: tuple[SlotSignature, ...]
    your_slots: tuple[Slot, ...]  # the caller's places in the record (none: it only reads)
    entry_timestamp: SignedEntryTimestamp | None
    rejection_code: str | None
    rejection_reason: str | None

    @property
    def missing(self) -> tuple[SlotSignature, ...]:
        """The places whose signature the record waits for (none unless it awaits the funder
        or signatures: a queued or anchored record has them all, a rejected one waits no more)."""
        if self.status not in (
            SubmissionStatus.AWAITING_FUNDER.value,
            SubmissionStatus.AWAITING_SIGNATURES.value,
        ):
            return ()
        return tuple(s for s in self.slots if s.signature is None)
