"""Reproducible compilation of `contracts/src` with a pinned Solidity compiler.

py-solc-x drives the compiler through the standard-JSON interface. The compiler is, in order of
preference: a native `solc` of the pinned version on PATH, one installed by py-solc-x, or the
`scripts/solc-shim` command over the npm package `solc` (solc-js, the official compiler built
to WebAssembly), which is what every machine here uses because no native binary can be
downloaded. All three produce identical output for identical input, so the committed artifacts
(`ledger/chain/artifacts/`) can be checked against a fresh compile on any of them.

Every source, our own and OpenZeppelin's from `node_modules`, is put into the standard-JSON
input by this module, so no compiler needs an import callback or include paths.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.errors import CompilerError, ConfigurationError

__all__ = [
    "ARTIFACT_DIR",
    "CONTRACT_NAMES",
    "PROJECT_ROOT",
    "SOLC_VERSION",
    "Compiler",
    "compile_contracts",
    "find_compiler",
    "standard_json_input",
    "write_artifacts",
]

SOLC_VERSION = "0.8.30"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = PROJECT_ROOT / "contracts" / "src"
NODE_MODULES = PROJECT_ROOT / "node_modules"
ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"
SHIM = PROJECT_ROOT / "scripts" / "solc-shim"

#: The deployable contracts whose artifacts are committed.
CONTRACT_NAMES = ("ParticipantRegistry", "EvidenceLedger")

#: Compiler settings. `evmVersion` is pinned to cancun, which py-evm and anvil both run.
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "ipfs"},
    "outputSelection": {
        "*": {
            "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "devdoc", "userdoc"]
        }
    },
}

_IMPORT = re.compile(r'^\s*import\s+(?:[^"\']*?from\s+)?["\']([^"\']+)["\']\s*;', re.MULTILINE)


@dataclass(frozen=True)
class Compiler:
    """A `solc`-compatible executable and what kind it is (native, solcx or shim)."""

    path: Path
    kind: str
    version: str


def _version_of(executable: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(executable), "--version"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"Version:\s*(\d+\.\d+\.\d+)", out)
    return match.group(1) if match else None


def find_compiler() -> Compiler:
    """The pinned compiler: native `solc`, then py-solc-x's, then the solc-js shim."""
    native = shutil.which("solc")
    if native and _version_of(Path(native)) == SOLC_VERSION:
        return Compiler(Path(native), "native", SOLC_VERSION)
    try:
        import solcx

        for installed in solcx.get_installed_solc_versions():
            if str(installed) == SOLC_VERSION:
                path = Path(solcx.install.get_executable(installed))
                return Compiler(path, "solcx", SOLC_VERSION)
    except Exception:
        pass
    if shutil.which("node") is None:
        raise ConfigurationError("no solc found and `node` is not installed for the solc-js shim")
    shim_version = _version_of(SHIM)
    if shim_version is None:
        raise ConfigurationError(f"the solc-js shim failed; run `npm ci` in {PROJECT_ROOT}")
    if shim_version != SOLC_VERSION:
        raise ConfigurationError(
            f"npm package solc is {shim_version}, the project pins {SOLC_VERSION}; run `npm ci`"
        )
    return Compiler(SHIM, "solc-js shim", SOLC_VERSION)


def _resolve(unit: str, importer: str) -> str:
    """Source unit name of an import, solc's way: relative to the importer, else as written."""
    if unit.startswith("."):
        base = importer.rsplit("/", 1)[0]
        parts: list[str] = base.split("/")
        for piece in unit.split("/"):
            if piece == "..":
                parts.pop()
            elif piece != ".":
                parts.append(piece)
        return "/".join(parts)
    return unit


def _read_unit(unit: str) -> str:
    for root in (PROJECT_ROOT, NODE_MODULES):
        candidate = root / unit
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise ConfigurationError(f"cannot find Solidity source {unit!r}; run `npm ci`")


def standard_json_input() -> dict[str, Any]:
    """The compiler input: every source unit reachable from `contracts/src`, with its content."""
    pending = sorted(
        str(p.relative_to(PROJECT_ROOT)).replace("\\", "/") for p in SOURCE_DIR.rglob("*.sol")
    )
    sources: dict[str, dict[str, str]] = {}
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        content = _read_unit(unit)
        sources[unit] = {"content": content}
        pending.extend(_resolve(imp, unit) for imp in _IMPORT.findall(content))
    return {
        "language": "Solidity",
        "sources": dict(sorted(sources.items())),
        "settings": SETTINGS,
    }


def compile_contracts(compiler: Compiler | None = None) -> dict[str, dict[str, Any]]:
    """Compiles the contracts and returns one artifact per deployable contract."""
    import solcx

    compiler = compiler or find_compiler()
    compiler_input = standard_json_input()
    try:
        output = solcx.compile_standard(compiler_input, solc_binary=compiler.path)
    except solcx.exceptions.SolcError as exc:
        raise CompilerError(f"Solidity compilation failed: {exc}") from exc
    long_version = solcx.wrapper.get_version_str_from_solc_binary(compiler.path)
    input_hash = hashlib.sha256(
        json.dumps(compiler_input, sort_keys=True).encode("utf-8")
    ).hexdigest()
    artifacts: dict[str, dict[str, Any]] = {}
    for unit, contracts in output["contracts"].items():
        for name, compiled in contracts.items():
            if name not in CONTRACT_NAMES or not unit.startswith("contracts/"):
                continue
            artifacts[name] = {
                "contractName": name,
                "sourceUnit": unit,
                "abi": compiled["abi"],
                "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "compiler": {"version": long_version, "settings": SETTINGS},
                "standardJsonInputSha256": input_hash,
            }
    missing = set(CONTRACT_NAMES) - set(artifacts)
    if missing:
        raise CompilerError(f"compiler output lacks {sorted(missing)}")
    return artifacts


def write_artifacts(artifacts: dict[str, dict[str, Any]], directory: Path = ARTIFACT_DIR) -> None:
    """Writes artifacts as stable, diff-friendly JSON."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, artifact in artifacts.items():
        text = json.dumps(artifact, indent=2, sort_keys=True) + "\n"
        (directory / f"{name}.json").write_text(text, encoding="utf-8")
