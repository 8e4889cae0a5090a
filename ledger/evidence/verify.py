"""Verifying a package offline: only the package and a node of its chain.

Checks, each named (a failure names the check and, for members, the member):

    package_format     a ZIP with a `package.json` of a known format
    package_members    every listed member is there, unaltered (SHA-256 and size), none added
    trust_root         the package's trust root is the node's chain (chain id, genesis block) and
                       its contracts are deployed at those addresses; with a pin (`--trust`), it
                       is the deployment you hold
    package_signature  `package.json` is signed by the exporting gateway's Ed25519 key, the one
                       registered for it on chain when it exported the package
    package_consistency the manifest, the receipt, the report and the document name one record
    (then every receipt check of `ledger.verify`, the document included when the package has it)

Without a pin the trust root comes from the package itself: the verifier then says which
contract addresses it trusted, for the reader to compare with the ones they hold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey
from pydantic import ValidationError

from ledger import safejson
from ledger.chain.client import ChainClient
from ledger.disclosure_proofs import Disclosure
from ledger.errors import VerificationError
from ledger.evidence.model import (
    DISCLOSURE_JSON,
    MANIFEST,
    RECEIPT_JSON,
    REPORT_JSON,
    TRUST_ROOT_JSON,
    Manifest,
)
from ledger.evidence.package import ReadPackage, read_package
from ledger.receipts import parse_receipt
from ledger.trust import TrustRoot
from ledger.verify import Verifier, facts_for
from ledger.verify.report import CheckResult, VerificationReport

__all__ = ["PACKAGE_CHECKS", "PackageReport", "verify_package"]

PACKAGE_CHECKS = (
    "package_format",
    "package_members",
    "trust_root",
    "package_signature",
    "package_consistency",
)


class _Fail(Exception):
    pass


@dataclass
class PackageReport:
    """Every check of one package, and the receipt's own report."""

    record_id: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    receipt: VerificationReport | None = None
    trust_root: TrustRoot | None = None
    pinned: bool = False

    @property
    def all_checks(self) -> list[CheckResult]:
        return [*self.checks, *(self.receipt.checks if self.receipt else [])]

    @property
    def ok(self) -> bool:
        return (
            self.receipt is not None
            and all(c.status != "fail" for c in self.all_checks)
            and len(self.checks) == len(PACKAGE_CHECKS)
        )

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.all_checks if c.status == "fail"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "ok": self.ok,
            "pinned": self.pinned,
            "trust_root": self.trust_root.model_dump(mode="json") if self.trust_root else None,
            "checks": [
                {"name": c.name, "status": c.status, "detail": c.detail}
                | ({"code": c.code} if c.code else {})
                for c in self.checks
            ],
            "receipt": self.receipt.as_dict() if self.receipt else None,
            "failed": self.failed,
        }


def _run(report: PackageReport, name: str, check: Any) -> bool:
    try:
        report.checks.append(CheckResult(name, "pass", check()))
        return True
    except _Fail as fail:
        code = f"VERIFY_{name.upper()}"
        report.checks.append(CheckResult(name, "fail", str(fail), code))
        return False
    except Exception as exc:  # a node error, a malformed value: this check failed
        code = f"VERIFY_{name.upper()}"
        report.checks.append(CheckResult(name, "fail", f"cannot check: {exc}", code))
        return False


def _members(package: ReadPackage) -> str:
    bad: list[str] = []
    for m in package.manifest.members:
        data = package.files.get(m.name)
        if m.name in package.unreadable:
            bad.append(f"{m.name} (unreadable: {package.unreadable[m.name]})")
        elif data is None:
            bad.append(f"{m.name} (missing)")
        elif "0x" + hashlib.sha256(data).hexdigest() != m.sha256 or len(data) != m.size:
            bad.append(f"{m.name} (altered: its SHA-256 is not the one in {MANIFEST})")
    listed = {m.name for m in package.manifest.members}
    bad += [f"{n} (not listed in {MANIFEST})" for n in sorted(package.files) if n not in listed]
    if bad:
        raise _Fail("; ".join(bad))
    return f"{len(listed)} members, each with the SHA-256 {MANIFEST} lists"


def _package_trust(package: ReadPackage) -> TrustRoot:
    try:
        return TrustRoot.model_validate(safejson.loads(package.files[TRUST_ROOT_JSON]))
    except Exception as exc:
        raise _Fail(f"{TRUST_ROOT_JSON} is not a trust root: {exc}") from exc


def _trust_root(client: ChainClient, theirs: TrustRoot, pin: TrustRoot | None) -> str:
    if pin is not None:
        differs = [
            name
            for name in ("chain_id", "registry", "ledger", "genesis_hash")
            if getattr(pin, name) is not None
            and getattr(theirs, name) is not None
            and getattr(pin, name) != getattr(theirs, name)
        ]
        if differs:
            raise _Fail(
                f"the package's trust root differs from yours in {', '.join(differs)}:"
                f" package ledger {theirs.ledger}, yours {pin.ledger}"
            )
    if client.chain_id != theirs.chain_id:
        raise _Fail(f"the node is chain {client.chain_id}, the package's is {theirs.chain_id}")
    if theirs.genesis_hash is not None:
        genesis = "0x" + bytes(client.w3.eth.get_block(0)["hash"]).hex()
        if genesis != theirs.genesis_hash:
            raise _Fail(
                f"the node's genesis block is {genesis}, the package's {theirs.genesis_hash}"
            )
    for name in ("registry", "ledger"):
        address = getattr(theirs, name)
        if address is not None and not bytes(client.w3.eth.get_code(address)):
            raise _Fail(f"no contract at the package's {name} address {address}")
    how = "equal to your pin" if pin is not None else "NOT pinned: compare with the ones you hold"
    return (
        f"chain {theirs.chain_id}, registry {theirs.registry}, ledger {theirs.ledger}: deployed"
        f" on the node ({how})"
    )


def _signature(manifest: Manifest, trust: TrustRoot, client: ChainClient) -> str:
    sig = manifest.signature
    if sig is None:
        raise _Fail(f"{MANIFEST} is not signed")
    facts = facts_for(client, trust)
    epoch = facts.epoch_at(sig.gateway_id, manifest.exported_at)
    key = bytes.fromhex(sig.public_key[2:])
    if epoch.ed25519_public_key != key:
        raise _Fail(
            f"signed with a key that is not gateway #{sig.gateway_id}'s registered key at"
            f" {manifest.exported_at}"
        )
    try:
        VerifyKey(key).verify(manifest.signed_bytes(), bytes.fromhex(sig.signature[2:]))
    except (CryptoError, ValueError) as exc:
        raise _Fail(f"the signature over {MANIFEST} is invalid: it was changed") from exc
    return f"signed by gateway #{sig.gateway_id} with its key registered on chain"


def _consistency(package: ReadPackage) -> str:
    m = package.manifest
    receipt = parse_receipt(package.files[RECEIPT_JSON])
    wrong: list[str] = []
    if receipt.record_id.lower() != m.record_id.lower():
        wrong.append(f"{MANIFEST} names {m.record_id}, the receipt {receipt.record_id}")
    if m.document.sha256.lower() != receipt.record.agreement_digest.lower():
        wrong.append("the document entry's digest is not the record's")
    try:
        report_id = safejson.loads(package.files[REPORT_JSON]).get("record_id")
    except Exception:
        report_id = None
    if str(report_id).lower() != receipt.record_id.lower():
        wrong.append(f"{REPORT_JSON} is of another record ({report_id})")
    if wrong:
        raise _Fail("; ".join(wrong))
    return f"one record, {receipt.record_id}"


def verify_package(data: bytes, client: ChainClient, pin: TrustRoot | None = None) -> PackageReport:
    """Runs every check of a package (see the module docstring); never raises for a bad package:
    the report names what failed."""
    report = PackageReport(pinned=pin is not None)
    try:
        package = read_package(data)
    except VerificationError as exc:
        report.checks.append(CheckResult("package_format", "fail", exc.message, exc.code))
        return report
    report.record_id = package.manifest.record_id
    report.checks.append(
        CheckResult("package_format", "pass", f"{package.manifest.format}, {MANIFEST} parsed")
    )
    _run(report, "package_members", lambda: _members(package))
    trust_holder: list[TrustRoot] = []

    def trust_check() -> str:
        theirs = _package_trust(package)
        trust_holder.append(pin or theirs)
        report.trust_root = theirs
        return _trust_root(client, theirs, pin)

    trusted = _run(report, "trust_root", trust_check)
    trust = trust_holder[0] if trust_holder else pin
    if trust is None:
        report.checks.append(
            CheckResult("package_signature", "skip", "no trust root to read the gateway's key")
        )
    else:
        _run(report, "package_signature", lambda: _signature(package.manifest, trust, client))
    _run(report, "package_consistency", lambda: _consistency(package))
    receipt_bytes = package.files.get(RECEIPT_JSON)
    if receipt_bytes is None or trust is None or not trusted:
        return report  # the failing check is named; nothing to verify the receipt against
    document = package.files.get(package.manifest.document.member or "")
    report.receipt = VerificationReport(record_id=report.record_id or "")
    try:
        verifier = Verifier(facts_for(client, trust), trust)
        disclosure = package.files.get(DISCLOSURE_JSON)
        try:
            fields = None if disclosure is None else Disclosure.model_validate_json(disclosure)
        except ValidationError as exc:
            report.receipt.checks.append(
                CheckResult(
                    "disclosure_fields",
                    "fail",
                    f"{DISCLOSURE_JSON}: {exc}",
                    "VERIFY_DISCLOSURE_FIELDS",
                )
            )
            return report
        report.receipt = verifier.verify(
            receipt_bytes, document=document, raise_on_failure=False, fields=fields
        )
    except VerificationError as exc:  # not a receipt at all
        report.receipt.checks.append(CheckResult("format", "fail", exc.message, exc.code))
    except Exception as exc:  # the trusted deployment cannot be read from the node
        report.receipt.checks.append(
            CheckResult("deployment", "fail", f"cannot check: {exc}", "VERIFY_DEPLOYMENT")
        )
    return report
