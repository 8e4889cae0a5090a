"""The trust root: the one deployment an auditor trusts, held by the auditor, never read from a
receipt.

Anyone can deploy a second copy of our contracts on the same chain, register look-alike
participants with the same ids and names, and anchor forged loans there; every signature, proof
and anchor of such a receipt is genuine *for that copy*. What tells the copy from the real
ledger is only which contracts the verifier trusts. A trust root pins them: chain id, genesis
block hash (a different network reusing the chain id is caught), registry and ledger addresses,
deployment block, and the regulator's address. `ledger deploy` and `ledger serve` write it,
`GET /v1/deployment` serves it, and verification refuses a receipt naming anything else
(check `deployment`).

A simple trust root (`TrustRoot.pinned_ledger`) pins only the chain id and the ledger address; the
registry is then the one the pinned ledger itself points to, and the genesis hash is not checked.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from eth_utils.address import to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ledger.chain.client import ChainClient
from ledger.chain.deploy import Deployment
from ledger.eip712 import Domain
from ledger.errors import InputError
from ledger.records import Bytes32Hex

__all__ = ["TRUST_ROOT_FILE", "TRUST_ROOT_FORMAT", "TrustRoot", "load_trust_root"]

TRUST_ROOT_FORMAT = "loan-evidence-trust-root/v1"
TRUST_ROOT_FILE = "trust-root.json"

Address = str


class TrustRoot(BaseModel):
    """What a verifier trusts; see the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["loan-evidence-trust-root/v1"] = "loan-evidence-trust-root/v1"
    chain_id: int = Field(ge=1, lt=2**64)
    genesis_hash: Bytes32Hex | None = Field(
        default=None, description="hash of block 0; None: not pinned (simple trust root)"
    )
    registry: Address | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="None: whichever registry the pinned ledger names",
    )
    ledger: Address = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    deployment_block: int = Field(default=0, ge=0, description="where to start reading events")
    regulator: Address | None = Field(
        default=None, pattern=r"^0x[0-9a-fA-F]{40}$", description="holder of REGULATOR_ROLE"
    )

    @field_validator("registry", "ledger", "regulator")
    @classmethod
    def _checksummed(cls, value: str | None) -> str | None:
        return None if value is None else to_checksum_address(value)

    @property
    def is_full(self) -> bool:
        """Whether everything is pinned (genesis, both contracts, regulator)."""
        return None not in (self.genesis_hash, self.registry, self.regulator)

    @cached_property
    def domain(self) -> Domain:
        """The EIP-712 domain records of this deployment are signed under."""
        return Domain(self.chain_id, self.ledger)

    @classmethod
    def pinned_ledger(cls, chain_id: int, ledger: str) -> TrustRoot:
        """The simple case: `ledger verify --chain-id N --ledger ADDR`."""
        return cls(chain_id=chain_id, ledger=ledger)

    @classmethod
    def of_deployment(cls, client: ChainClient, deployment: Deployment) -> TrustRoot:
        """The full trust root of a deployment, with the genesis hash read from the node."""
        genesis = client.w3.eth.get_block(0)
        return cls(
            chain_id=deployment.chain_id,
            genesis_hash="0x" + bytes(genesis["hash"]).hex(),
            registry=deployment.registry,
            ledger=deployment.ledger,
            deployment_block=deployment.block_number,
            regulator=deployment.deployer,
        )

    def eip712_domain(self) -> dict[str, Any]:
        return self.domain.as_dict()

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
        return path


def load_trust_root(path: Path) -> TrustRoot:
    """Reads a trust-root file; `InputError` (code `TRUST_ROOT_INVALID`) if it is not one."""
    from ledger import safejson

    try:
        data = safejson.loads(path.read_bytes())
        return TrustRoot.model_validate(data)
    except (OSError, ValueError, InputError) as exc:
        raise InputError(f"{path} is not a trust root: {exc}", code="TRUST_ROOT_INVALID") from exc
