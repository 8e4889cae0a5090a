"""Admission: a platform's submission becomes a signed record; the funder approves it by
co-signing (R7) or rejects it; once every party has signed and every rule holds, the gateway
signs its entry timestamp (its promise to anchor) and the record joins the durable queue.

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

import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ledger.access import Caller, require_role
from ledger.eip712 import Domain, loan_record_id
from ledger.enums import Anchoring, Role, SubmissionStatus
from ledger.errors import Conflict, DatabaseUnavailable, InputError, LedgerError, NotFound
from ledger.records import LoanRecord
from ledger.service.config import ServiceConfig
from ledger.service.custody import Custody, GatewayIdentity
from ledger.service.documents import Documents
from ledger.service.intake import Intake, StoredRecord, entry_of
from ledger.service.metrics import Metrics
from ledger.service.models import LoanSubmission, SubmissionOutcome
from ledger.service.registry import RegistryFollower
from ledger.store import Database, SubmissionRow

__all__ = ["Admission"]

_QUERY_CHUNK = 500  # ids per IN (...) list


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
        documents: Documents,
        commitment_key: bytes,
        anchor_now: Callable[[list[str]], None],
        queued: Callable[[], None],
    ) -> None:
        self.db = db
        self.registry = registry
        self.domain = domain
        self.metrics = metrics
        self.documents = documents
        self.intake = Intake(custody, identity, domain, config, commitment_key)
        self._anchor_now = anchor_now
        self._queued = queued

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
        record, _ = self.intake.build(caller.participant_id, sub, now)
        self.intake.precheck(record, sub.disclosure, self.registry.registry(), now)
        return record, loan_record_id(record, self.domain)

    # ------------------------------------------------------------------ submit

    def submit(
        self,
        caller: Caller,
        subs: Sequence[LoanSubmission],
        document: bytes | None,
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
        with self.db.session() as s:
            inserted = _insert_new(s, rows)
            if document is not None and inserted:
                self.documents.store(s, rows[0]["agreement_digest"], document, media_type)
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

    # ------------------------------------------------------------------ confirm, reject

    def confirm(
        self, caller: Caller, items: Sequence[tuple[str, str | None]], *, raise_errors: bool
    ) -> list[SubmissionOutcome | LedgerError]:
        """The funder co-signs (custodial key, or its own signature verified); a record with
        every signature is accepted or rejected by the rules, in one transaction."""
        require_role(caller, Role.FUNDER)
        now = self.now()
        state, block = self.registry.registry(), self.registry.block
        ids = [record_id.lower() for record_id, _ in items]
        outcomes: list[SubmissionOutcome | LedgerError] = []
        updates: list[dict[str, Any]] = []
        with self.db.session() as s:
            rows: dict[str, SubmissionRow] = {}
            for chunk in _chunks(sorted(set(ids))):
                for found in s.execute(
                    select(SubmissionRow).where(SubmissionRow.record_id.in_(chunk))
                ).scalars():
                    rows[found.record_id] = found
            done: set[str] = set()
            for record_id, (_, given) in zip(ids, items, strict=True):
                row = rows.get(record_id)
                try:
                    if row is None or row.funder_id != caller.participant_id:
                        raise NotFound(
                            f"no record {record_id} for this funder", code="RECORD_NOT_FOUND"
                        )
                    if row.status == SubmissionStatus.REJECTED.value:
                        # a refusal is final: confirming it again accepts nothing (and a
                        # batch counts it among the rejected)
                        raise Conflict(
                            f"record {record_id} was rejected ({row.rejection_code}); only loans"
                            " awaiting approval can be confirmed",
                            code="NOT_AWAITING_FUNDER",
                        )
                    if row.status != SubmissionStatus.AWAITING_FUNDER.value or record_id in done:
                        outcomes.append(_outcome_of(row, duplicate=True))
                        continue
                    stored = StoredRecord(
                        record_id,
                        row.record_json,
                        row.signatures_json,
                        row.document_json,
                        row.provenance_json,
                    )
                    change, outcome = self.intake.cosign(
                        stored, caller.participant_id, given, state, block, now
                    )
                except LedgerError as exc:
                    self.metrics.count_error(exc.code)
                    if raise_errors:
                        raise
                    outcomes.append(exc)
                    continue
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
        """The funder refuses a loan awaiting its approval."""
        require_role(caller, Role.FUNDER)
        with self.db.session() as s:
            row = s.get(SubmissionRow, record_id)
            if row is None or row.funder_id != caller.participant_id:
                raise NotFound(f"no record {record_id} for this funder", code="RECORD_NOT_FOUND")
            if row.status != SubmissionStatus.AWAITING_FUNDER.value:
                raise Conflict(
                    f"record {record_id} is {row.status}; only loans awaiting approval can be"
                    " rejected",
                    code="NOT_AWAITING_FUNDER",
                )
            row.status = SubmissionStatus.REJECTED.value
            row.rejection_code = "FUNDER_REJECTED"
            row.rejection_reason = reason
        return SubmissionOutcome(record_id, SubmissionStatus.REJECTED.value, None)


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
