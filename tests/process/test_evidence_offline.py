"""A real gateway (`ledger serve` on anvil): `ledger evidence export` fetches a record's package,
and the package verifies on a "fresh machine" — a process with an empty HOME and working
directory, no data dir, only the package file and the node's URL; a tampered document, receipt
or package.json fails, naming the check."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from web3 import Web3

from ledger.chain.anvil import AnvilNode
from ledger.chain.client import ChainClient
from ledger.testing import funded_key_file, loan_submission
from tests.process.gateway_process import GatewayProcess, auth, bank_and_platform
from tests.tampering import rezip

pytestmark = pytest.mark.anvil


def _fresh(tmp: Path, package: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    """`ledger verify PACKAGE ARGS` in a new empty HOME and cwd holding only the package."""
    home = tmp / f"fresh-{time.monotonic_ns()}"
    home.mkdir()
    (home / "package.zip").write_bytes(package)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env |= {"HOME": str(home), "PWD": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "ledger", "verify", "package.zip", *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_exported_package_verifies_on_a_fresh_machine(tmp_path: Path) -> None:
    with AnvilNode() as anvil:
        client = ChainClient(Web3(Web3.HTTPProvider(anvil.url)))
        keys = [tmp_path / "deployer.key", tmp_path / "gateway.key"]
        for path in keys:
            funded_key_file(client, path)
        gw = GatewayProcess(
            tmp_path / "gw",
            "--chain",
            anvil.url,
            "--db",
            f"sqlite:///{tmp_path / 'gw.db'}",
            "--deployer-key",
            str(keys[0]),
            "--account-key",
            str(keys[1]),
        )
        http = httpx.Client(base_url=gw.base, timeout=60)
        bank, platform = bank_and_platform(http, gw.regulator_key())
        now = int(http.get("/healthz").json()["time"])
        body, document = loan_submission(bank["participant"]["id"], now)
        r = http.post(
            "/v1/loans",
            files={
                "submission": (None, json.dumps(body)),
                "agreement": ("agreement.pdf", document, "application/pdf"),
            },
            headers=auth(platform["api_key"]),
        )
        assert r.status_code == 202, r.text
        record_id = r.json()["record_id"]
        c = http.post(f"/v1/loans/{record_id}/confirm", headers=auth(bank["api_key"]))
        assert c.status_code == 200, c.text
        deadline = time.time() + 60
        while (
            http.get(f"/v1/loans/{record_id}", headers=auth(bank["api_key"])).json()["status"]
            != "anchored"
        ):
            assert time.time() < deadline, "not anchored in 60 s"
            time.sleep(0.3)
        # the CLI fetches it, with the bank's key
        out = tmp_path / "evidence.zip"
        export = subprocess.run(
            [
                sys.executable,
                "-m",
                "ledger",
                "evidence",
                "export",
                record_id,
                "--gateway",
                gw.base,
                "--api-key",
                bank["api_key"],
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert export.returncode == 0, export.stderr
        assert "document included" in export.stdout
        refused = subprocess.run(
            [
                sys.executable,
                "-m",
                "ledger",
                "evidence",
                "export",
                "0x" + "cd" * 32,
                "--gateway",
                gw.base,
                "--api-key",
                bank["api_key"],
                "--out",
                str(out) + ".x",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert refused.returncode == 1 and "RECORD_NOT_FOUND" in refused.stderr
        trust = tmp_path / "trust-root.json"
        trust.write_text(json.dumps(http.get("/v1/deployment").json()["trust_root"]))
        gw.stop()  # from here on: the package and the node only

        package = out.read_bytes()
        ok = _fresh(tmp_path, package, "--chain", anvil.url)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "no --trust given" in ok.stderr and "Compare these" in ok.stderr
        pinned = _fresh(tmp_path, package, "--chain", anvil.url, "--trust", str(trust), "--json")
        assert pinned.returncode == 0, pinned.stdout + pinned.stderr
        report = json.loads(pinned.stdout)
        assert report["ok"] and report["pinned"] and report["failed"] == []
        other = json.loads(trust.read_text()) | {"ledger": "0x" + "11" * 20}
        (tmp_path / "other.json").write_text(json.dumps(other))
        wrong = _fresh(
            tmp_path, package, "--chain", anvil.url, "--trust", str(tmp_path / "other.json")
        )
        assert wrong.returncode == 1 and "FAILED: trust_root" in wrong.stderr

        files = zipfile.ZipFile(io.BytesIO(package))
        tampered = {
            "document": rezip(package, {"document/agreement.pdf": document + b"\n"}),
            "receipt": rezip(
                package,
                {
                    "receipt.json": files.read("receipt.json").replace(
                        b'"apr_bps":', b'"apr_bps":1', 1
                    )
                },
            ),
            "manifest": rezip(
                package,
                {
                    "package.json": files.read("package.json").replace(
                        b'"exported_at": ', b'"exported_at": 1'
                    )
                },
            ),
        }
        expected = {
            "document": {"package_members", "document"},
            "receipt": {"package_members"},
            "manifest": {"package_signature"},
        }
        for what, forged in tampered.items():
            bad = _fresh(tmp_path, forged, "--chain", anvil.url, "--json")
            assert bad.returncode == 1, (what, bad.stdout, bad.stderr)
            failed = set(json.loads(bad.stdout)["failed"])
            assert expected[what] <= failed, (what, failed)
            assert "FAILED: " in bad.stderr, bad.stderr
