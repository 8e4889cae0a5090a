#!/usr/bin/env python3
"""Makes the committed sample certificate (docs/evidence-sample/): a gateway on a fresh
in-process chain, a bank and a platform registered and whitelisted, one loan submitted with its
agreement file, co-signed, anchored in a batch, its agreement read by the funder (a read the
evidence log anchors), and its evidence package exported as the regulator; the package's certificate.html, certificate.pdf and page 1 as PNG are written.

    .venv/bin/python scripts/sample_certificate.py [OUT_DIR]

Nothing is typed in by hand: every value on the certificate comes from that record.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from web3 import EthereumTesterProvider, Web3

from gateway.app import open_gateway
from gateway.settings import GatewaySettings
from ledger.access import Caller
from ledger.chain.client import ChainClient
from ledger.enums import InstitutionType, Role
from ledger.evidence import export_package, read_package
from ledger.service import LoanSubmission
from ledger.testing import loan_submission

ROOT = Path(__file__).resolve().parents[1]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sample-certificate-") as tmp:
        client = ChainClient(Web3(EthereumTesterProvider()))
        gw = open_gateway(GatewaySettings(data_dir=Path(tmp)), client=client)
        try:
            service = gw.service
            bank, bank_key = service.register_participant(
                Role.FUNDER, "示例银行 Example Bank", InstitutionType.BANK
            )
            platform, platform_key = service.register_participant(
                Role.PLATFORM, "示例助贷平台 Example Platform"
            )
            service.whitelist_add(bank.id, platform.id)
            client.advance_time(2)
            body, document = loan_submission(
                bank.id,
                service.clock(),
                source_system="示例平台信贷核心系统 loan core v3",
                document=b"%PDF-1.7\n% sample loan agreement (evidence-package sample)\n",
            )
            platform_caller = service.authenticate(platform_key)
            submitted = service.submit_loan(
                platform_caller, LoanSubmission.model_validate(body), document
            )
            service.confirm_loan(service.authenticate(bank_key), submitted.record_id)
            service.anchor_pending()
            # the funder reads the agreement from the vault; the read is logged and anchored
            _, stream = service.vault.read(service.authenticate(bank_key), submitted.record_id)
            assert b"".join(stream) == document
            service.anchor_evidence_log()
            exported = export_package(service, Caller(1, Role.REGULATOR), submitted.record_id)
        finally:
            gw.close()
    package = read_package(exported.data)
    (out / "certificate.html").write_bytes(package.files["certificate.html"])
    (out / "certificate.pdf").write_bytes(package.files["certificate.pdf"])
    import pypdfium2

    page = pypdfium2.PdfDocument(package.files["certificate.pdf"])[0]
    image = page.render(scale=1.2).to_pil().convert("L").quantize(16)
    image.save(out / "certificate-page-1.png", optimize=True)
    print(
        f"record {exported.record_id}: package {len(exported.data):,} bytes, exported in"
        f" {exported.seconds:.2f} s (PDF {exported.pdf_seconds:.2f} s); wrote {out}"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "evidence-sample")
