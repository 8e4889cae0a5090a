"""The one table of error codes names exactly the custom errors the compiled contracts can raise
(OpenZeppelin's included), and each code means one thing."""

from __future__ import annotations

from ledger.chain.artifacts import load_artifact
from ledger.codes import ERROR_CODES, LOAN_RULES, error_code


def _contract_errors() -> set[str]:
    return {
        item["name"]
        for name in ("ParticipantRegistry", "EvidenceLedger")
        for item in load_artifact(name)["abi"]
        if item["type"] == "error"
    }


def test_the_table_names_exactly_the_contracts_custom_errors() -> None:
    assert set(ERROR_CODES) == _contract_errors()


def test_codes_are_stable_words_and_loan_rules_are_ledger_errors() -> None:
    for name, (code, meaning) in ERROR_CODES.items():
        assert code.isupper() and code.replace("_", "").isalnum(), name
        assert meaning and meaning[0].islower(), name
    assert all(name.startswith("EvidenceLedger") for name in LOAN_RULES)
    # a code shared by two errors must mean the same kind of refusal
    shared = {
        c for c, _ in ERROR_CODES.values() if [v[0] for v in ERROR_CODES.values()].count(c) > 1
    }
    assert shared <= {"PROOF_INVALID"}
    assert error_code("NoSuchError") == "CHAIN_REJECTED" and error_code(None) == "CHAIN_REJECTED"
