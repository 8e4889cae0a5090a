"""Bootstrap: what a gateway needs before it serves — the master key, the deployment (deployed on
first start if the chain has none recorded in the data dir), the regulator participant and its
API key, this gateway's own identity registered on chain, the borrower-commitment key, and the
trust root written for auditors.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.access import Access
from ledger.anchoring import EvidenceChain
from ledger.chain.client import ChainClient
from ledger.chain.deploy import Deployment, deploy_contracts, load_deployment
from ledger.enums import InstitutionType, ParticipantStatus, Role
from ledger.keystore import load_master_key, seal, unseal
from ledger.service.config import ServiceConfig
from ledger.service.custody import Custody, GatewayIdentity
from ledger.signing import LocalSigner
from ledger.store import Database, ParticipantRow
from ledger.timestamps import GatewayKey

__all__ = ["Bootstrap", "bootstrap"]

REGULATOR_ID = 1
_DEV_FUNDING_WEI = 10**22  # dev nodes (eth-tester, anvil): gas money from the node's account


@dataclass(frozen=True)
class Bootstrap:
    master_key: bytes
    deployment: Deployment
    identity: GatewayIdentity
    commitment_key: bytes
    regulator_api_key: str | None  # shown once, on first start


def _participant(
    pid: int, role: Role, name: str, address: str, sealed: bytes | None, at: int
) -> ParticipantRow:
    return ParticipantRow(
        id=pid,
        role=role.label,
        institution_type=InstitutionType.NONE.label,
        name=name,
        signer_address=address,
        status=ParticipantStatus.ACTIVE.label,
        custodial=True,
        encrypted_key=sealed,
        registered_at=at,
    )


def bootstrap(db: Database, client: ChainClient, config: ServiceConfig) -> Bootstrap:
    """Opens (or, the first time, sets up) the gateway of `config.data_dir` on `client`'s chain."""
    master = load_master_key(config.data_dir)
    custody = Custody(db, master)
    regulator_key: str | None = None
    deployments = config.data_dir / "deployments"
    deployment = load_deployment(deployments, client.chain_id)
    if deployment is None:
        regulator = LocalSigner.generate()
        client.fund(regulator.address, _DEV_FUNDING_WEI)
        deployment = deploy_contracts(client, Account.from_key(regulator.private_key))
        deployment.save(deployments)
        with db.session() as s:
            s.merge(
                _participant(
                    REGULATOR_ID,
                    Role.REGULATOR,
                    "Regulator",
                    regulator.address,
                    custody.seal_key(REGULATOR_ID, regulator.private_key),
                    deployment.deployed_at,
                )
            )
        regulator_key = Access(db).issue_key(REGULATOR_ID, Role.REGULATOR)
    meta_key = f"gateway:{deployment.chain_id}"
    stored = db.get_meta(meta_key)
    if stored is None:
        identity = _register_gateway(db, client, deployment, custody)
        db.set_meta(meta_key, identity.sealed(master))
    else:
        identity = GatewayIdentity.unsealed(master, stored)
    raw = db.get_meta("commitment_key")
    if raw is None:
        commitment_key = secrets.token_bytes(32)
        db.set_meta("commitment_key", seal(master, commitment_key, b"commitment-key").hex())
    else:
        commitment_key = unseal(master, bytes.fromhex(raw), b"commitment-key")
    return Bootstrap(master, deployment, identity, commitment_key, regulator_key)


def _register_gateway(
    db: Database, client: ChainClient, deployment: Deployment, custody: Custody
) -> GatewayIdentity:
    """A new chain account and Ed25519 key for this gateway, registered by the regulator."""
    account: LocalAccount = Account.create()
    key = GatewayKey.generate()
    client.fund(account.address, _DEV_FUNDING_WEI)
    regulator = custody.account(REGULATOR_ID, "the regulator registers the gateway")
    gateway_id = EvidenceChain(client, deployment).register_participant(
        regulator, Role.GATEWAY, account.address, "Gateway", ed25519_public_key=key.public_key
    )
    with db.session() as s:
        s.merge(
            _participant(
                gateway_id,
                Role.GATEWAY,
                "Gateway",
                account.address,
                None,
                client.latest_timestamp(),
            )
        )
    return GatewayIdentity(gateway_id, account, key)
