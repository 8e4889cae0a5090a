"""No forged receipt is accepted, by the library, by `POST /v1/verify` and `/v1/verify/batch`,
or by the `ledger verify` command line (on anvil) — and every genuine one is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.verify import verify_receipt
from tests.api.conftest import auth
from tests.forgery.world import Forgery, World, forgeries

ROOT = Path(__file__).resolve().parents[2]


def _failed(report: dict[str, object]) -> set[str]:
    checks = report["checks"]
    assert isinstance(checks, list)
    return {c["name"] for c in checks if c["status"] == "fail"}


def test_genuine_receipts_verify_everywhere(world: World) -> None:
    for name, receipt in world.genuine.items():
        report = verify_receipt(
            receipt, world.client, trust=world.trust, document=world.documents[name]
        )
        assert report.ok and report.pinned, report.as_dict()
        assert report.unverified == ["unsigned.document_location"]
        http = world.env.http.post("/v1/verify", json={"receipt": json.loads(receipt.to_json())})
        assert http.status_code == 200 and http.json()["ok"], http.text
        assert http.json()["deployment"]["ledger"] == world.trust.ledger


def test_the_look_alike_passes_only_without_a_trust_root(world: World) -> None:
    """Why the trust root matters: unpinned, the look-alike's receipt is internally perfect."""
    assert world.attacker is not None
    forged = world.attacker.receipt
    unpinned = verify_receipt(
        forged, world.client, trust=None, document=world.documents["look-alike"]
    )
    assert unpinned.ok and not unpinned.pinned
    assert unpinned.deployment is not None
    assert unpinned.deployment.ledger == world.attacker.deployment.ledger
    pinned = verify_receipt(forged, world.client, trust=world.trust, raise_on_failure=False)
    assert not pinned.ok and pinned.failed[0] == "deployment"
    assert pinned.first_failure is not None
    assert pinned.first_failure.code == "VERIFY_DEPLOYMENT_MISMATCH"


def _cases(world: World) -> list[Forgery]:
    cases = forgeries(world)
    assert len(cases) >= 20
    return cases


def test_every_forgery_fails_its_check_in_the_library(world: World) -> None:
    accepted = []
    for forgery in _cases(world):
        report = verify_receipt(
            forgery.receipt,
            world.client,
            trust=world.trust,
            document=forgery.document,
            raise_on_failure=False,
        )
        if report.ok or forgery.check not in report.failed:
            accepted.append((forgery.name, report.failed))
    assert accepted == []


def test_every_forgery_fails_its_check_over_http(world: World) -> None:
    cases = _cases(world)
    for forgery in cases:
        r = world.env.http.post("/v1/verify", json={"receipt": forgery.receipt})
        assert r.status_code in (200, 422), r.text
        if r.status_code == 422:  # not even a well-formed receipt
            assert r.json()["error"]["check"] == "format" == forgery.check, forgery.name
            continue
        body = r.json()
        assert not body["ok"] and forgery.check in _failed(body), (forgery.name, body)
    batch = world.env.http.post(
        "/v1/verify/batch",
        json={
            "receipts": [f.receipt for f in cases]
            + [json.loads(world.genuine["batch-a0"].to_json())]
        },
        headers=auth(None),
    )
    assert batch.status_code == 200, batch.text
    out = batch.json()
    assert (out["passed"], out["failed"] + out["invalid"]) == (1, len(cases))
    for forgery, item in zip(cases, out["results"], strict=False):
        assert item["report"] is not None and forgery.check in _failed(item["report"]), forgery.name


def _cli(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    assert world.rpc_url is not None
    return subprocess.run(
        [sys.executable, "-m", "ledger", "verify", *args, "--rpc", world.rpc_url],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_every_forgery_fails_its_check_on_the_command_line(world: World, tmp_path: Path) -> None:
    if world.rpc_url is None:
        pytest.skip("the command line talks to a node by URL: the anvil run covers it")
    cases = _cases(world)
    folder = tmp_path / "receipts"
    folder.mkdir()
    for index, forgery in enumerate(cases):
        (folder / f"{index:03d}.json").write_text(json.dumps(forgery.receipt))
    trust = str(world.trust.save(tmp_path / "trust-root.json"))
    failures = tmp_path / "failures.jsonl"
    done = _cli(world, str(folder), "--trust", trust, "--failures", str(failures), "--workers", "2")
    assert done.returncode == 1, done.stderr[-3000:]
    assert f"{len(cases)} receipts: 0 passed" in done.stderr.replace(",", "")
    lines = [json.loads(line) for line in failures.read_text().splitlines()]
    assert len(lines) == len(cases)
    by_source = {Path(line["source"]).stem: line for line in lines}
    for index, forgery in enumerate(cases):
        line = by_source[f"{index:03d}"]
        assert forgery.check in {f["check"] for f in line["failed"]}, (forgery.name, line)
    # the genuine receipts, as a JSONL file, pass the same command
    genuine = tmp_path / "genuine.jsonl"
    genuine.write_text("".join(r.model_dump_json() + "\n" for r in world.genuine.values()))
    ok = _cli(world, str(genuine), "--trust", trust)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert f"{len(world.genuine)} receipts: {len(world.genuine)} passed" in ok.stderr
