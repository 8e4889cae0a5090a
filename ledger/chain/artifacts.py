"""The committed contract artifacts, and decoding of the contracts' custom errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from ledger.chain.compiler import ARTIFACT_DIR, CONTRACT_NAMES

__all__ = ["DecodedError", "decode_custom_error", "error_selectors", "load_artifact"]


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """ABI, bytecode and compiler facts of a deployable contract, as committed."""
    path = ARTIFACT_DIR / f"{name}.json"
    artifact: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return artifact


def _signature(item: dict[str, Any]) -> str:
    def type_of(param: dict[str, Any]) -> str:
        kind: str = param["type"]
        if kind.startswith("tuple"):
            inner = ",".join(type_of(c) for c in param["components"])
            return f"({inner}){kind[5:]}"
        return kind

    return f"{item['name']}({','.join(type_of(p) for p in item['inputs'])})"


@dataclass(frozen=True)
class DecodedError:
    """A custom error decoded from revert data: its name and arguments in ABI order."""

    name: str
    args: tuple[Any, ...]
    data: bytes


@cache
def error_selectors() -> dict[bytes, tuple[str, tuple[str, ...]]]:
    """selector -> (error name, ABI types) for every custom error of the deployable contracts."""
    table: dict[bytes, tuple[str, tuple[str, ...]]] = {}
    for contract in CONTRACT_NAMES:
        for item in load_artifact(contract)["abi"]:
            if item["type"] != "error":
                continue
            signature = _signature(item)
            types = (
                tuple(signature[len(item["name"]) + 1 : -1].split(",")) if item["inputs"] else ()
            )
            table[keccak(text=signature)[:4]] = (item["name"], types)
    return table


def decode_custom_error(data: bytes | str) -> DecodedError | None:
    """Decodes revert data of one of our custom errors; None for anything else."""
    raw = (
        bytes.fromhex(data[2:] if data.startswith("0x") else data)
        if isinstance(data, str)
        else data
    )
    if len(raw) < 4:
        return None
    entry = error_selectors().get(raw[:4])
    if entry is None:
        return None
    name, types = entry
    args = tuple(abi_decode(list(types), raw[4:])) if types else ()
    return DecodedError(name, args, raw)
