"""Gathering what a package states beyond the receipt, from the chain: the signers' registry
epochs at the record's issue time, the provenance, and every revocation or amendment event."""

from __future__ import annotations

from typing import Any, Literal

from ledger.chain.client import ChainClient
from ledger.chain.events import EventDecoder, read_events
from ledger.enums import InstitutionType, ParticipantStatus, Role
from ledger.evidence.model import (
    ChainSection,
    EvidenceFacts,
    HistoryEvent,
    ProvenanceSection,
    SignerAtSigning,
)
from ledger.receipts import AnyReceipt, Receipt
from ledger.trust import TrustRoot
from ledger.verify.facts import ChainFacts

__all__ = ["chain_section", "gather_facts", "history_of", "signers_at_signing"]


def _label(kind: type[Role] | type[InstitutionType] | type[ParticipantStatus], v: int) -> str:
    try:
        return kind(v).label
    except ValueError:
        return str(v)


def _or_none(call: Any, *args: Any) -> Any:
    try:  # an unknown id or a node error: the package says it cannot tell
        return call(*args)
    except Exception:
        return None


def chain_section(receipt: AnyReceipt) -> ChainSection:
    a = receipt.anchor
    return ChainSection(
        chain_id=a.chain_id,
        registry=a.registry,
        ledger=a.ledger,
        mode=a.mode,
        transaction_hash=a.transaction_hash,
        block_number=a.block_number,
        block_time=a.block_time,
        leaf=a.leaf.model_dump(mode="json") if a.leaf is not None else None,
        proof=list(a.proof),
        root=a.root,
        batch_size=a.batch_size,
    )


def signers_at_signing(receipt: AnyReceipt, facts: ChainFacts) -> list[SignerAtSigning]:
    """Each signature's participant as the registry had it at the record's `issued_at`."""
    at = receipt.record.issued_at
    out: list[SignerAtSigning] = []
    for sig in receipt.signatures:
        epoch = _or_none(facts.epoch_at, sig.participant_id, at)
        role = _or_none(facts.role_of, sig.participant_id)
        out.append(
            SignerAtSigning(
                slot=str(sig.role),
                participant_id=sig.participant_id,
                name=_or_none(facts.participant_name, sig.participant_id),
                role=_label(Role, role[0]) if role else None,
                institution_type=_label(InstitutionType, role[1]) if role else None,
                signer=sig.signer,
                registered_signer=epoch.signer if epoch else None,
                epoch_valid_from=epoch.valid_from if epoch else None,
                status_at_signing=_label(ParticipantStatus, epoch.status) if epoch else None,
            )
        )
    return out


def provenance_section(receipt: AnyReceipt, facts: ChainFacts) -> ProvenanceSection:
    p = receipt.provenance if isinstance(receipt, Receipt) else None
    entry = receipt.entry_timestamp.promise if receipt.entry_timestamp else None
    confirmation = (receipt.disclosure or {}).get("confirmation") or {}
    gateway_id = p.gateway_id if p else (entry.gateway_id if entry else None)
    return ProvenanceSection(
        source_system=p.source_system if p else None,
        submitted_by=p.submitted_by if p else None,
        submitted_by_name=_or_none(facts.participant_name, p.submitted_by) if p else None,
        gateway_id=gateway_id,
        gateway_name=(
            _or_none(facts.participant_name, gateway_id) if gateway_id is not None else None
        ),
        entry_accepted_at=entry.accepted_at if entry else None,
        anchor_deadline=entry.anchor_deadline if entry else None,
        borrower_confirmation_method=confirmation.get("method"),
        borrower_confirmed_at=confirmation.get("confirmed_at"),
        borrower_reading_seconds=confirmation.get("reading_seconds"),
        issued_at=receipt.record.issued_at,
    )


def history_of(
    receipt: AnyReceipt, client: ChainClient, to_block: int | None = None
) -> tuple[list[HistoryEvent], int]:
    """Every RecordRevoked or RecordAmended event of the record's ledger naming the record (as
    the retired one, or as the one that supersedes another), from its anchoring block on; and the
    block read to."""
    a = receipt.anchor
    head = int(client.w3.eth.block_number) if to_block is None else to_block
    decoder = EventDecoder({"EvidenceLedger": a.ledger})
    me = bytes.fromhex(receipt.record_id[2:])
    out: list[HistoryEvent] = []
    for event in read_events(client, decoder, a.block_number, head):
        if event.name not in ("RecordRevoked", "RecordAmended"):
            continue
        retired = bytes(event.args["recordId"])
        superseded_by = bytes(event.args.get("supersededBy", b"\0" * 32))
        kind: Literal["revoked", "amended", "amends"]
        if retired == me:
            kind = "revoked" if event.name == "RecordRevoked" else "amended"
        elif event.name == "RecordAmended" and superseded_by == me:
            kind = "amends"
        else:
            continue
        out.append(
            HistoryEvent(
                event=kind,
                record_id="0x" + retired.hex(),
                superseded_by=("0x" + superseded_by.hex())
                if event.name == "RecordAmended"
                else None,
                reason_code=int(event.args["reasonCode"]),
                retired_at=int(event.args["retiredAt"]),
                transaction_hash="0x" + event.transaction_hash.hex(),
                block_number=event.block_number,
            )
        )
    return out, head


def gather_facts(
    receipt: AnyReceipt,
    facts: ChainFacts,
    client: ChainClient,
    trust: TrustRoot,
) -> EvidenceFacts:
    history, head = history_of(receipt, client)
    return EvidenceFacts(
        record_id=receipt.record_id,
        chain=chain_section(receipt),
        trust_root=trust,
        signers=signers_at_signing(receipt, facts),
        provenance=provenance_section(receipt, facts),
        history=history,
        head_block=head,
    )
