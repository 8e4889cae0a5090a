"""The committed contract artifacts are exactly what the pinned compiler makes of the sources."""

from __future__ import annotations

import json

import pytest

from ledger.chain.compiler import (
    ARTIFACT_DIR,
    CONTRACT_NAMES,
    SOLC_VERSION,
    compile_contracts,
    find_compiler,
)


@pytest.fixture(scope="module")
def fresh() -> dict[str, dict[str, object]]:
    return compile_contracts()


def test_compiler_is_the_pinned_version() -> None:
    compiler = find_compiler()
    assert compiler.version == SOLC_VERSION


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_committed_artifact_matches_fresh_compile(
    fresh: dict[str, dict[str, object]], name: str
) -> None:
    committed = json.loads((ARTIFACT_DIR / f"{name}.json").read_text(encoding="utf-8"))
    # Compare field by field so a failure says which part drifted; then the whole thing.
    for field in ("abi", "bytecode", "deployedBytecode", "compiler", "standardJsonInputSha256"):
        assert committed[field] == fresh[name][field], (
            f"{name}.{field} differs from a fresh compile: run `ledger compile` and commit the artifacts"
        )
    assert committed == json.loads(json.dumps(fresh[name]))


def test_deployed_code_fits_the_eip170_limit(fresh: dict[str, dict[str, object]]) -> None:
    for name, artifact in fresh.items():
        size = (len(str(artifact["deployedBytecode"])) - 2) // 2
        assert size <= 24_576, f"{name} is {size} bytes"
