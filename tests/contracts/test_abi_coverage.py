"""Guard: every function, custom error and event of both contracts is exercised by this suite.

A name counts as covered when it appears (as a call, an expected error or an event name) in the
suite's sources. A function, error or event added to a contract without a test fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger.chain.artifacts import load_artifact

SUITE = Path(__file__).resolve().parent
CONTRACTS = ("ParticipantRegistry", "EvidenceLedger")

#: Items of the ABI that cannot happen with these contracts, and why.
UNREACHABLE = {
    # OpenZeppelin ShortStrings, used by EIP712's constructor: our name and version are short
    "InvalidShortString",
    "StringTooLong",
    # never emitted: no role admin is ever changed, the EIP-712 domain is immutable
    "RoleAdminChanged",
    "EIP712DomainChanged",
}


def _suite_text() -> str:
    return "\n".join(
        p.read_text(encoding="utf-8")
        for p in sorted(SUITE.glob("*.py"))
        if p.name != Path(__file__).name
    )


@pytest.mark.parametrize("kind", ["function", "error", "event"])
def test_every_abi_item_is_exercised(kind: str) -> None:
    text = _suite_text()
    names = {
        item["name"]
        for contract in CONTRACTS
        for item in load_artifact(contract)["abi"]
        if item["type"] == kind
    }
    missing = sorted(
        name
        for name in names - UNREACHABLE
        if not re.search(rf"""(\.{name}\(|["']{name}["(])""", text)
    )
    assert missing == [], f"{kind}s without a test: {missing}"
