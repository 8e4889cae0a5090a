#!/usr/bin/env python3
"""Helpers of `scripts/slither`: the compiler input Slither is fed, and the triage check.

    python3 scripts/slither_triage.py input            # standard-JSON input on stdout
    python3 scripts/slither_triage.py check FINDINGS   # FINDINGS: `slither --json` output

`input` is the project's own standard-JSON compiler input (`ledger.chain.compiler`: every source
embedded, the pinned settings) with the AST added to the output selection, so Slither's
crytic-compile runs the same solc-js shim on the same input as `ledger compile`.

`check` compares the findings in contracts/src (OpenZeppelin is filtered out) with the triaged
list in `contracts/slither-triage.json`, where each finding is named by its detector and its
description without source locations (so moving code does not re-open a finding; changing what
it says does) and explained in docs/security-analysis.md. Exit status: 0 if every finding is
triaged; 1 if there are new findings (printed) or triaged ones Slither no longer reports (stale
entries, to be removed); 2 if Slither did not run.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ledger.chain.compiler import standard_json_input  # noqa: E402

TRIAGE = REPO / "contracts" / "slither-triage.json"
_LOCATION = re.compile(r" \([^()\s]+#\d+(?:-\d+)?\)")


def slither_input() -> dict[str, Any]:
    compiler_input = standard_json_input()
    settings = dict(compiler_input["settings"])
    selection = {
        "*": ["abi", "metadata", "devdoc", "userdoc", "evm.bytecode", "evm.deployedBytecode"]
    }
    settings["outputSelection"] = {"*": {**selection, "": ["ast"]}}
    return {**compiler_input, "settings": settings}


def finding_key(result: dict[str, Any]) -> str:
    """`detector: description` without the `(file#lines)` locations."""
    description = _LOCATION.sub("", result["description"]).strip()
    return f"{result['check']}: {description}"


def check(findings_path: Path) -> int:
    try:
        output = json.loads(findings_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"slither: no findings file ({exc})", file=sys.stderr)
        return 2
    if not output.get("success"):
        print(f"slither failed: {output.get('error')}", file=sys.stderr)
        return 2
    results = output.get("results", {}).get("detectors", [])
    found = {finding_key(r): r for r in results}
    triaged = {entry["finding"]: entry for entry in json.loads(TRIAGE.read_text(encoding="utf-8"))}
    by_impact: dict[str, int] = {}
    for result in results:
        by_impact[result["impact"]] = by_impact.get(result["impact"], 0) + 1
    figures = ", ".join(f"{impact} {n}" for impact, n in sorted(by_impact.items()))
    print(f"slither: {len(results)} findings in contracts/src ({figures}); {len(triaged)} triaged")
    new = sorted(set(found) - set(triaged))
    stale = sorted(set(triaged) - set(found))
    for key in new:
        result = found[key]
        print(f"NEW [{result['impact']}/{result['confidence']}] {result['description']}")
    for key in stale:
        print(f"STALE (no longer reported; remove from {TRIAGE.name}): {key}")
    if new or stale:
        return 1
    verdicts: dict[str, int] = {}
    for key in found:
        verdict = triaged[key]["verdict"]
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
    print(
        "slither: every finding triaged ("
        + ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items()))
        + ")"
    )
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["input"]:
        json.dump(slither_input(), sys.stdout)
        return 0
    if len(argv) == 2 and argv[0] == "check":
        return check(Path(argv[1]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
