"""The ledger's vocabulary, in one place: roles, institution types, statuses, anchoring modes.

The integer enums mirror the contracts' Solidity enums (`IParticipantRegistry`,
`IEvidenceLedger`) value for value. Everything that names them in text (the API, the database,
receipts) uses `label` — the lowercase name — and `from_label`; the pydantic field types
`RoleLabel`, `InstitutionLabel` and `StatusLabel` are derived from the enums, so no list of names
is written twice.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = [
    "Anchoring",
    "InstitutionLabel",
    "InstitutionType",
    "ParticipantStatus",
    "RecordStatus",
    "RetiredAs",
    "Role",
    "RoleLabel",
    "StatusLabel",
    "SubmissionStatus",
]


class _Labelled(IntEnum):
    @property
    def label(self) -> str:
        """The lowercase name used in text (API, database, receipts)."""
        return self.name.lower()

    @classmethod
    def from_label(cls, text: str) -> Self:
        """The member named `text` (case-insensitive); `ValueError` otherwise."""
        try:
            return cls[text.upper()]
        except KeyError:
            names = ", ".join(m.label for m in cls)
            raise ValueError(f"{text!r} is not one of: {names}") from None


class Role(_Labelled):
    """Mirrors `IParticipantRegistry.Role`."""

    NONE = 0
    FUNDER = 1
    PLATFORM = 2
    CREDIT_ENHANCER = 3
    AUDITOR = 4
    GATEWAY = 5
    REGULATOR = 6


class InstitutionType(_Labelled):
    """Mirrors `IParticipantRegistry.InstitutionType`."""

    NONE = 0
    BANK = 1
    TRUST = 2
    CONSUMER_FINANCE = 3
    SMALL_LOAN = 4
    OTHER = 5


class ParticipantStatus(_Labelled):
    """Mirrors `IParticipantRegistry.Status`."""

    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2


class RecordStatus(_Labelled):
    """Mirrors `IEvidenceLedger.RecordStatus`."""

    UNKNOWN = 0
    ANCHORED = 1
    REVOKED = 2
    SUPERSEDED = 3


class SubmissionStatus(StrEnum):
    """Where a record is in the gateway's pipeline.

    `awaiting_funder` (the platform signed, the funder has not approved, i.e. co-signed) →
    `awaiting_signatures` (the funder approved; a guarantor's or co-funder's signature is still
    missing; skipped when none is) → `queued` (every party signed, the rules passed, the entry
    timestamp issued) → `anchored`; or `rejected` (by the funder, or by a rule when the last
    signature came in). The other parties may sign in any order, before the funder or after."""

    AWAITING_FUNDER = "awaiting_funder"
    AWAITING_SIGNATURES = "awaiting_signatures"
    QUEUED = "queued"
    ANCHORED = "anchored"
    REJECTED = "rejected"


class Anchoring(StrEnum):
    """How a record reaches the chain: in a Merkle batch (cheap) or by itself (the contract
    checks every rule)."""

    BATCH = "batch"
    PER_RECORD = "per-record"


class RetiredAs(StrEnum):
    """What became of an anchored record that is no longer current."""

    REVOKED = "revoked"
    SUPERSEDED = "superseded"


def _label_type(enum: type[_Labelled], *, exclude: tuple[_Labelled, ...] = ()) -> Any:
    allowed = [m for m in enum if m not in exclude]

    def parse(value: Any) -> _Labelled:
        if isinstance(value, enum) and value in allowed:
            return value
        if isinstance(value, str):
            member = enum.from_label(value)
            if member in allowed:
                return member
        raise ValueError(f"must be one of: {', '.join(m.label for m in allowed)}")

    return Annotated[
        enum,
        BeforeValidator(parse),
        PlainSerializer(lambda member: member.label, return_type=str),
        WithJsonSchema({"type": "string", "enum": [m.label for m in allowed]}),
    ]


if TYPE_CHECKING:
    RoleLabel = Role
    InstitutionLabel = InstitutionType
    StatusLabel = ParticipantStatus
else:
    #: A role as the API names it (`funder`, `platform`...); parses to `Role`.
    RoleLabel = _label_type(Role, exclude=(Role.NONE,))
    #: An institution type as the API names it (`bank`, `consumer_finance`...).
    InstitutionLabel = _label_type(InstitutionType)
    #: A participant status as the API names it (`active`, `suspended`).
    StatusLabel = _label_type(ParticipantStatus, exclude=(ParticipantStatus.NONE,))
