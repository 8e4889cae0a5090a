"""The typed records the contracts know: loan records and their retirement (revocation, amendment).

These are exactly the EIP-712 structs of `contracts/src/interfaces/IEvidenceLedger.sol`: integers
in minor units (fen) and basis points, unix seconds (UTC), digests as 0x-hex. Nothing personal:
the borrower appears only as a keyed, salted commitment.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger.enums import InstitutionLabel, RoleLabel, StatusLabel

__all__ = [
    "FLAG_LEGACY",
    "Bytes32Hex",
    "LoanRecord",
    "Participant",
    "Retirement",
    "Slot",
]

#: A place of a loan record that a party signs for (the receipts' signature roles).
Slot = Literal["platform", "funder", "guarantor", "co_funder"]

#: Bit 0 of `LoanRecord.flags`: a legacy (stock) loan above today's cap (R8).
FLAG_LEGACY = 1

Bytes32Hex = Annotated[
    str, Field(pattern=r"^0x[0-9a-f]{64}$", description="32 bytes, 0x + 64 lowercase hex")
]
Uint16 = Annotated[int, Field(ge=0, lt=2**16)]
Uint32 = Annotated[int, Field(ge=0, lt=2**32)]
Uint64 = Annotated[int, Field(ge=0, lt=2**64)]
Uint128 = Annotated[int, Field(ge=0, lt=2**128)]
Uint8 = Annotated[int, Field(ge=0, lt=2**8)]

ZERO32 = "0x" + "00" * 32


class _Struct(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class LoanRecord(_Struct):
    """A loan origination as anchored (`IEvidenceLedger.LoanRecord`)."""

    agreement_digest: Bytes32Hex = Field(description="SHA-256 of the signed loan agreement file")
    disclosure_digest: Bytes32Hex = Field(
        description="SHA-256 of the RFC 8785 canonical fee disclosure"
    )
    borrower_commitment: Bytes32Hex = Field(description="HMAC-SHA-256 commitment to the borrower")
    funder_id: Uint64
    platform_id: Uint64
    guarantor_id: Uint64 = 0
    co_funder_id: Uint64 = 0
    co_funder_share_bps: Uint16 = 0
    principal: Uint128 = Field(description="principal in minor units (fen)")
    apr_bps: Uint32 = Field(description="comprehensive annualized cost, nominal IRR, basis points")
    term_days: Uint32
    issued_at: Uint64 = Field(description="unix seconds, UTC")
    flags: Uint8 = 0

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple, in struct order, for web3 calls."""
        return (
            bytes.fromhex(self.agreement_digest[2:]),
            bytes.fromhex(self.disclosure_digest[2:]),
            bytes.fromhex(self.borrower_commitment[2:]),
            self.funder_id,
            self.platform_id,
            self.guarantor_id,
            self.co_funder_id,
            self.co_funder_share_bps,
            self.principal,
            self.apr_bps,
            self.term_days,
            self.issued_at,
            self.flags,
        )

    @property
    def is_legacy(self) -> bool:
        return bool(self.flags & FLAG_LEGACY)

    def signer_slots(self) -> list[tuple[int, Slot]]:
        """(participant id, slot) of every party whose signature the record needs, in the
        contract's order: platform, funder, then guarantor and co-funder when present."""
        slots: list[tuple[int, Slot]] = [(self.platform_id, "platform"), (self.funder_id, "funder")]
        if self.guarantor_id:
            slots.append((self.guarantor_id, "guarantor"))
        if self.co_funder_id:
            slots.append((self.co_funder_id, "co_funder"))
        return slots

    def signer_ids(self) -> list[int]:
        """Participants whose signatures the record needs, in the contract's order."""
        return [pid for pid, _ in self.signer_slots()]


class Retirement(_Struct):
    """A revocation (`superseded_by` zero) or an amendment (`IEvidenceLedger.Retirement`)."""

    record_id: Bytes32Hex
    superseded_by: Bytes32Hex = ZERO32
    reason_code: Uint16
    retired_at: Uint64

    @property
    def is_amendment(self) -> bool:
        return self.superseded_by != ZERO32

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            bytes.fromhex(self.record_id[2:]),
            bytes.fromhex(self.superseded_by[2:]),
            self.reason_code,
            self.retired_at,
        )


class Participant(BaseModel):
    """A participant as the gateway knows it (the chain's registry is the source of truth)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Uint64
    role: RoleLabel
    institution_type: InstitutionLabel
    name: str = Field(min_length=1, max_length=200)
    signer_address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    status: StatusLabel
    custodial: bool = Field(
        description="whether the gateway holds the signing key (encrypted at rest)"
    )
