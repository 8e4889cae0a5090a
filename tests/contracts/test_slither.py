"""Slither's static analysis of the contracts, in CI: `scripts/slither` (Slither in its own
virtualenv, on the project's solc-js set-up) must find nothing that is not triaged in
`contracts/slither-triage.json` and explained in `docs/security-analysis.md`, and every triaged
finding must still be reported (no stale entry)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_every_slither_finding_is_triaged(figures: Callable[[str], None]) -> None:
    run = subprocess.run(
        [str(ROOT / "scripts" / "slither")], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    said = [line for line in run.stdout.splitlines() if line.startswith("slither:")]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert said and "every finding triaged" in said[-1], run.stdout
    figures("; ".join(said))
