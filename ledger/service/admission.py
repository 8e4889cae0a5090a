"""Admission: a platform's submission becomes a signed record; the funder approves it by
co-signing (R7) or rejects it; the guarantor and the co-funder sign too (the gateway signs for
custodial parties at submission; own-key parties send their signatures, before the funder's or
after); once every party has signed and every rule holds, the gateway signs its entry timestamp
(its promise to anchor) and the record joins the durable queue.

- The borrower's identity becomes a keyed, salted commitment at once and is never stored.
- The fee disclosure is checked against its own numbers (Appendix J), and the cap binds the cost
  computed from the form, not only the stated figure.
- The rules are `ledger.rules.check_rules` over the registry view (no chain read per record);
  the record's provenance names the block of the view that admitted it.
- Idempotency: the same agreement, platform, funder (and issue time, when given) is the same
  loan; a resubmission answers the existing record (`duplicate`).
- Many records are admitted in one database transaction, with one query to find duplicates and
  one bulk insert (or update) for the rest.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ledger.access import Caller, Scope, require_role
from ledger.eip712 import Domain, loan_record_id, typed_data
from ledger.enums import Anchoring, Role, SubmissionStatus
from ledger.errors import (
    Conflict,
    DatabaseUnavailable,
    InputError,
    LedgerError,
    NotFound,
    PermissionDenied,
)
from ledger.records import LoanRecord, Slot
from ledger.service.config import ServiceConfig
from ledger.service.custody import Custody, GatewayIdentity
from ledger.service.intake import SECRETS, Intake, StoredRecord, entry_of
from ledger.service.metrics import Metrics
from ledger.service.models import LoanSubmission, SigningView, SlotSignature, SubmissionOutcome
from ledger.service.registry import RegistryFollower
from ledger.service.stored import signatures_of
from ledger.store import Database, ParticipantRow, SubmissionRow
from ledger.vault import StagedDocument, Vault
from ledger.vault.secrets import RecordSecrets

__all__ = ["Admission"]

_QUERY_CHUNK = 500  # ids per IN (...) list

#: the statuses of a record that still takes signatures
_WAITING = (SubmissionStatus.AWAITING_FUNDER.value, SubmissionStatus.AWAITING_SIGNATURES.value)


def _slots_of(caller: Caller, row: SubmissionRow) -> list[Slot]:
    """The places of a record the caller signs for (by its role: a funder may be the funder or
    the co-funder)."""
    pid = caller.participant_id
    if caller.role is Role.PLATFORM:
        return ["platform"] if row.platform_id == pid else []
    if caller.role is Role.CREDIT_ENHANCER:
        return ["guarantor"] if row.guarantor_id == pid else []
    if caller.role is Role.FUNDER:
        funder: list[Slot] = ["funder"] if row.funder_id == pid else []
        return funder + (["co_funder"] if row.co_funder_id == pid else [])
    return []


@dataclass(frozen=True)
class _Route:
    """What a signing operation lets a party do: sign for which places, and how it says no."""

    slots: frozenset[str]
    awaiting: str
    done: str
    rejected_code: str

    def slot_of(self, caller: Caller, row: SubmissionRow | None, record_id: str) -> str:
        """The caller's place in the record that this operation signs for; RECORD_NOT_FOUND if
        it has none (or the record does not exist: the two are not told apart), NOT_THE_FUNDER
        if its place is not one this operation is for."""
        places = _slots_of(caller, row) if row is not None else []
        for place in places:
            if place in self.slots:
                return place
        if places:
            raise PermissionDenied(
                f"participant {caller.participant_id} is the {places[0]} of record {record_id};"
                " confirming is the funder's approval: the other parties sign with"
                f" POST /v1/loans/{record_id}/sign",
                code="NOT_THE_FUNDER",
            )
        who = caller.role.label.replace("_", " ")
        raise NotFound(f"no record {record_id} for this {who}", code="RECORD_NOT_FOUND")


_CONFIRM = _Route(frozenset({"funder"}), "approval", "confirmed", "NOT_AWAITING_FUNDER")
_SIGN = _Route(
    frozenset({"platform", "funder", "guarantor", "co_funder"}),
    "signatures",
    "signed",
    "NOT_AWAITING_SIGNATURE",
)


def _chunks(items: Sequence[Any], size: int = _QUERY_CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class Admission:
    def __init__(
        self,
        db: Database,
        custody: Custody,
        registry: RegistryFollower,
        identity: GatewayIdentity,
        domain: Domain,
        config: ServiceConfig,
        metrics: Metrics,
        vault: Vault,
        secrets: RecordSecrets,
        derivation_key: bytes,
        anchor_now: Callable[[list[str]], None],
        queued: Callable[[], None],
    ) -> None:
        self.db = db
        self.registry = registry
        self.domain = domain
        self.metrics = metrics
        self.vault = vault
        self.secrets = secrets
        self.intake = Intake(custody, identity, domain, config, derivation_key)
        self._anchor_now = anchor_now
        self._queued = queued
        # Adding a signature reads a row's signatures and writes them back. PostgreSQL locks
        # the rows (FOR UPDATE); SQLite ignores that, and is one gateway's: a lock does it.
        self._signing_lock: AbstractContextManager[Any] = (
            nullcontext() if db.is_postgresql else threading.Lock()
        )

    def now(self) -> int:
        """The time rules are checked at: the wall clock, never behind the chain's last block
        (the view is brought up to date first, unless it follows the chain by itself)."""
        self.registry.facts()
        return max(int(time.time()), self.registry.block_time)

    def _counted(self, outcome: SubmissionOutcome | LedgerError) -> SubmissionOutcome | LedgerError:
        if isinstance(outcome, LedgerError):
            self.metrics.count_error(outcome.code)
        return outcome

    # ------------------------------------------------------------------ prepare

    def prepare(self, caller: Caller, sub: LoanSubmission) -> tuple[LoanRecord, bytes]:
        """For platforms that keep their own key: the record a submission makes, and its id to
        sign, with every rule checked and nothing stored. Needs `borrower_commitment` and
        `issued_at`, so that the record the platform signs is the one the gateway rebuilds."""
        require_role(caller, Role.PLATFORM)
        if sub.borrower_commitment is None or sub.issued_at is None:
            raise InputError(
                "preparing a record needs borrower_commitment and issued_at",
                code="RECORD_NOT_FIXED",
            )
        now = self.now()
        record, _, _ = self.intake.build(caller.participant_id, sub, now)
        self.intake.precheck(record, sub.disclosure, self.registry.registry(), now)
        return record, loan_record_id(record, self.domain)

    # ------------------------------------------------------------------ submit

    def submit(
        self,
        caller: Caller,
        subs: Sequence[LoanSubmission],
        document: bytes | StagedDocument | None,
        media_type: str,
        *,
        raise_errors: bool,
    ) -> list[SubmissionOutcome | LedgerError]:
        """Admits many submissions in one transaction; each gets its outcome or its error."""
        require_role(caller, Role.PLATFORM)
        now = self.now()
        state, block = self.registry.registry(), self.registry.block
        existing = self._existing(caller.participant_id, subs)
        outcomes: list[SubmissionOutcome | LedgerError] = []
        rows: list[dict[str, Any]] = []
        seen: dict[tuple[str, int, int], SubmissionOutcome] = {}
        for sub in subs:
            key = (sub.agreement_digest, sub.funder_id, sub.issued_at or now)
            try:
                if key in seen:  # the same loan twice in one request: one record
                    first = seen[key]
                    outcomes.append(SubmissionOutcome(first.record_id, first.status, None, True))
                    continue
                found = existing.get(key) or (
                    existing.get((sub.agreement_digest, sub.funder_id, 0))
                    if sub.issued_at is None
                    else None
                )
                if found is not None:
                    outcomes.append(found)
                    continue
                row, outcome = self.intake.admit(
                    caller.participant_id, sub, now, state, block, document, media_type
                )
                outcome = self._counted(outcome)
            except LedgerError as exc:
                self.metrics.count_error(exc.code)
                if raise_errors:
                    raise
                outcomes.append(exc)
                continue
            rows.append(row)
            outcomes.append(outcome)
            if isinstance(outcome, SubmissionOutcome):
                seen[key] = outcome
        clashes = self._known_ids([r["record_id"] for r in rows])
        if clashes:
            for index, outcome in enumerate(outcomes):
                if isinstance(outcome, SubmissionOutcome) and outcome.record_id in clashes:
                    error = Conflict(
                        f"record {outcome.record_id} was submitted before and is"
                        f" {clashes[outcome.record_id]}: submit it anew (another issue time)",
                        code="RECORD_EXISTS",
                    )
                    if raise_errors:
                        raise error
                    outcomes[index] = error
            rows = [r for r in rows if r["record_id"] not in clashes]
        secrets = [(row["record_id"], row.pop(SECRETS)) for row in rows]
        with self.db.session() as s:
            inserted = _insert_new(s, rows)
            self.secrets.store(s, [(rid, kept) for rid, kept in secrets if rid in inserted])
            if document is not None and inserted:
                self.vault.store(s, rows[0]["agreement_digest"], document, media_type)
        if len(inserted) < len(rows):  # another gateway stored the same record meanwhile
            for index, outcome in enumerate(outcomes):
                if (
                    isinstance(outcome, SubmissionOutcome)
                    and not outcome.duplicate
                    and outcome.record_id not in inserted
                ):
                    outcomes[index] = Conflict(
                        f"record {outcome.record_id} was stored by another request at the"
                        " same moment: ask for its status",
                        code="RECORD_EXISTS",
                    )
            rows = [r for r in rows if r["record_id"] in inserted]
            if raise_errors:
                for outcome in outcomes:
                    if isinstance(outcome, LedgerError):
                        raise outcome
        self.metrics.submissions += len(rows)
        if raise_errors:
            for outcome in outcomes:
                if isinstance(outcome, LedgerError):
                    raise outcome
        return self._anchor_per_record(outcomes, rows)

    def _existing(
        self, platform_id: int, subs: Sequence[LoanSubmission]
    ) -> dict[tuple[str, int, int], SubmissionOutcome]:
        """Records already submitted for these agreements (not rejected), by (agreement,
        funder, issue time), and by (agreement, funder, 0) for any issue time."""
        digests = sorted({sub.agreement_digest for sub in subs})
        found: dict[tuple[str, int, int], SubmissionOutcome] = {}
        with self.db.session() as s:
            for chunk in _chunks(digests):
                rows = s.execute(
                    select(
                        SubmissionRow.record_id,
                        SubmissionRow.status,
                        SubmissionRow.entry_timestamp_json,
                        SubmissionRow.agreement_digest,
                        SubmissionRow.funder_id,
                        SubmissionRow.issued_at,
                    ).where(
                        SubmissionRow.platform_id == platform_id,
                        SubmissionRow.agreement_digest.in_(chunk),
                        SubmissionRow.status != SubmissionStatus.REJECTED.value,
                    )
                ).all()
                for r in rows:
                    entry = entry_of(r.entry_timestamp_json)
                    outcome = SubmissionOutcome(r.record_id, r.status, entry, duplicate=True)
                    found[(r.agreement_digest, r.funder_id, r.issued_at)] = outcome
                    found.setdefault((r.agreement_digest, r.funder_id, 0), outcome)
        return found

    def _known_ids(self, record_ids: Sequence[str]) -> dict[str, str]:
        """Of these record ids, those already stored, with their status."""
        out: dict[str, str] = {}
        with self.db.session() as s:
            for chunk in _chunks(record_ids):
                for rid, status in s.execute(
                    select(SubmissionRow.record_id, SubmissionRow.status).where(
                        SubmissionRow.record_id.in_(chunk)
                    )
                ).all():
                    out[rid] = status
        return out

    def _anchor_per_record(
        self, outcomes: list[SubmissionOutcome | LedgerError], rows: list[dict[str, Any]]
    ) -> list[SubmissionOutcome | LedgerError]:
        """Records asked to be anchored by themselves go to the chain now if it answers (else the
        batcher sends them: they are queued, acknowledged all the same); their outcome says
        where they ended up."""
        if any(
            r["anchoring"] == Anchoring.BATCH.value and r["status"] == SubmissionStatus.QUEUED.value
            for r in rows
        ):
            self._queued()
        ids = [
            r["record_id"]
            for r in rows
            if r["anchoring"] == Anchoring.PER_RECORD.value
            and r["status"] == SubmissionStatus.QUEUED.value
        ]
        if not ids:
            return outcomes
        try:
            self._anchor_now(ids)
            statuses = self._known_ids(ids)
        except DatabaseUnavailable:
            # they are committed `queued` already: the answer is that acknowledgement, and the
            # batcher sends the stranded rows once the database is back
            return outcomes
        return [
            SubmissionOutcome(o.record_id, statuses[o.record_id], o.entry_timestamp, o.duplicate)
            if isinstance(o, SubmissionOutcome) and o.record_id in statuses
            else o
            for o in outcomes
        ]

    # ------------------------------------------------------------------ sign, confirm, reject

    def confirm(
        self, caller: Caller, items: Sequence[tuple[str, str | None]], *, raise_errors: bool
    ) -> list[SubmissionOutcome | LedgerError]:
        """The funder approves (R7) by co-signing: custodial key, or its own signature verified;
        the record is settled once every party has signed (`sign`)."""
        require_role(caller, Role.FUNDER)
        return self._sign(caller, items, _CONFIRM, raise_errors=raise_errors)

    def sign(
        self, caller: Caller, items: Sequence[tuple[str, str | None]], *, raise_errors: bool
    ) -> list[SubmissionOutcome | LedgerError]:
        """A party signs for its place in each record: the platform, the funder (its approval,
        as `confirm`), the guarantor, the co-funder. An own-key party gives its signature over
        the record id (verified against its registered key now); for a custodial one the
        gateway signs. Signatures come in any order; the last one in settles the record (every
        rule, then the entry timestamp), all in one transaction. A repeat changes nothing."""
        require_role(caller, Role.PLATFORM, Role.FUNDER, Role.CREDIT_ENHANCER)
        return self._sign(caller, items, _SIGN, raise_errors=raise_errors)

    def _sign(
        self,
        caller: Caller,
        items: Sequence[tuple[str, str | None]],
        route: _Route,
        *,
        raise_errors: bool,
    ) -> list[SubmissionOutcome | LedgerError]:
        now = self.now()
        state, block = self.registry.registry(), self.registry.block
        ids = [record_id.lower() for record_id, _ in items]
        outcomes: list[SubmissionOutcome | LedgerError] = []
        updates: list[dict[str, Any]] = []
        with self._signing_lock, self.db.session() as s:
            rows: dict[str, SubmissionRow] = {}
            for chunk in _chunks(sorted(set(ids))):
                # rows locked (PostgreSQL), in id order: two gateways adding signatures to one
                # record at once cannot lose either
                for found in s.execute(
                    select(SubmissionRow)
                    .where(SubmissionRow.record_id.in_(chunk))
                    .order_by(SubmissionRow.record_id)
                    .with_for_update()
                ).scalars():
                    rows[found.record_id] = found
            done: set[str] = set()
            for record_id, (_, given) in zip(ids, items, strict=True):
                row = rows.get(record_id)
                try:
                    slot = route.slot_of(caller, row, record_id)
                    assert row is not None
                    if row.status == SubmissionStatus.REJECTED.value:
                        # a refusal is final: signing it again accepts nothing (and a batch
                        # counts it among the rejected)
                        raise Conflict(
                            f"record {record_id} was rejected ({row.rejection_code}); only"
                            f" records awaiting {route.awaiting} can be {route.done}",
                            code=route.rejected_code,
                        )
                    if row.status not in _WAITING or record_id in done:
                        outcomes.append(_outcome_of(row, duplicate=True))
                        continue
                    stored = StoredRecord(
                        record_id,
                        row.record_json,
                        row.signatures_json,
                        row.document_json,
                        row.provenance_json,
                    )
                    added = self.intake.add_signature(
                        stored, caller.participant_id, slot, given, state, block, now
                    )
                except LedgerError as exc:
                    self.metrics.count_error(exc.code)
                    if raise_errors:
                        raise
                    outcomes.append(exc)
                    continue
                if added is None:  # its signature was in already
                    outcomes.append(_outcome_of(row, duplicate=True))
                    continue
                change, outcome = added
                outcome = self._counted(outcome)
                change["anchoring"] = row.anchoring
                updates.append(change)
                done.add(record_id)
                outcomes.append(outcome)
            if updates:
                s.execute(
                    update(SubmissionRow),
                    [{k: v for k, v in u.items() if k != "anchoring"} for u in updates],
                )
        if raise_errors:
            for outcome in outcomes:
                if isinstance(outcome, LedgerError):
                    raise outcome
        return self._anchor_per_record(outcomes, updates)

    def reject(self, caller: Caller, record_id: str, reason: str) -> SubmissionOutcome:
        """The funder refuses a loan it has not approved, or approved while other parties'
        signatures are still missing."""
        require_role(caller, Role.FUNDER)
        with self.db.session() as s:
            row = s.get(SubmissionRow, record_id)
            if row is None or row.funder_id != caller.participant_id:
                raise NotFound(f"no record {record_id} for this funder", code="RECORD_NOT_FOUND")
            if row.status not in _WAITING:
                raise Conflict(
                    f"record {record_id} is {row.status}; only loans awaiting approval or"
                    " signatures can be rejected",
                    code="NOT_AWAITING_FUNDER",
                )
            row.status = SubmissionStatus.REJECTED.value
            row.rejection_code = "FUNDER_REJECTED"
            row.rejection_reason = reason
        return SubmissionOutcome(record_id, SubmissionStatus.REJECTED.value, None)

    # ------------------------------------------------------------------ what is signed

    def signing(self, caller: Caller, record_id: str) -> SigningView:
        """What the parties of a record sign and where the signing stands, for whoever may see
        the record (`Scope`): the full record, its id, its EIP-712 typed data, the fee
        disclosure form, each place's signature or its absence, and the caller's places."""
        with self.db.session() as s:
            row = s.get(SubmissionRow, record_id)
            if row is None or not Scope.of(caller).allows(row):
                raise NotFound(f"no record {record_id}", code="RECORD_NOT_FOUND")
            record = LoanRecord.model_validate_json(row.record_json)
            places = record.signer_slots()
            custodial = {
                pid: bool(held)
                for pid, held in s.execute(
                    select(ParticipantRow.id, ParticipantRow.custodial).where(
                        ParticipantRow.id.in_([pid for pid, _ in places])
                    )
                ).all()
            }
        signatures = signatures_of(row.signatures_json, row.record_id)
        slots = tuple(
            SlotSignature(
                participant_id=pid,
                slot=slot,
                custodial=bool(custodial.get(pid, False)),
                signer=signatures[pid][1] if pid in signatures else None,
                signature=signatures[pid][0] if pid in signatures else None,
            )
            for pid, slot in places
        )
        return SigningView(
            record_id=row.record_id,
            status=row.status,
            record=record,
            typed_data=typed_data(record, self.domain),
            disclosure=json.loads(row.disclosure_json) if row.disclosure_json else None,
            slots=slots,
            your_slots=tuple(_slots_of(caller, row)),
            entry_timestamp=entry_of(row.entry_timestamp_json),
            rejection_code=row.rejection_code,
            rejection_reason=row.rejection_reason,
        )


def _insert_new(s: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Inserts the rows whose record id is not stored yet (one bulk statement); returns the ids
    inserted. Gateways sharing a database may admit the same record at the same moment: the
    primary key decides, and the other request learns it lost instead of failing."""
    if not rows:
        return set()
    dialect = s.get_bind().dialect.name
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(SubmissionRow)
    return set(
        s.execute(
            statement.on_conflict_do_nothing(index_elements=["record_id"]).returning(
                SubmissionRow.record_id
            ),
            rows,
        ).scalars()
    )


def _outcome_of(row: SubmissionRow, *, duplicate: bool) -> SubmissionOutcome:
    return SubmissionOutcome(
        row.record_id, row.status, entry_of(row.entry_timestamp_json), duplicate=duplicate
    )
