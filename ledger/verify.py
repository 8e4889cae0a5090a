"""Verifying a receipt against the document and the chain, link by link, trusting no gateway.

Checks, in order (each named in the report and in the error):

    format            the receipt format is one this verifier knows
    document          SHA-256 of the document (or the given digest) = the record's agreement digest
    disclosure        SHA-256 of the RFC 8785 form = the record's disclosure digest; its stated
                      APR = the record's APR; that APR follows from its own schedule and fees
    record_id         EIP-712 digest of the record under (chain id, ledger) = the receipt's id
    typed_data        the receipt's EIP-712 JSON describes the same record and domain
    signatures        each party's signature recovers to the signer registered on chain for that
                      participant at the anchoring block time, in the contract's party order
    leaf              (batch) the leaf is [record id, keccak256(abi.encode(signatures))], hashed
                      as OpenZeppelin StandardMerkleTree does
    proof             (batch) the proof leads from the leaf to the root
    anchor            the root (batch) or the record (per-record) is anchored on chain, in the
                      stated block, by the stated transaction, at the stated block time
    entry_timestamp   the gateway's Ed25519 promise is valid under its key registered on chain,
                      names this record and leaf, and the anchor came by the promised deadline
    rate_cap          the record's APR is within the cap in force for its funder's institution
                      type at issue time (or it is a legacy loan issued before the cutoff)
    violation         no violation of the record was proven on chain
    status            the record has not been revoked or superseded

`verify_receipt` raises `VerificationError` (with `.check`) at the first failure unless asked
for the whole report (`raise_on_failure=False`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.exceptions import Web3Exception

from ledger.canonical import canonical_digest, digest_bytes, digest_file
from ledger.chain.client import ChainClient
from ledger.chain.deploy import RecordStatus
from ledger.eip712 import Domain, loan_record_id, signatures_hash, typed_data
from ledger.errors import LedgerError, SignatureError, VerificationError
from ledger.merkle import leaf_hash, process_proof
from ledger.receipts import LEAF_TYPES, RECEIPT_FORMAT, Receipt
from ledger.signing import recover_address
from ledger.timestamps import verify_entry_timestamp

__all__ = [
    "CHECK_NAMES",
    "ChainReadCache",
    "CheckResult",
    "VerificationReport",
    "connect",
    "verify_receipt",
]


@dataclass(frozen=True)
class CheckResult:
    """One named check: passed, failed (with why), or skipped (with why)."""

    name: str
    status: str  # "pass" | "fail" | "skip"
    detail: str
    code: str | None = None


@dataclass
class VerificationReport:
    """Every check of one receipt."""

    record_id: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    @property
    def first_failure(self) -> CheckResult | None:
        return next((c for c in self.checks if c.status == "fail"), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "ok": self.ok,
            "checks": [
                {
                    "name": c.name,
                    "status": c.status,
                    "detail": c.detail,
                    **({"code": c.code} if c.code else {}),
                }
                for c in self.checks
            ],
        }


class _Fail(Exception):
    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.code = code


class _Skip(Exception):
    pass


def _b32(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text[2:])


class ChainReadCache:
    """Memoizes chain reads that cannot change once made: blocks, transaction receipts, batches,
    participants' past epochs and roles, past rate caps. Share one across many receipts of the
    same chain (a batch's receipts share their transaction, block and root) to verify in bulk."""

    def __init__(self) -> None:
        self._values: dict[tuple[Any, ...], Any] = {}

    def get(self, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
        if key not in self._values:
            self._values[key] = load()
        return self._values[key]


class _Verifier:
    def __init__(
        self,
        receipt: Receipt,
        client: ChainClient,
        document: Path | bytes | None,
        document_sha256: str | None,
        cache: ChainReadCache,
    ) -> None:
        self.r = receipt
        self.cache = cache
        self.client = client
        self.document = document
        self.document_sha256 = document_sha256
        self.anchor = receipt.anchor
        self.registry = client.contract("ParticipantRegistry", self.anchor.registry)
        self.ledger = client.contract("EvidenceLedger", self.anchor.ledger)
        self.domain = Domain(self.anchor.chain_id, self.anchor.ledger)

    def _view(self, contract: str, name: str, *args: Any) -> Any:
        """A view call of an immutable fact, through the cache."""
        target = self.registry if contract == "registry" else self.ledger
        return self.cache.get(
            (self.anchor.chain_id, target.address, name, args),
            lambda: self.client.call(getattr(target.functions, name)(*args)),
        )

    # Each check returns a detail sentence, raises _Fail (failed) or _Skip (not applicable).

    def format(self) -> str:
        if self.r.format != RECEIPT_FORMAT:
            raise _Fail(f"unknown receipt format {self.r.format!r}")
        chain_id = self.client.chain_id
        if chain_id != self.anchor.chain_id:
            raise _Fail(
                f"the node is chain {chain_id}, the receipt is for chain {self.anchor.chain_id}",
                "WRONG_CHAIN",
            )
        return f"{RECEIPT_FORMAT} on chain {chain_id}"

    def document_check(self) -> str:
        expected = self.r.record.agreement_digest
        if self.document is not None:
            actual = (
                digest_bytes(self.document)
                if isinstance(self.document, bytes)
                else digest_file(self.document)
            )
            actual_hex = "0x" + actual.hex()
        elif self.document_sha256 is not None:
            actual_hex = self.document_sha256.lower()
            if not actual_hex.startswith("0x"):
                actual_hex = "0x" + actual_hex
        else:
            raise _Skip("no document or digest given")
        if actual_hex != expected:
            raise _Fail(
                f"document SHA-256 {actual_hex} != agreement digest {expected}", "DOCUMENT_MISMATCH"
            )
        if self.r.document.sha256 != expected:
            raise _Fail(
                "the receipt's document reference names another digest", "DOCUMENT_MISMATCH"
            )
        return f"SHA-256 {expected}"

    def disclosure(self) -> str:
        if self.r.disclosure is None:
            raise _Skip("the receipt carries no disclosure form")
        from ledger.disclosure import FeeDisclosure, check_disclosure

        digest = "0x" + canonical_digest(self.r.disclosure).hex()
        if digest != self.r.record.disclosure_digest:
            raise _Fail(
                f"canonical form hashes to {digest}, record says {self.r.record.disclosure_digest}"
            )
        try:
            form = FeeDisclosure.model_validate(self.r.disclosure)
            if form.principal != self.r.record.principal:
                raise _Fail(
                    f"form's principal is {form.principal} fen, record anchors {self.r.record.principal}"
                )
            if form.stated_apr_bps != self.r.record.apr_bps:
                raise _Fail(
                    f"form states {form.stated_apr_bps} bps, record anchors {self.r.record.apr_bps} bps"
                )
            computed = check_disclosure(form)
        except (LedgerError, ValueError) as exc:
            raise _Fail(f"form is inconsistent: {exc}", "DISCLOSURE_INCONSISTENT") from exc
        return f"digest matches; stated {form.stated_apr_bps} bps, computed {computed.nominal_percent}%"

    def record_id(self) -> str:
        computed = "0x" + loan_record_id(self.r.record, self.domain).hex()
        if computed != self.r.record_id:
            raise _Fail(
                f"EIP-712 digest of the record is {computed}, receipt says {self.r.record_id}"
            )
        return computed

    def typed_data_check(self) -> str:
        expected = typed_data(self.r.record, self.domain)
        if self.r.typed_data != expected:
            raise _Fail("the EIP-712 typed data does not describe this record and domain")
        return "matches the record and domain"

    def signatures(self) -> str:
        ids = self.r.record.signer_ids()
        sigs = self.r.signatures
        if [s.participant_id for s in sigs] != ids:
            raise _Fail(
                f"signatures are for participants {[s.participant_id for s in sigs]}, the record needs {ids}"
            )
        digest = _b32(self.r.record_id)
        for s in sigs:
            try:
                recovered = recover_address(digest, bytes.fromhex(s.signature[2:]))
            except SignatureError as exc:
                raise _Fail(f"participant {s.participant_id} ({s.role}): {exc}") from exc
            if recovered.lower() != s.signer.lower():
                raise _Fail(
                    f"participant {s.participant_id} ({s.role}): signature is by {recovered}, receipt says {s.signer}"
                )
            epoch = self._view("registry", "epochAt", s.participant_id, self.anchor.block_time)
            if str(epoch[0]).lower() != recovered.lower():
                raise _Fail(
                    f"participant {s.participant_id} ({s.role}): signer {recovered} was not its registered key"
                    f" at {self.anchor.block_time} (registered: {epoch[0]})"
                )
        return f"{len(sigs)} signatures by the registered keys of participants {ids}"

    def leaf(self) -> str:
        if self.anchor.mode != "batch":
            raise _Skip("per-record anchor: no Merkle leaf")
        leaf = self.anchor.leaf
        if leaf is None:
            raise _Fail("batch receipt without a leaf")
        expected_values = [
            self.r.record_id,
            "0x"
            + signatures_hash([bytes.fromhex(s.signature[2:]) for s in self.r.signatures]).hex(),
        ]
        if (
            list(leaf.types) != list(LEAF_TYPES)
            or [v.lower() for v in leaf.values] != expected_values
        ):
            raise _Fail(
                f"leaf values {leaf.values} are not [record id, signatures hash] {expected_values}"
            )
        computed = "0x" + leaf_hash(LEAF_TYPES, expected_values).hex()
        if computed != leaf.hash:
            raise _Fail(f"leaf hashes to {computed}, receipt says {leaf.hash}")
        return computed

    def proof(self) -> str:
        if self.anchor.mode != "batch":
            raise _Skip("per-record anchor: no Merkle proof")
        assert self.anchor.leaf is not None and self.anchor.root is not None
        root = (
            "0x"
            + process_proof(_b32(self.anchor.leaf.hash), [_b32(p) for p in self.anchor.proof]).hex()
        )
        if root != self.anchor.root:
            raise _Fail(f"proof leads to {root}, receipt says root {self.anchor.root}")
        return f"{len(self.anchor.proof)} steps to root {root}"

    def anchor_check(self) -> str:
        a = self.anchor
        w3 = self.client.w3
        try:
            tx_receipt = self.cache.get(
                (a.chain_id, "tx", a.transaction_hash),
                lambda: w3.eth.get_transaction_receipt(_b32(a.transaction_hash)),  # type: ignore[arg-type]
            )
        except Exception as exc:
            raise _Fail(
                f"transaction {a.transaction_hash} not found on chain: {exc}", "ANCHOR_NOT_FOUND"
            ) from exc
        if int(tx_receipt["blockNumber"]) != a.block_number:
            raise _Fail(
                f"transaction is in block {tx_receipt['blockNumber']}, receipt says {a.block_number}"
            )
        if str(tx_receipt["to"]).lower() != a.ledger.lower() or tx_receipt["status"] != 1:
            raise _Fail("transaction was not a successful call of the ledger contract")
        block_time = int(
            self.cache.get(
                (a.chain_id, "block", a.block_number), lambda: w3.eth.get_block(a.block_number)
            )["timestamp"]
        )
        if block_time != a.block_time:
            raise _Fail(
                f"block {a.block_number} has time {block_time}, receipt says {a.block_time}"
            )
        if a.mode == "batch":
            assert a.root is not None
            batch = self._view("ledger", "batch", _b32(a.root))
            if int(batch[1]) == 0:
                raise _Fail(f"root {a.root} was never anchored", "ROOT_NOT_ANCHORED")
            if int(batch[2]) != a.block_number or int(batch[1]) != a.block_time:
                raise _Fail(
                    f"root anchored in block {batch[2]} at {batch[1]}, receipt says {a.block_number}"
                )
            events = self.cache.get(
                (a.chain_id, "batch-events", a.transaction_hash),
                lambda: self.ledger.events.BatchAnchored().process_receipt(tx_receipt),
            )
            if not any(bytes(e["args"]["root"]) == _b32(a.root) for e in events):
                raise _Fail("the transaction did not emit BatchAnchored for this root")
            return f"root in block {a.block_number} at {a.block_time} by gateway {batch[0]}"
        state = self.client.call(self.ledger.functions.recordState(_b32(self.r.record_id)))
        if int(state[0]) == RecordStatus.UNKNOWN or int(state[1]) != a.block_time:
            raise _Fail(
                "the record is not anchored on chain at the stated time", "RECORD_NOT_ANCHORED"
            )
        events = self.ledger.events.LoanAnchored().process_receipt(tx_receipt)
        if not any(bytes(e["args"]["recordId"]) == _b32(self.r.record_id) for e in events):
            raise _Fail("the transaction did not emit LoanAnchored for this record")
        return f"record in block {a.block_number} at {a.block_time}"

    def entry_timestamp(self) -> str:
        entry = self.r.entry_timestamp
        if entry is None:
            raise _Skip("no signed entry timestamp (record anchored directly)")
        p = entry.promise
        epoch = self._view("registry", "epochAt", p.gateway_id, p.accepted_at)
        role = self._view("registry", "roleOf", p.gateway_id)
        if int(role[0]) != 5:
            raise _Fail(f"participant {p.gateway_id} is not a gateway")
        try:
            verify_entry_timestamp(entry, bytes(epoch[1]))
        except SignatureError as exc:
            raise _Fail(str(exc), exc.code) from exc
        if (
            p.record_id != self.r.record_id
            or p.chain_id != self.anchor.chain_id
            or p.ledger.lower() != self.anchor.ledger.lower()
        ):
            raise _Fail("the promise names another record, chain or ledger")
        if self.anchor.leaf is not None and p.leaf_hash != self.anchor.leaf.hash:
            raise _Fail("the promise names another leaf")
        if self.anchor.block_time > p.anchor_deadline:
            raise _Fail(
                f"anchored at {self.anchor.block_time}, after the promised deadline {p.anchor_deadline}",
                "PROMISE_BROKEN",
            )
        return f"gateway {p.gateway_id} promised by {p.anchor_deadline}; anchored at {self.anchor.block_time}"

    def rate_cap(self) -> str:
        rec = self.r.record
        _role, institution = self._view("registry", "roleOf", rec.funder_id)
        found, cap = self._view("registry", "rateCapAt", institution, rec.issued_at)
        if not found:
            raise _Fail(f"no rate cap exists for institution type {institution}")
        if rec.is_legacy:
            cutoff = int(self._view("registry", "legacyCutoffAt", self.anchor.block_time))
            if rec.issued_at >= cutoff:
                raise _Fail(
                    f"flagged legacy but issued at {rec.issued_at}, after the cutoff {cutoff}"
                )
            return f"legacy loan issued before the cutoff ({rec.apr_bps} bps; cap {cap} bps)"
        if rec.apr_bps > cap:
            raise _Fail(f"APR {rec.apr_bps} bps exceeds the cap of {cap} bps", "RATE_CAP_EXCEEDED")
        return f"{rec.apr_bps} bps <= cap {cap} bps"

    def violation(self) -> str:
        code = bytes(self.client.call(self.ledger.functions.violationOf(_b32(self.r.record_id))))
        if code != b"\0\0\0\0":
            from ledger.chain.artifacts import error_selectors

            name = error_selectors().get(code, ("0x" + code.hex(), ()))[0]
            raise _Fail(f"a violation was proven on chain: {name}", "VIOLATION_PROVEN")
        return "none proven"

    def status(self) -> str:
        state = self.client.call(self.ledger.functions.recordState(_b32(self.r.record_id)))
        status = RecordStatus(int(state[0]))
        if status is RecordStatus.REVOKED:
            raise _Fail(
                f"the record was revoked at {state[2]} (reason {state[3]})", "RECORD_REVOKED"
            )
        if status is RecordStatus.SUPERSEDED:
            successor = "0x" + bytes(state[4]).hex()
            raise _Fail(
                f"the record was amended at {state[2]}: superseded by {successor} (reason {state[3]})",
                "RECORD_SUPERSEDED",
            )
        return "current (neither revoked nor superseded)"


_CHECKS: tuple[tuple[str, Callable[[_Verifier], str]], ...] = (
    ("format", _Verifier.format),
    ("document", _Verifier.document_check),
    ("disclosure", _Verifier.disclosure),
    ("record_id", _Verifier.record_id),
    ("typed_data", _Verifier.typed_data_check),
    ("signatures", _Verifier.signatures),
    ("leaf", _Verifier.leaf),
    ("proof", _Verifier.proof),
    ("anchor", _Verifier.anchor_check),
    ("entry_timestamp", _Verifier.entry_timestamp),
    ("rate_cap", _Verifier.rate_cap),
    ("violation", _Verifier.violation),
    ("status", _Verifier.status),
)
CHECK_NAMES = tuple(name for name, _ in _CHECKS)


def verify_receipt(
    receipt: Receipt | dict[str, Any],
    client: ChainClient,
    *,
    document: Path | bytes | None = None,
    document_sha256: str | None = None,
    raise_on_failure: bool = True,
    cache: ChainReadCache | None = None,
) -> VerificationReport:
    """Checks every link of a receipt; raises `VerificationError` naming the first failure.

    With `raise_on_failure=False` every check runs and the report says which passed, failed or
    did not apply. A check that cannot run because an earlier one failed still runs on what it
    has; its result is reported independently.
    """
    if not isinstance(receipt, Receipt):
        try:
            receipt = Receipt.model_validate(receipt)
        except ValueError as exc:
            raise VerificationError(
                "format", f"not a valid receipt: {exc}", code="VERIFY_FORMAT"
            ) from exc
    verifier = _Verifier(receipt, client, document, document_sha256, cache or ChainReadCache())
    report = VerificationReport(record_id=receipt.record_id)
    for name, check in _CHECKS:
        try:
            report.checks.append(CheckResult(name, "pass", check(verifier)))
        except _Skip as skip:
            report.checks.append(CheckResult(name, "skip", str(skip)))
        except _Fail as fail:
            code = f"VERIFY_{fail.code or name.upper()}"
            report.checks.append(CheckResult(name, "fail", str(fail), code))
            if raise_on_failure:
                raise VerificationError(name, str(fail), code=code) from None
        except (LedgerError, ValueError, Web3Exception) as exc:
            code = f"VERIFY_{name.upper()}"
            report.checks.append(CheckResult(name, "fail", f"cannot check: {exc}", code))
            if raise_on_failure:
                raise VerificationError(name, f"cannot check: {exc}", code=code) from exc
    return report


def connect(rpc_url: str) -> ChainClient:
    """A client for `ledger verify --rpc URL`."""
    return ChainClient(Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30})))
