"""The verifier: runs the checks of `ledger.verify.checks` over receipts, against one deployment.

Chain facts are asked for in one round trip per receipt (`fact_keys`), and what the deployment
check concludes of the node and the trusted contracts is worked out once per verifier.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledger.disclosure_proofs import Disclosure
from ledger.errors import VerificationError
from ledger.receipts import AnyReceipt, ReceiptV1, parse_receipt
from ledger.trust import TrustRoot
from ledger.verify.checks import (
    CHECKS,
    CHECKS_WITH_FIELDS,
    CheckFailed,
    CheckSkipped,
    ReceiptChecks,
)
from ledger.verify.facts import ChainFacts
from ledger.verify.report import (
    CheckResult,
    DeploymentUsed,
    ReportedSigner,
    VerificationReport,
)

__all__ = ["Verifier", "fact_keys"]


def _b32(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text[2:])


def fact_keys(receipt: AnyReceipt, trust: TrustRoot | None) -> list[tuple[Any, ...]]:
    """The chain facts one receipt's checks ask for (keys of `LiveChainFacts`), so they can be
    fetched in one round trip; the cap waits for the funder's institution type."""
    a, record = receipt.anchor, receipt.record
    record_id = _b32(receipt.record_id)
    keys: list[tuple[Any, ...]] = [("chain_id",), ("ledger_registry",)]
    if trust is not None and trust.genesis_hash is not None:
        keys.append(("genesis",))
    if trust is not None and trust.regulator is not None:
        keys.append(("regulator", trust.regulator))
    keys += [
        ("tx", _b32(a.transaction_hash)),
        ("block", a.block_number),
        ("role", record.funder_id),
    ]
    keys += [("state", record_id), ("violation", record_id)]
    if a.root is not None:
        keys.append(("batch", _b32(a.root)))
    for s in receipt.signatures:
        keys += [("role", s.participant_id), ("epoch", s.participant_id, a.block_time)]
    if receipt.entry_timestamp is not None:
        p = receipt.entry_timestamp.promise
        keys += [("role", p.gateway_id), ("epoch", p.gateway_id, p.accepted_at)]
    if record.is_legacy:
        keys.append(("cutoff", a.block_time))
    return keys


def node_verdicts(
    facts: ChainFacts, trust: TrustRoot
) -> tuple[CheckFailed | None, CheckFailed | None]:
    """What the deployment check concludes of the node and the trusted contracts, the same for
    every receipt: (is it the trusted chain, do the trusted contracts hold together)."""
    chain: CheckFailed | None = None
    node_chain = facts.chain_id()
    if node_chain != trust.chain_id:
        chain = CheckFailed(
            f"the node is chain {node_chain}, the trusted deployment is on chain {trust.chain_id}",
            "WRONG_CHAIN",
        )
    elif trust.genesis_hash is not None and facts.genesis_hash() != trust.genesis_hash:
        chain = CheckFailed(
            f"the node's genesis block is {facts.genesis_hash()}, the trusted chain's is"
            f" {trust.genesis_hash}",
            "GENESIS_MISMATCH",
        )
    contracts: CheckFailed | None = None
    if chain is None and facts.ledger_registry() != facts.registry:
        contracts = CheckFailed(
            f"the trusted ledger reads registry {facts.ledger_registry()}, not {facts.registry}",
            "DEPLOYMENT_MISMATCH",
        )
    elif chain is None and trust.regulator is not None and not facts.is_regulator(trust.regulator):
        contracts = CheckFailed(
            f"{trust.regulator} does not hold REGULATOR_ROLE in the trusted registry",
            "REGULATOR_MISMATCH",
        )
    return chain, contracts


def _unverified(receipt: AnyReceipt, report: VerificationReport) -> list[str]:
    """The receipt's fields no signature or chain fact vouched for in this run."""
    if isinstance(receipt, ReceiptV1):
        return ["provenance", "document.media_type", "document.size", "document.location"]
    out = ["unsigned.document_location"]
    if receipt.unsigned.document_erased is not None:
        out[:0] = [
            f"unsigned.document_erased.{name}"
            for name in ("approved_by", "erased_at", "ordered_by", "requested_by")
        ]
    provenance = next(c for c in report.checks if c.name == "provenance")
    if provenance.status == "skip" and (
        receipt.provenance is not None
        or receipt.document.media_type is not None
        or receipt.document.size is not None
    ):
        out[:0] = ["provenance", "document.media_type", "document.size"]
    return out


class Verifier:
    """Verifies receipts against one deployment: `trust` (None: whatever each receipt names, an
    explicit choice the report records) with chain facts from `facts`."""

    def __init__(self, facts: ChainFacts, trust: TrustRoot | None) -> None:
        self.facts = facts
        self.trust = trust
        self._node: tuple[CheckFailed | None, CheckFailed | None] | None = None
        self._deployment = DeploymentUsed(
            chain_id=trust.chain_id if trust else 0,
            registry=facts.registry,
            ledger=facts.ledger,
            genesis_hash=trust.genesis_hash if trust else None,
            pinned=trust is not None,
            as_of=facts.as_of(),
        )

    def verify(
        self,
        receipt: AnyReceipt | dict[str, Any] | bytes | str,
        *,
        document: Path | bytes | None = None,
        document_sha256: str | None = None,
        raise_on_failure: bool = True,
        fields: Disclosure | None = None,
    ) -> VerificationReport:
        """Checks every link; raises `VerificationError` naming the first failure, or with
        `raise_on_failure=False` runs every check and reports each. With `fields` (a selective
        disclosure of the record's fee form) the report has the `disclosure_fields` check too."""
        parsed = parse_receipt(receipt)
        try:  # a hint only: a fact that cannot be read fails the check that needs it
            self.facts.prefetch(fact_keys(parsed, self.trust))
            _, institution = self.facts.role_of(parsed.record.funder_id)
            self.facts.prefetch([("cap", institution, parsed.record.issued_at)])
        except Exception:
            pass
        if self._node is None and self.trust is not None:
            self._node = node_verdicts(self.facts, self.trust)
        run = ReceiptChecks(
            parsed,
            self.facts,
            self.trust,
            document,
            document_sha256,
            self._node or (None, None),
            fields,
        )
        report = VerificationReport(record_id=parsed.record_id, format=parsed.format)
        a = parsed.anchor
        report.deployment = (
            self._deployment
            if self.trust is not None
            else DeploymentUsed(a.chain_id, a.registry, a.ledger, None, False, self.facts.as_of())
        )
        for name, check in CHECKS if fields is None else CHECKS_WITH_FIELDS:
            try:
                report.checks.append(CheckResult(name, "pass", check(run)))
            except CheckSkipped as skip:
                report.checks.append(CheckResult(name, "skip", str(skip)))
            except CheckFailed as fail:
                code = f"VERIFY_{fail.code or name.upper()}"
                report.checks.append(CheckResult(name, "fail", str(fail), code))
                if raise_on_failure:
                    raise VerificationError(name, str(fail), code=code) from None
            except Exception as exc:  # a node error, a malformed value: this check failed
                code = f"VERIFY_{name.upper()}"
                report.checks.append(CheckResult(name, "fail", f"cannot check: {exc}", code))
                if raise_on_failure:
                    raise VerificationError(name, f"cannot check: {exc}", code=code) from exc
        report.unverified = _unverified(parsed, report)
        report.signers = [
            ReportedSigner(
                str(sig.role), sig.participant_id, sig.signer, self._name(sig.participant_id)
            )
            for sig in parsed.signatures
        ]
        return report

    def _name(self, participant_id: int) -> str | None:
        try:
            return self.facts.participant_name(participant_id)
        except Exception:  # an unknown id or a node error: the report says it cannot tell
            return None
