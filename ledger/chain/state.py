"""The contracts' state rebuilt from their events, with history, tagged with the block it reflects.

`RegistryState` answers what `ParticipantRegistry`'s views answer (`epochAt`, `roleOf`,
`isWhitelisted`, `rateCapAt`, `lprAt`, `coFundingFloorAt`, `legacyCutoffAt`) with the same
semantics, from memory; `LedgerState` holds `EvidenceLedger`'s batches, per-record anchors,
retirements and proven violations. Both are plain data (picklable, so worker processes can share
them) and follow the chain by applying new events (`apply`). Tests compare every answer with the
contract's own view functions.

History cannot be backdated on chain, so the answer for any time up to the state's block is final.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ledger.chain.client import ChainClient
from ledger.chain.events import ChainEvent, EventDecoder, read_events

__all__ = [
    "AnchoredBatch",
    "AnchoredLoan",
    "Epoch",
    "LedgerState",
    "ParticipantState",
    "RegistryState",
    "Retirement",
    "follow_chain",
    "load_chain_state",
]

_ACTIVE = 1
_REVOKED, _SUPERSEDED = 2, 3
_NO_EPOCH: tuple[str, bytes, int, int] = ("0x" + "00" * 20, b"\0" * 32, 0, 0)


@dataclass(frozen=True, slots=True)
class Epoch:
    """`IParticipantRegistry.Epoch`."""

    signer: str
    ed25519_public_key: bytes
    status: int
    valid_from: int


@dataclass(slots=True)
class ParticipantState:
    role: int
    institution_type: int
    registered_at: int
    name: str
    epochs: list[Epoch] = field(default_factory=list)


#: `ParticipantRegistry._MAX_RATE_BPS`: an LPR-linked cap is never higher
_MAX_RATE_BPS = 1_000_000

_Entry = TypeVar("_Entry", bound=tuple[int, ...])


def _at(history: list[_Entry], at: int) -> _Entry | None:
    """The last (effective_from, value) entry with effective_from <= at (contract: newest first)."""
    index = bisect_right(history, at, key=lambda entry: entry[0])
    return history[index - 1] if index else None


@dataclass
class RegistryState:
    """`ParticipantRegistry` as of `block`; see the module docstring."""

    block: int = -1
    participants: dict[int, ParticipantState] = field(default_factory=dict)
    whitelist: dict[tuple[int, int], list[list[int]]] = field(default_factory=dict)
    #: per institution type: (effective from, cap bps, LPR multiple bps — 0 for a fixed cap)
    rate_caps: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    lpr: list[tuple[int, int]] = field(default_factory=list)
    co_funding_floors: list[tuple[int, int]] = field(default_factory=list)
    legacy_cutoffs: list[tuple[int, int]] = field(default_factory=list)
    role_holders: dict[bytes, set[str]] = field(default_factory=dict)  # AccessControl roles

    # ------------------------------------------------------------------ following the chain

    def apply(self, event: ChainEvent) -> None:
        """Applies one `ParticipantRegistry` event (in chain order)."""
        a, t = event.args, event.block_time
        name = event.name
        if name == "ParticipantRegistered":
            self.participants[int(a["participantId"])] = ParticipantState(
                int(a["role"]),
                int(a["institutionType"]),
                t,
                str(a["name"]),
                [Epoch(str(a["signer"]), bytes(a["ed25519PublicKey"]), _ACTIVE, t)],
            )
        elif name in ("ParticipantStatusChanged", "SignerRotated", "Ed25519KeyRotated"):
            p = self.participants[int(a["participantId"])]
            last = p.epochs[-1]
            p.epochs.append(
                Epoch(
                    str(a["newSigner"]) if name == "SignerRotated" else last.signer,
                    bytes(a["newKey"]) if name == "Ed25519KeyRotated" else last.ed25519_public_key,
                    int(a["status"]) if name == "ParticipantStatusChanged" else last.status,
                    t,
                )
            )
        elif name == "WhitelistEntryAdded":
            key = (int(a["funderId"]), int(a["partnerId"]))
            self.whitelist.setdefault(key, []).append([int(a["validFrom"]), 0])
        elif name == "WhitelistEntryRemoved":
            self.whitelist[(int(a["funderId"]), int(a["partnerId"]))][-1][1] = int(a["validUntil"])
        elif name == "RateCapSet":
            caps = self.rate_caps.setdefault(int(a["institutionType"]), [])
            caps.append((int(a["effectiveFrom"]), int(a["capBps"]), 0))
        elif name == "RateCapLinkedToLpr":
            caps = self.rate_caps.setdefault(int(a["institutionType"]), [])
            caps.append((int(a["effectiveFrom"]), 0, int(a["lprMultipleBps"])))
        elif name == "LprSet":
            self.lpr.append((int(a["effectiveFrom"]), int(a["lprBps"])))
        elif name == "CoFundingFloorSet":
            self.co_funding_floors.append((int(a["effectiveFrom"]), int(a["floorBps"])))
        elif name == "LegacyCutoffSet":
            self.legacy_cutoffs.append((int(a["effectiveFrom"]), int(a["cutoff"])))
        elif name == "RoleGranted":
            self.role_holders.setdefault(bytes(a["role"]), set()).add(str(a["account"]))
        elif name == "RoleRevoked":
            self.role_holders.get(bytes(a["role"]), set()).discard(str(a["account"]))
        self.block = max(self.block, event.block_number)

    def has_role(self, role: bytes, account: str) -> bool:
        """AccessControl `hasRole` (`account` checksummed)."""
        return account in self.role_holders.get(role, set())

    # ------------------------------------------------------------------ the contract's views

    def epoch_at(self, participant_id: int, at: int) -> Epoch:
        """`epochAt`: the last epoch with `valid_from <= at`, or the empty epoch."""
        p = self.participants.get(participant_id)
        if p is not None:
            for epoch in reversed(p.epochs):
                if epoch.valid_from <= at:
                    return epoch
        return Epoch(*_NO_EPOCH)

    def role_of(self, participant_id: int) -> tuple[int, int]:
        """`roleOf`: (role, institution type); (0, 0) for an unknown id."""
        p = self.participants.get(participant_id)
        return (p.role, p.institution_type) if p is not None else (0, 0)

    def is_whitelisted(self, funder_id: int, partner_id: int, at: int) -> bool:
        """`isWhitelisted`."""
        for valid_from, valid_until in reversed(self.whitelist.get((funder_id, partner_id), [])):
            if valid_from <= at:
                return valid_until == 0 or at < valid_until
        return False

    def whitelist_history(self, funder_id: int, partner_id: int) -> list[tuple[int, int]]:
        return [(f, u) for f, u in self.whitelist.get((funder_id, partner_id), [])]

    def rate_cap_at(self, institution_type: int, at: int) -> tuple[bool, int]:
        """`rateCapAt`: before the first entry, the first entry applies."""
        caps = self.rate_caps.get(institution_type, [])
        if not caps:
            return False, 0
        _, cap, multiple = _at(caps, at) or caps[0]
        if multiple == 0:
            return True, cap
        lpr = self.lpr_at(at)  # linked to the LPR: none in force, no cap
        return (False, 0) if lpr == 0 else (True, min(lpr * multiple // 10_000, _MAX_RATE_BPS))

    def lpr_at(self, at: int) -> int:
        entry = _at(self.lpr, at)
        return entry[1] if entry else 0

    def co_funding_floor_at(self, at: int) -> int:
        entry = _at(self.co_funding_floors, at)
        return (entry or self.co_funding_floors[0])[1]

    def legacy_cutoff_at(self, at: int) -> int:
        entry = _at(self.legacy_cutoffs, at)
        return (entry or self.legacy_cutoffs[0])[1]


@dataclass(frozen=True, slots=True)
class AnchoredBatch:
    """`IEvidenceLedger.Batch` and the transaction that anchored it."""

    gateway_id: int
    anchored_at: int
    block_number: int
    record_count: int
    transaction_hash: bytes


@dataclass(frozen=True, slots=True)
class AnchoredLoan:
    """A record anchored by itself (`LoanAnchored`)."""

    anchored_at: int
    block_number: int
    transaction_hash: bytes


@dataclass(frozen=True, slots=True)
class Retirement:
    status: int  # RecordStatus.REVOKED or SUPERSEDED
    retired_at: int
    reason_code: int
    superseded_by: bytes


@dataclass
class LedgerState:
    """`EvidenceLedger` as of `block`."""

    block: int = -1
    batches: dict[bytes, AnchoredBatch] = field(default_factory=dict)
    loans: dict[bytes, AnchoredLoan] = field(default_factory=dict)
    retirements: dict[bytes, Retirement] = field(default_factory=dict)
    violations: dict[bytes, bytes] = field(default_factory=dict)

    def apply(self, event: ChainEvent) -> None:
        a, t = event.args, event.block_time
        name = event.name
        if name == "BatchAnchored":
            self.batches[bytes(a["root"])] = AnchoredBatch(
                int(a["gatewayId"]),
                t,
                event.block_number,
                int(a["recordCount"]),
                event.transaction_hash,
            )
        elif name == "LoanAnchored":
            self.loans[bytes(a["recordId"])] = AnchoredLoan(
                t, event.block_number, event.transaction_hash
            )
        elif name == "RecordRevoked":
            self.retirements[bytes(a["recordId"])] = Retirement(
                _REVOKED, int(a["retiredAt"]), int(a["reasonCode"]), b"\0" * 32
            )
        elif name == "RecordAmended":
            self.retirements[bytes(a["recordId"])] = Retirement(
                _SUPERSEDED, int(a["retiredAt"]), int(a["reasonCode"]), bytes(a["supersededBy"])
            )
        elif name == "ViolationProven":
            self.violations[bytes(a["recordId"])] = bytes(a["code"])
        self.block = max(self.block, event.block_number)


def load_chain_state(
    client: ChainClient,
    registry: str,
    ledger: str,
    from_block: int,
    to_block: int | None = None,
    **read_options: Any,
) -> tuple[RegistryState, LedgerState]:
    """Both states from the deployment block to `to_block` (default: the head)."""
    head = int(client.w3.eth.block_number) if to_block is None else to_block
    fns = client.contract("ParticipantRegistry", registry).functions
    reg = RegistryState()
    # The constructor's genesis policy entries emit no event: read them (effective from 0).
    reg.co_funding_floors.append((0, int(client.call(fns.coFundingFloorAt(0), block=head))))
    reg.legacy_cutoffs.append((0, int(client.call(fns.legacyCutoffAt(0), block=head))))
    led = LedgerState()
    follow_chain(client, registry, ledger, reg, led, from_block, head, **read_options)
    return reg, led


def follow_chain(
    client: ChainClient,
    registry: str,
    ledger: str,
    reg: RegistryState,
    led: LedgerState,
    from_block: int,
    to_block: int,
    **read_options: Any,
) -> list[ChainEvent]:
    """Applies the events of [from_block, to_block] to both states; returns them."""
    decoder = EventDecoder({"ParticipantRegistry": registry, "EvidenceLedger": ledger})
    events = read_events(client, decoder, from_block, to_block, **read_options)
    for event in events:
        (reg if event.contract == "ParticipantRegistry" else led).apply(event)
    reg.block = max(reg.block, to_block)
    led.block = max(led.block, to_block)
    return events
