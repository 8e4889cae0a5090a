"""Deploying the contracts, with genesis rate policy, and recording addresses per chain id."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger.chain.client import ChainClient
from ledger.enums import InstitutionType, Role

__all__ = [
    "Deployment",
    "GenesisPolicy",
    "deploy_contracts",
    "load_deployment",
]


def _default_caps() -> dict[InstitutionType, int]:
    # domain.md R3: 24% per loan for every funder type today (small-loan companies move towards
    # 4 x LPR by end-2027; the regulator lowers that cap on chain with an effective date).
    return {t: 2400 for t in InstitutionType if t is not InstitutionType.NONE}


@dataclass(frozen=True)
class GenesisPolicy:
    """Rate policy set at deployment; all of it can be changed later by the regulator on chain."""

    rate_caps_bps: dict[InstitutionType, int] = field(default_factory=_default_caps)
    lpr_bps: int = 300  # 1-year LPR 3.00% since May 2025
    co_funding_floor_bps: int = 3000  # 2021 internet-loan notice: partner share >= 30%
    # NFRA 金规〔2025〕9号 took effect 2025-10-01 (Beijing time): loans issued from then on cannot
    # be anchored as legacy stock above the cap.
    legacy_cutoff: int = int(datetime(2025, 9, 30, 16, 0, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Deployment:
    """Where the contracts live on one chain."""

    chain_id: int
    registry: str
    ledger: str
    block_number: int
    deployer: str
    deployed_at: int

    def save(self, directory: Path) -> Path:
        """Writes `<directory>/<chain_id>.json`."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.chain_id}.json"
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path


def load_deployment(directory: Path, chain_id: int) -> Deployment | None:
    """The deployment recorded for `chain_id`, if any."""
    path = directory / f"{chain_id}.json"
    if not path.is_file():
        return None
    return Deployment(**json.loads(path.read_text(encoding="utf-8")))


def deploy_contracts(
    client: ChainClient,
    regulator: LocalAccount,
    policy: GenesisPolicy | None = None,
    *,
    register_regulator: bool = True,
) -> Deployment:
    """Deploys the registry and the ledger, sets the genesis policy and registers the regulator.

    `regulator` pays for and administers the deployment (it gets `REGULATOR_ROLE`); when
    `register_regulator` is set it is also registered as the regulator participant, whose
    signature can revoke or amend any record.
    """
    policy = policy or GenesisPolicy()
    registry_address, receipt = client.deploy(
        regulator,
        "ParticipantRegistry",
        regulator.address,
        policy.co_funding_floor_bps,
        policy.legacy_cutoff,
    )
    ledger_address, _ = client.deploy(regulator, "EvidenceLedger", registry_address)
    registry = client.contract("ParticipantRegistry", registry_address)
    for institution, cap in sorted(policy.rate_caps_bps.items()):
        client.transact(regulator, registry.functions.setRateCap(int(institution), cap, 0))
    client.transact(regulator, registry.functions.setLpr(policy.lpr_bps, 0))
    if register_regulator:
        client.transact(
            regulator,
            registry.functions.registerParticipant(
                int(Role.REGULATOR),
                int(InstitutionType.NONE),
                regulator.address,
                b"\0" * 32,
                "Regulator",
            ),
        )
    return Deployment(
        chain_id=client.chain_id,
        registry=Web3.to_checksum_address(registry_address),
        ledger=Web3.to_checksum_address(ledger_address),
        block_number=int(receipt["blockNumber"]),
        deployer=regulator.address,
        deployed_at=client.latest_timestamp(),
    )
