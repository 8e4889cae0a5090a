"""An end-to-end scenario on a fresh embedded chain, used by `ledger demo` and the benchmarks.

A regulator, two banks, a consumer-finance company, three platforms, a guarantor and a gateway;
whitelists; loans with real fee disclosures whose APR comes from the engine; per-record and
batched anchoring; an over-cap loan and an off-whitelist platform rejected; an amendment and a
revocation; an auditor verifying a receipt and catching a tampered document; statistics.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from ledger.canonical import digest_bytes
from ledger.chain.client import ChainClient
from ledger.enums import InstitutionType, Role
from ledger.errors import LedgerError, VerificationError
from ledger.receipts import Receipt
from ledger.testing import CAST, WHITELISTS, build_disclosure
from ledger.verify import verify_receipt

__all__ = ["DemoReport", "run_demo"]

Log = Callable[[str], None]


@dataclass
class DemoReport:
    """What the demo did, for printing and for tests."""

    steps: list[tuple[str, str, str]] = field(default_factory=list)  # (step, outcome, detail)
    receipts: list[Receipt] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, step: str, outcome: str, detail: str) -> None:
        self.steps.append((step, outcome, detail))


def run_demo(
    batch_size: int = 20, log: Log | None = None, data_dir: Path | None = None
) -> DemoReport:
    """Runs the whole scenario through the gateway's library (`LedgerService`) on a fresh
    embedded chain (persisted in a temporary data dir) and returns what happened; every outcome
    printed is computed, none is canned."""
    with tempfile.TemporaryDirectory(prefix="ledger-demo-") as tmp:
        return _run_demo(Path(data_dir or tmp), batch_size, log)


def _run_demo(data_dir: Path, batch_size: int, log: Log | None) -> DemoReport:
    from ledger.chain.embedded import open_embedded_chain
    from ledger.queries import stats as loan_stats
    from ledger.service import Caller, LedgerService, LoanSubmission, ServiceConfig
    from ledger.store import Database

    started = time.perf_counter()
    report = DemoReport()

    def step(name: str, outcome: str, detail: str) -> None:
        report.add(name, outcome, detail)
        if log:
            log(f"{name}: {outcome} — {detail}")

    with open_embedded_chain(data_dir / "chain") as embedded:
        client = ChainClient(embedded.w3)
        db = Database(f"sqlite:///{data_dir / 'ledger.db'}")
        service, _regulator_key = LedgerService.open(db, client, ServiceConfig(data_dir=data_dir))
        deployment = service.deployment
        step(
            "deploy",
            "ok",
            f"registry {deployment.registry}, ledger {deployment.ledger}, embedded chain {deployment.chain_id}",
        )

        cast = [*CAST, ("Auditor", Role.AUDITOR, InstitutionType.NONE)]
        ids: dict[str, int] = {"Regulator": 1}
        callers: dict[str, Caller] = {"Regulator": Caller(1, Role.REGULATOR)}
        for name, role, institution in cast:
            row, _key = service.register_participant(role, name, institution)
            ids[name] = row.id
            callers[name] = Caller(row.id, role)
        step("participants", "ok", ", ".join(f"{n} #{i}" for n, i in ids.items()))
        for funder, partners in WHITELISTS.items():
            for partner in partners:
                service.whitelist_add(ids[funder], ids[partner])
        step("whitelists", "ok", "; ".join(f"{f}: {', '.join(p)}" for f, p in WHITELISTS.items()))

        now = client.latest_timestamp()
        issued = datetime.fromtimestamp(now, UTC)
        serial = iter(range(1, 1_000_000))

        def submission(funder: str, rate: Fraction, **extra: Any) -> tuple[LoanSubmission, bytes]:
            n = next(serial)
            document = f"借款合同 loan agreement #{n} ({funder})".encode()
            guarantee = 3_000 if extra.get("guarantor_id") else 0
            form = build_disclosure(
                2_000_000 + 10_000 * n,
                12,
                rate,
                issued.date(),
                lender=funder,
                guarantee_fee_per_month=guarantee,
                upfront_fee=10_000 * (n % 3),
                guarantor="Guarantor G" if guarantee else "",
                confirmed_at=issued - timedelta(minutes=5),
            )
            return (
                LoanSubmission(
                    agreement_sha256=digest_bytes(document).hex(),
                    disclosure=form,
                    borrower_id=f"1101011990030{n:05d}",
                    funder_id=ids[funder],
                    source_system="demo",
                    **extra,
                ),
                document,
            )

        # Per-record anchoring, with a guarantor: the contract checks every rule itself.
        sub, document = submission(
            "Bank A", Fraction(12, 1000), guarantor_id=ids["Guarantor G"], anchoring="per-record"
        )
        accepted = service.submit_loan(callers["Platform 1"], sub, document)
        confirmed = service.confirm_loan(callers["Bank A"], accepted.record_id)
        step(
            "per-record anchor",
            confirmed.status,
            f"{accepted.record_id[:18]}… platform, funder and guarantor signed; agreement in the vault",
        )
        first_id, first_document = accepted.record_id, document

        # Batched anchoring: platforms submit, funders co-sign, the batcher anchors one root.
        plan = [("Bank A", "Platform 2"), ("Bank B", "Platform 2"), ("CF Co", "Platform 3")]
        by_platform: dict[tuple[str, str], list[LoanSubmission]] = {}
        for i in range(batch_size):
            funder, platform = plan[i % 3]
            by_platform.setdefault((funder, platform), []).append(
                submission(funder, Fraction(8 + i % 9, 1000))[0]
            )
        queued = 0
        for (funder, platform), subs in by_platform.items():
            results = service.submit_batch(callers[platform], subs)
            ids_ = [r["record_id"] for r in results if "record_id" in r]
            queued += sum("status" in r for r in service.confirm_batch(callers[funder], ids_))
        anchored = service.anchor_pending()
        step(
            "co-signing + batch anchor",
            "ok",
            f"{queued} loans co-signed by their funders; {anchored} anchored under one Merkle root",
        )

        # Rejections.
        over, _ = submission("Bank A", Fraction(25, 1000))
        off, _ = submission("Bank B", Fraction(1, 100))
        refusals = [
            (
                "over-cap loan",
                "Platform 1",
                over,
                f"APR {over.disclosure.stated_apr_bps} bps > 2400",
            ),
            ("off-whitelist platform", "Platform 3", off, "Platform 3 is not on Bank B's list"),
        ]
        for name, platform, refused, why in refusals:
            try:
                service.submit_loan(callers[platform], refused)
                step(name, "NOT REJECTED", "")
            except LedgerError as exc:
                step(name, "rejected", f"{exc.code}: {why}")

        # Amendment (platform and funder) and revocation (regulator).
        corrected, corrected_document = submission(
            "Bank A", Fraction(11, 1000), guarantor_id=ids["Guarantor G"], anchoring="per-record"
        )
        replacement = service.submit_loan(callers["Platform 1"], corrected, corrected_document)
        service.confirm_loan(callers["Bank A"], replacement.record_id)
        service.retire(
            callers["Platform 1"], first_id, reason_code=2, superseded_by=replacement.record_id
        )
        step(
            "amendment",
            "ok",
            f"{first_id[:18]}… superseded by {replacement.record_id[:18]}… (platform + funder signed)",
        )
        from ledger.queries import list_loans

        batched = [
            item["record_id"] for item in list_loans(db, limit=1000)[0] if item["batch_root"]
        ]
        service.retire(callers["Regulator"], batched[1], reason_code=7)
        step(
            "revocation",
            "ok",
            f"batched record {batched[1][:18]}… revoked by the regulator with its inclusion proof",
        )

        # Auditor: receipts verify from the chain alone; tampering is caught.
        auditor = callers["Auditor"]
        receipt = service.receipt(auditor, batched[0])
        trust = service.trust_root  # what the auditor pinned (GET /v1/deployment)
        good = verify_receipt(receipt.to_json(), client, trust=trust, raise_on_failure=False)
        passed = sum(c.status == "pass" for c in good.checks)
        step(
            "auditor: receipt",
            "verified" if good.ok else "FAILED",
            f"{passed}/{len(good.checks)} checks passed",
        )
        report.receipts.append(receipt)
        replacement_receipt = service.receipt(auditor, replacement.record_id)
        report.receipts.append(replacement_receipt)
        try:
            verify_receipt(
                replacement_receipt,
                client,
                trust=trust,
                document=corrected_document + b" tampered",
            )
            step("auditor: tampered document", "NOT CAUGHT", "")
        except VerificationError as exc:
            step("auditor: tampered document", "caught", f"{exc.check}: {exc.code}")
        try:
            verify_receipt(
                service.receipt(auditor, first_id), client, trust=trust, document=first_document
            )
            step("auditor: amended record", "NOT CAUGHT", "")
        except VerificationError as exc:
            step("auditor: amended record", "flagged", f"{exc.check}: {exc.code}")

        # Regulator statistics.
        report_stats = loan_stats(
            db, group_by="institution_type", period="quarter", caps_bps={"24%": 2400, "4xLPR": 1200}
        )
        for group in report_stats["groups"]:
            apr = group["apr_bps"]
            step(
                f"stats: {group['group']} {group['period']}",
                f"{group['count']} loans",
                f"volume ¥{group['volume'] / 100:,.2f}; APR weighted {apr['weighted'] / 100:.2f}%,"
                f" max {apr['max'] / 100:.2f}%; above 4xLPR: {group['above_cap']['4xLPR']['count']}",
            )
        for row in report_stats["consumer_finance_rule"]["by_funder"]:
            step(
                f"stats: CF rule {row['quarter']}",
                "within 20%" if row.get("within_limit") else "ABOVE 20%",
                str({k: v for k, v in row.items() if k not in ("funder_id", "quarter")}),
            )
        db.engine.dispose()
    report.seconds = time.perf_counter() - started
    return report
