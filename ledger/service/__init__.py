"""The gateway's work as a library, in stages with one job each (`docs/architecture.md`):

    access ─► admission ─► sequencing ─► serving
    (who,      (build, sign,   (queue, batcher,   (status, receipts:
     may see)   rules, co-sign, crash recovery,     one read; verify)
                entry timestamp) proofs, receipts)
                    ▲
                    └── registry view ◄── chain events

- `bootstrap`: master key, deployment, regulator, this gateway's identity, trust root
- `custody`: sealed custodial keys and the gateway's identity
- `access`: API keys, callers, who may see which loans (`Scope`)
- `registry`: the registry view, rebuilt from events, following the chain
- `administration`: participants, statuses, rate policy, whitelists (chain transactions)
- `admission`: submit, prepare, sign (every party, any order; the funder's signature is its
  approval), reject, what is signed, idempotency, acceptance into the queue; the
  per-record work it does in bulk is `intake` (build, rules, signatures, entry timestamp)
- `sequencing`: the durable queue, the batcher, crash recovery, per-record anchoring
- `serving`: status and stored receipts; `retirement`: revocation and amendment
- `reporting`: the regulator's loans, statistics and violations
- `vault` (`ledger.vault`): documents stored at admission and read by whoever may, auditors'
  grants, the evidence log and its anchoring, erasure; `metrics`: counters for /metrics

`LedgerService` holds one of each and offers their operations; it decides nothing itself.
`gateway/` is only HTTP around it; the CLI and tests call it directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from ledger.access import Access, Caller, Scope
from ledger.anchoring import EvidenceChain
from ledger.bounds import ReasonCode, RecordId, check, check_text
from ledger.chain.client import ChainClient
from ledger.chain.health import chain_health
from ledger.chain.txlog import SqlTransactionStore
from ledger.commitments import OpeningSecret
from ledger.disclosure_proofs import Disclosure, verify_disclosure
from ledger.enums import InstitutionType, ParticipantStatus, Role
from ledger.errors import DatabaseUnavailable, InputError, LedgerError
from ledger.indexer import EventIndexer
from ledger.limits import MAX_BATCH_SUBMISSION, MAX_VERIFY_BATCH
from ledger.queries import LoanFilter
from ledger.receipts import Receipt
from ledger.records import LoanRecord
from ledger.service.administration import Administration
from ledger.service.admission import Admission
from ledger.service.bootstrap import bootstrap
from ledger.service.config import ServiceConfig
from ledger.service.custody import Custody
from ledger.service.disclosing import Disclosing
from ledger.service.metrics import Metrics
from ledger.service.models import LoanSubmission, SigningView, SlotSignature, SubmissionOutcome
from ledger.service.openings import Openings
from ledger.service.registry import RegistryFollower
from ledger.service.reporting import Reporting
from ledger.service.retirement import Retirements
from ledger.service.sequencing import Sequencer
from ledger.service.serving import Serving
from ledger.store import Database, ParticipantRow, SubmissionRow, submission_summary
from ledger.trust import TRUST_ROOT_FILE, TrustRoot
from ledger.vault import MasterKeyWrapper, StagedDocument, Vault
from ledger.vault.anchoring import LogAnchoring
from ledger.vault.secrets import RecordSecrets
from ledger.verify import VerificationReport, Verifier
from ledger.verify.checks import FIELDS_CHECK

__all__ = [
    "MAX_BATCH_SUBMISSION",
    "Caller",
    "LedgerService",
    "LoanSubmission",
    "Scope",
    "ServiceConfig",
    "SigningView",
    "SlotSignature",
    "SubmissionOutcome",
    "submission_summary",
]


def _check_batch_size(count: int, limit: int = MAX_BATCH_SUBMISSION) -> None:
    if count > limit:
        raise InputError(f"at most {limit} records per batch", code="BATCH_TOO_LARGE")


def _record_id(record_id: str) -> str:
    """The id, checked (0x + 64 hex digits) before any query names it, lowercased."""
    return check(record_id, RecordId, "record_id").lower()


def _item_view(outcome: SubmissionOutcome | LedgerError, *, duplicate: bool) -> dict[str, Any]:
    """One item of a batch answer: its error, or its record id and status (and `duplicate`)."""
    if isinstance(outcome, LedgerError):
        return {"error": {"code": outcome.code, "message": outcome.message}}
    view: dict[str, Any] = {"record_id": outcome.record_id, "status": outcome.status}
    if duplicate:
        view["duplicate"] = outcome.duplicate
    return view


class LedgerService:
    """One gateway: its stages over one database, one chain client and one deployment."""

    def __init__(self, db: Database, client: ChainClient, config: ServiceConfig) -> None:
        # every transaction (bootstrap's included) is logged in the database: nonces survive
        # restarts, and what a node lost can be broadcast again
        client.transactions.use_store(SqlTransactionStore(db))
        policy = config.transactions or client.policy
        client.transactions.policy = replace(
            policy, confirmations=max(policy.confirmations, config.confirmations)
        )
        boot = bootstrap(db, client, config)
        self.db = db
        self.client = client
        self.config = config
        self.deployment = boot.deployment
        self.identity = boot.identity
        self.regulator_api_key = boot.regulator_api_key
        # eth-tester is not thread-safe, and one account's nonces must be sent in order
        self.chain_lock = threading.RLock()
        self.chain = EvidenceChain(client, boot.deployment)
        self.metrics = Metrics()
        self.custody = Custody(db, boot.master_key)
        self.secrets = RecordSecrets(boot.master_key)
        self.access = Access(db)
        self.registry = RegistryFollower(client, boot.deployment, self.chain_lock)
        self.administration = Administration(
            db, client, self.chain, self.custody, self.access, self.registry, self.chain_lock
        )
        self.sequencer = Sequencer(
            db, self.chain, boot.identity, config, self.metrics, self.chain_lock
        )
        self.sequencer.resume()
        #: documents (stored at admission, read by their parties), auditors' grants, the
        #: evidence log, erasure (`ledger.vault`)
        self.vault = Vault(db, MasterKeyWrapper(boot.master_key))
        self.admission = Admission(
            db,
            self.custody,
            self.registry,
            boot.identity,
            self.chain.domain,
            config,
            self.metrics,
            self.vault,
            self.secrets,
            boot.derivation_key,
            self.sequencer.anchor_records_now,
            self.sequencer.notify,
        )
        self.openings = Openings(db, self.secrets)
        self.serving = Serving(db, self.sequencer.build_receipt)
        self.log_anchoring = LogAnchoring(
            db, self.chain, boot.identity.account, boot.identity.participant_id, self.chain_lock
        )
        self.sequencer.log_anchoring = self.log_anchoring
        self.disclosing = Disclosing(db, self.secrets)
        self.retirements = Retirements(
            db, self.chain, self.custody, boot.identity, self.serving, self.chain_lock
        )
        self.indexer = EventIndexer(
            db, client, boot.deployment, config.confirmations, chain_lock=self.chain_lock
        )
        self.reporting = Reporting(
            db, self.registry, self.indexer, self.chain_lock, config.consumer_finance
        )
        #: what auditors pin; this gateway verifies every receipt against it
        self.trust_root = TrustRoot.of_deployment(client, boot.deployment)
        self.trust_root.save(config.data_dir / TRUST_ROOT_FILE)

    @classmethod
    def open(
        cls, db: Database, client: ChainClient, config: ServiceConfig
    ) -> tuple[LedgerService, str | None]:
        """Opens the gateway in `config.data_dir` (see `bootstrap`); the regulator's API key
        is returned on first start only (shown once)."""
        service = cls(db, client, config)
        return service, service.regulator_api_key

    @property
    def gateway_id(self) -> int:
        return self.identity.participant_id

    @property
    def gateway_account(self) -> Any:
        return self.identity.account

    @property
    def gateway_key(self) -> Any:
        return self.identity.key

    # ------------------------------------------------------------------ access

    def authenticate(self, api_key: str) -> Caller:
        return self.access.authenticate(api_key)

    # ------------------------------------------------------------------ administration

    def register_participant(
        self,
        role: Role,
        name: str,
        institution_type: InstitutionType = InstitutionType.NONE,
        signer_address: str | None = None,
        ed25519_public_key: bytes = b"\0" * 32,
    ) -> tuple[ParticipantRow, str]:
        return self.administration.register_participant(
            role, name, institution_type, signer_address, ed25519_public_key
        )

    def set_participant_status(self, participant_id: int, status: ParticipantStatus) -> None:
        self.administration.set_participant_status(participant_id, status)

    def set_rate_cap(
        self,
        institution_type: InstitutionType,
        cap_bps: int | None,
        effective_from: int = 0,
        *,
        lpr_multiple_bps: int | None = None,
    ) -> None:
        self.administration.set_rate_cap(
            institution_type, cap_bps, effective_from, lpr_multiple_bps=lpr_multiple_bps
        )

    def set_lpr(self, lpr_bps: int, effective_from: int = 0) -> None:
        self.administration.set_lpr(lpr_bps, effective_from)

    def participants(self) -> list[ParticipantRow]:
        return self.administration.participants()

    def participant(self, participant_id: int) -> ParticipantRow:
        return self.administration.participant(participant_id)

    def whitelist_add(self, funder_id: int, partner_id: int, effective_from: int = 0) -> None:
        self.administration.whitelist_add(funder_id, partner_id, effective_from)

    def whitelist_remove(self, funder_id: int, partner_id: int, effective_until: int = 0) -> None:
        self.administration.whitelist_remove(funder_id, partner_id, effective_until)

    def whitelists(self, funder_id: int | None = None) -> list[dict[str, Any]]:
        return self.administration.whitelists(funder_id)

    # ------------------------------------------------------------------ admission

    def prepare_loan(self, caller: Caller, sub: LoanSubmission) -> tuple[LoanRecord, bytes]:
        return self.admission.prepare(caller, sub)

    def typed_data(self, record: LoanRecord) -> dict[str, Any]:
        """The EIP-712 typed data of a record of this deployment (what wallets sign)."""
        from ledger.eip712 import typed_data

        return typed_data(record, self.chain.domain)

    def submit_loan(
        self,
        caller: Caller,
        sub: LoanSubmission,
        document: bytes | StagedDocument | None = None,
        media_type: str = "application/pdf",
    ) -> SubmissionOutcome:
        outcome = self.admission.submit(caller, [sub], document, media_type, raise_errors=True)[0]
        assert isinstance(outcome, SubmissionOutcome)
        return outcome

    def submit_batch(self, caller: Caller, subs: Sequence[LoanSubmission]) -> list[dict[str, Any]]:
        _check_batch_size(len(subs))
        outcomes = self.admission.submit(caller, subs, None, "application/pdf", raise_errors=False)
        return [
            {"index": index, **_item_view(outcome, duplicate=True)}
            for index, outcome in enumerate(outcomes)
        ]

    def confirm_loan(
        self, caller: Caller, record_id: str, signature: str | None = None
    ) -> SubmissionOutcome:
        record_id = _record_id(record_id)
        outcome = self.admission.confirm(caller, [(record_id, signature)], raise_errors=True)[0]
        assert isinstance(outcome, SubmissionOutcome)
        return outcome

    def sign_loan(
        self, caller: Caller, record_id: str, signature: str | None = None
    ) -> SubmissionOutcome:
        """A party (platform, funder, guarantor, co-funder) signs for its place in a record:
        its own signature, verified, or the custodial key's; the last signature settles it."""
        record_id = _record_id(record_id)
        outcome = self.admission.sign(caller, [(record_id, signature)], raise_errors=True)[0]
        assert isinstance(outcome, SubmissionOutcome)
        return outcome

    def signing(self, caller: Caller, record_id: str) -> SigningView:
        """What a record's parties sign (record, id, typed data, disclosure) and whose
        signatures are in and missing, for whoever may see the record."""
        return self.admission.signing(caller, _record_id(record_id))

    def confirm_batch(self, caller: Caller, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        _check_batch_size(len(record_ids))
        record_ids = [_record_id(r) for r in record_ids]
        outcomes = self.admission.confirm(
            caller, [(r.lower(), None) for r in record_ids], raise_errors=False
        )
        return [
            {"record_id": record_id, **_item_view(outcome, duplicate=False)}
            for record_id, outcome in zip(record_ids, outcomes, strict=True)
        ]

    def reject_loan(self, caller: Caller, record_id: str, reason: str) -> SubmissionOutcome:
        check_text(reason, "reason", 1000, 1)
        return self.admission.reject(caller, _record_id(record_id), reason)

    # ------------------------------------------------------------------ sequencing

    def anchor_evidence_log(self) -> int:
        """Anchors the evidence log's unanchored entries now (the background loop does it every
        `batch_interval`); returns how many."""
        return self.log_anchoring.anchor()

    def pending_count(self) -> int:
        return self.sequencer.pending_count()

    def oldest_pending_age(self) -> float:
        return self.sequencer.oldest_pending_age()

    def anchor_pending(self, limit: int | None = None) -> int:
        return self.sequencer.anchor_pending(limit)

    def run_batcher(
        self, stop: threading.Event, on_error: Callable[[Exception], None] | None = None
    ) -> None:
        self.sequencer.run(stop, on_error)

    def run_indexer(
        self, stop: threading.Event, on_error: Callable[[Exception], None] | None = None
    ) -> None:
        self.indexer.run(stop, 2.0, on_error=on_error)

    def run_follower(
        self, stop: threading.Event, on_error: Callable[[Exception], None] | None = None
    ) -> None:
        self.registry.run(stop, self.config.follow_interval, on_error)

    # ------------------------------------------------------------------ serving

    def submission(self, caller: Caller, record_id: str) -> SubmissionRow:
        return self.serving.submission(caller, _record_id(record_id))

    def status(self, caller: Caller, record_id: str) -> dict[str, Any]:
        """A record's status view (`submission_summary`) and `entry_timestamp_json`."""
        return self.serving.status(caller, _record_id(record_id))

    def borrower_opening(self, caller: Caller, record_id: str) -> OpeningSecret:
        """The key and salt that open a record's borrower commitment (`ledger.commitments`)."""
        return self.openings.secret(caller, _record_id(record_id))

    def receipt(self, caller: Caller, record_id: str) -> Receipt:
        return self.serving.receipt(caller, _record_id(record_id))

    def receipt_json(self, caller: Caller, record_id: str) -> str:
        return self.serving.receipt_json(caller, _record_id(record_id))

    def receipts_json(
        self, caller: Caller, record_ids: Sequence[str]
    ) -> tuple[list[str], list[tuple[str, str]]]:
        for record_id in record_ids:
            check(record_id, RecordId, "record_ids")
        return self.serving.receipts_json(caller, record_ids)

    def retire(
        self, caller: Caller, record_id: str, reason_code: int, superseded_by: str | None = None
    ) -> dict[str, Any]:
        check(reason_code, ReasonCode, "reason_code")
        if superseded_by is not None:
            superseded_by = _record_id(superseded_by)
        return self.retirements.retire(caller, _record_id(record_id), reason_code, superseded_by)

    # ------------------------------------------------------------------ reporting

    def list_loans(
        self, caller: Caller, flt: LoanFilter, *, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        return self.reporting.loans(caller, flt, cursor=cursor, limit=limit)

    def loans_csv(self, caller: Caller, flt: LoanFilter) -> Iterator[str]:
        return self.reporting.loans_csv(caller, flt)

    def own_loans(
        self, caller: Caller, flt: LoanFilter, *, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The loans the caller may see (a platform's, a funder's...), filtered, by cursor."""
        return self.reporting.own_loans(caller, flt, cursor=cursor, limit=limit)

    def batch(self, caller: Caller, root: str) -> dict[str, Any]:
        """An anchored batch's transaction, block and size (BATCH_NOT_FOUND before)."""
        return self.reporting.batch(caller, root)

    def chain_loans(
        self, caller: Caller, *, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        return self.reporting.chain_loans(caller, cursor=cursor, limit=limit)

    def statistics(
        self,
        caller: Caller,
        flt: LoanFilter,
        *,
        group_by: str = "institution_type",
        period: str = "quarter",
        include_retired: bool = False,
    ) -> dict[str, Any]:
        return self.reporting.statistics(
            caller, flt, group_by=group_by, period=period, include_retired=include_retired
        )

    def violations(self, caller: Caller) -> dict[str, Any]:
        return self.reporting.violations(caller)

    def disclose(self, caller: Caller, record_id: str, paths: Sequence[str]) -> Disclosure:
        """Fields of a loan's v2 fee form with their multiproof (`Disclosing.disclose`)."""
        return self.disclosing.disclose(caller, _record_id(record_id), paths)

    # ------------------------------------------------------------------ verification

    def verify_fields(
        self, disclosure: Disclosure, receipt: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, VerificationReport | None]:
        """A selective disclosure's fields (path -> value) if its multiproof leads to its digest
        (`VerificationError`, check `disclosure_fields`, if not). With a receipt (given, or the
        disclosure's own) the receipt is verified too, `disclosure_fields` among its checks,
        which ties the digest to the anchored record: the fields then come back only if that
        check passed."""
        receipt = receipt if receipt is not None else disclosure.receipt
        if receipt is None:
            return verify_disclosure(disclosure, disclosure.disclosure_digest), None
        report = self._verifier().verify(receipt, raise_on_failure=False, fields=disclosure)
        passed = any(c.name == FIELDS_CHECK[0] and c.status == "pass" for c in report.checks)
        return (disclosure.values() if passed else None), report

    def _verifier(self) -> Verifier:
        """Pinned to this gateway's deployment, over the registry view brought to the head now:
        the background follower may not have seen the block that anchored a receipt just served."""
        self.registry.follow()
        return Verifier(self.registry.facts(), self.trust_root)

    def verify(
        self,
        receipt: dict[str, Any] | bytes | str,
        *,
        document: bytes | None = None,
        document_sha256: str | None = None,
        fields: Disclosure | None = None,
    ) -> VerificationReport:
        """Verifies a receipt against this gateway's own deployment; every check reported
        (`disclosure_fields` too when a disclosure of its form is given). `VerificationError`
        (check `format`) if it is not a receipt at all."""
        return self._verifier().verify(
            receipt,
            document=document,
            document_sha256=document_sha256,
            raise_on_failure=False,
            fields=fields,
        )

    def verify_many(
        self, receipts: Sequence[dict[str, Any] | bytes | str]
    ) -> list[VerificationReport | LedgerError]:
        """Verifies many receipts against one state of the chain; an item that is not a
        receipt gets its error instead of a report."""
        _check_batch_size(len(receipts), MAX_VERIFY_BATCH)
        verifier = self._verifier()
        out: list[VerificationReport | LedgerError] = []
        for receipt in receipts:
            try:
                out.append(verifier.verify(receipt, raise_on_failure=False))
            except LedgerError as exc:
                out.append(exc)
        return out

    def deployment_info(self) -> dict[str, Any]:
        """What participants and auditors need to know of this deployment: the trust root, the
        EIP-712 domain records are signed under, the registry own-key funders send
        `addToWhitelist` to, and this gateway's keys."""
        return {
            "trust_root": self.trust_root.model_dump(mode="json"),
            "eip712_domain": self.chain.domain.as_dict(),
            "contracts": {"registry": self.deployment.registry, "ledger": self.deployment.ledger},
            "gateway": {
                "participant_id": self.gateway_id,
                "chain_account": self.identity.account.address,
                "ed25519_public_key": "0x" + self.identity.key.public_key.hex(),
            },
        }

    # ------------------------------------------------------------------ operations

    def health(self) -> dict[str, Any]:
        """The chain, the database and the queue, as `/healthz` reports them: `status` is
        "degraded" (and `ok` false) when the node is unreachable or answers with another chain id
        than the deployment's, the database does not answer, refuses writes or is full
        (`Database.probe`), or the oldest queued record has waited longer than
        `anchor_deadline_seconds` (the gateway's promise is about to be, or is, broken); "ok"
        otherwise."""
        checks: dict[str, Any] = {}
        reasons: list[str] = []
        if self.client.transactions.in_process:  # eth-tester is not thread-safe
            with self.chain_lock:
                node = chain_health(self.client)
        else:  # an HTTP node: no lock, so a hung node cannot hold health checks
            node = chain_health(self.client)
        expected = self.deployment.chain_id
        other_chain = node.reachable and node.chain_id != expected
        checks["chain"] = {
            "ok": node.reachable and not other_chain,
            **node.as_dict(),
            "expected_chain_id": expected,
        }
        if node.reachable:
            checks["chain"]["block"] = node.head_block
            checks["chain"]["registry_view_block"] = self.registry.block
        else:
            reasons.append("chain unreachable")
        if other_chain:
            reasons.append("chain id mismatch")
        database = self.db.probe()
        checks["database"] = database
        oldest, depth = 0.0, 0
        if not database["ok"]:
            reasons.append(
                "database read-only" if database["read_only"] else "database unavailable"
            )
        try:
            oldest = self.oldest_pending_age()
            depth = self.pending_count()
        except DatabaseUnavailable as exc:  # a read-only (or full) database answers these
            if database["ok"]:  # it failed since the probe
                checks["database"] = {"ok": False, "read_only": False, "code": exc.code}
                checks["database"]["error"] = exc.message
                reasons.append("database unavailable")
        deadline = self.config.anchor_deadline_seconds
        batcher_ok = oldest <= deadline
        if not batcher_ok:
            reasons.append("queue past its anchoring deadline")
        checks["batcher"] = {
            "ok": batcher_ok,
            "queue_depth": depth,
            "oldest_pending_seconds": round(oldest, 3),
            "deadline_seconds": deadline,
        }
        return {
            "ok": not reasons,
            "status": "degraded" if reasons else "ok",
            "reasons": reasons,
            "checks": checks,
            # the node away: the wall clock (the chain clock would wait on the node)
            "time": self.clock() if node.reachable else int(time.time()),
        }

    def clock(self) -> int:
        """The gateway's time (unix seconds): the wall clock, or the chain's last block time if
        that is ahead (a dev chain mining a block per transaction runs ahead in bursts). Rules are
        checked at this time; date loans by it."""
        try:
            return self.admission.now()
        except Exception:  # the node is away: the wall clock
            return int(time.time())

    def count_error(self, code: str) -> None:
        self.metrics.count_error(code)
