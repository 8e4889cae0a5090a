"""The end-to-end scenario and the command line, run for real on the embedded chain."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ledger.cli import app
from ledger.demo import run_demo

runner = CliRunner()


def test_demo_scenario_outcomes() -> None:
    report = run_demo(batch_size=6)
    outcomes = {step: (outcome, detail) for step, outcome, detail in report.steps}
    assert outcomes["per-record anchor"][0] == "anchored"
    assert outcomes["co-signing + batch anchor"] == (
        "ok",
        "6 loans co-signed by their funders; 6 anchored under one Merkle root",
    )
    assert outcomes["over-cap loan"][0] == "rejected"
    assert outcomes["over-cap loan"][1].startswith("RATE_CAP_EXCEEDED")
    assert outcomes["off-whitelist platform"][1].startswith("PLATFORM_NOT_WHITELISTED")
    assert outcomes["amendment"][0] == "ok"
    assert outcomes["revocation"][0] == "ok"
    assert outcomes["auditor: receipt"][0] == "verified"
    assert outcomes["auditor: tampered document"] == (
        "caught",
        "document: VERIFY_DOCUMENT_MISMATCH",
    )
    assert outcomes["auditor: amended record"] == ("flagged", "status: VERIFY_RECORD_SUPERSEDED")
    assert any(step.startswith("stats: bank") for step in outcomes)
    assert any(step.startswith("stats: CF rule") for step in outcomes)


def test_cli_demo_exits_zero() -> None:
    result = runner.invoke(app, ["demo", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert "0 unexpected outcomes" in result.output


def test_cli_apr_domain_example(tmp_path: Path) -> None:
    # domain.md R4: 100,000 principal, 1,000 upfront fee, 12 monthly payments of 8,833.30.
    flows = {
        "advances": [{"date": "2026-01-15", "amount": "99000.00"}],
        "payments": [
            {"date": f"2026-{m:02d}-15" if m <= 12 else "2027-01-15", "amount": "8833.30"}
            for m in range(2, 14)
        ],
        "unit_period": "1M",
    }
    path = tmp_path / "flows.json"
    path.write_text(json.dumps(flows))
    result = runner.invoke(app, ["apr", str(path)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["apr_nominal"].startswith("12.80")
    assert out["apr_effective"].startswith("13.58")


def test_cli_apr_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"advances": []}')
    result = runner.invoke(app, ["apr", str(path)])
    assert result.exit_code == 2
    path.write_text("{not json")
    assert runner.invoke(app, ["apr", str(path)]).exit_code == 2


def test_cli_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "apr", "verify", "deploy", "compile", "demo", "bench", "evidence"):
        assert command in result.output
