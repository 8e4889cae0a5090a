"""`ledger disclosure verify FILE`: a disclosure alone (its fields lead to its digest); a changed
field exits 1 naming `disclosure_fields`; what is not a disclosure exits 2."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ledger.cli import app
from ledger.disclosure_proofs import disclose
from tests.unit.test_disclosure_proofs import SEED, _form


def test_cli_verifies_a_disclosure_and_names_the_failed_check(tmp_path: Path) -> None:
    form = _form()
    good = tmp_path / "disclosure.json"
    good.write_text(disclose(form, SEED, ["/fees", "/stated_apr_bps"]).model_dump_json())
    result = CliRunner().invoke(app, ["disclosure", "verify", str(good)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["ok"] and not out["anchored"]
    assert out["fields"]["/stated_apr_bps"] == form.stated_apr_bps
    forged = json.loads(good.read_text())
    forged["fields"][0]["value"] = 0
    bad = tmp_path / "forged.json"
    bad.write_text(json.dumps(forged))
    result = CliRunner().invoke(app, ["disclosure", "verify", str(bad)])
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)["check"] == "disclosure_fields"
    bad.write_text("{}")
    assert CliRunner().invoke(app, ["disclosure", "verify", str(bad)]).exit_code == 2
