"""Smoke test of scripts/gas_report.py on eth-tester with small batches only."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gas_report.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gas_report", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_gas_report_small_sizes(tmp_path: Path) -> None:
    gas_report = _load_script()
    out = tmp_path / "gas-report.md"

    assert gas_report.main(["--sizes", "1,100", "--out", str(out)]) == 0

    text = out.read_text(encoding="utf-8")
    for name in gas_report.STATE_CHANGING_FUNCTIONS:
        assert name in text, f"{name} missing from the report"
    for variant in ("first batch ever", "steady state", "regulator-signed", "inclusion proof"):
        assert variant in text
    assert "solc 0.8." in text and "Chain id" in text

    # Batch table rows: | records | leaves | gas | gas/record | ... | verifyInclusion | ...
    rows = {
        int(m.group(1).replace(",", "")): m
        for m in re.finditer(
            r"^\| ([\d,]+) \| [^|]+ \| ([\d,]+) \| ([\d.,]+) \|.*\| (true|\*\*FALSE\*\*) \|",
            text,
            re.MULTILINE,
        )
    }
    assert set(rows) == {1, 100}
    for match in rows.values():
        assert match.group(4) == "true"
    per_record_at_100 = float(rows[100].group(3).replace(",", ""))
    assert per_record_at_100 < 1_000
    assert abs(per_record_at_100 - int(rows[100].group(2).replace(",", "")) / 100) < 1
