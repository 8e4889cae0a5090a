"""Bootstrap: what a gateway needs before it serves — the master key, the deployment (deployed on
first start if the database knows none for the chain), the regulator participant and its API key,
this gateway's own identity registered on chain, the derivation key (the seeds of v2 fee
forms' salted leaves derive from it), and the trust root
written for auditors.

Accounts: on a node the gateway does not run itself, the deployer and the gateway's account come
from key files (`ServiceConfig.deployer`, `ServiceConfig.account`) and must hold ether already;
only an in-process dev chain (embedded, eth-tester) funds new accounts from its genesis accounts.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from ledger.access import Access
from ledger.anchoring import EvidenceChain
from ledger.chain.client import ChainClient
from ledger.chain.deploy import Deployment, deploy_contracts, load_deployment
from ledger.enums import InstitutionType, ParticipantStatus, Role
from ledger.errors import ChainIdMismatch, ConfigurationError, LedgerError
from ledger.keystore import load_master_key, seal, unseal
from ledger.service.config import ServiceConfig
from ledger.service.custody import Custody, GatewayIdentity
from ledger.store import Database, MetaRow, ParticipantRow
from ledger.timestamps import GatewayKey

__all__ = ["Bootstrap", "bootstrap"]

REGULATOR_ID = 1
_DEV_FUNDING_WEI = 10**22  # in-process dev chains only: gas money from their genesis accounts


@dataclass(frozen=True)
class Bootstrap:
    master_key: bytes
    deployment: Deployment
    identity: GatewayIdentity
    #: a gateway secret (sealed in meta, shared by the gateways of one database) that v2 fee
    #: forms' seeds derive from (`ledger.disclosure_proofs.derive_seed`); kept under the meta
    #: name `commitment_key` it had when borrower commitments used it
    derivation_key: bytes
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


def _in_process(client: ChainClient) -> bool:
    """A simulated chain in this process (embedded, eth-tester): its genesis accounts are ours to
    spend. On any other node nothing is funded implicitly."""
    return client.transactions.in_process


def _deployment_key(chain_id: int) -> str:
    return f"deployment:{chain_id}"


def _identity_key(chain_id: int, address: str | None) -> str:
    return f"gateway:{chain_id}" if address is None else f"gateway:{chain_id}:{address.lower()}"


def bootstrap(db: Database, client: ChainClient, config: ServiceConfig) -> Bootstrap:
    """Opens (or, the first time, sets up) the gateway of `config.data_dir` on `client`'s chain.

    Several gateways may share one database: the deployment, the regulator and the derivation
    key are set up once (under a database-wide lock) and found by the others; each gateway has
    its own chain account (`config.account`) and Ed25519 key. They must share the master key."""
    master = load_master_key(config.data_dir)
    custody = Custody(db, master)
    with db.exclusive("bootstrap"):
        deployment, regulator_key = _open_deployment(db, client, config, custody)
        _check_master_key(custody)
        identity = _open_identity(db, client, config, deployment, custody)
        raw = db.get_meta("commitment_key")
        if raw is None:
            derivation_key = secrets.token_bytes(32)
            db.set_meta("commitment_key", seal(master, derivation_key, b"commitment-key").hex())
        else:
            derivation_key = unseal(master, bytes.fromhex(raw), b"commitment-key")
    deployment.save(config.data_dir / "deployments")
    return Bootstrap(master, deployment, identity, derivation_key, regulator_key)


def _check_master_key(custody: Custody) -> None:
    try:
        custody.account(REGULATOR_ID, "the gateway opens")
    except LedgerError as exc:
        if exc.code != "SEAL_INVALID":
            raise
        raise ConfigurationError(
            "this database was set up with another master key: every gateway on one database"
            " needs the same LEDGER_MASTER_KEY (or master.key)"
        ) from exc


def _open_deployment(
    db: Database, client: ChainClient, config: ServiceConfig, custody: Custody
) -> tuple[Deployment, str | None]:
    """The deployment this database knows for the chain (or the data dir's, from before it was
    kept in the database); deployed now if there is none, with the regulator's API key."""
    chain_id = client.chain_id
    stored = db.get_meta(_deployment_key(chain_id))
    if stored is not None:
        return Deployment(**json.loads(stored)), None
    deployment = load_deployment(config.data_dir / "deployments", chain_id)
    if deployment is not None:
        db.set_meta(_deployment_key(chain_id), json.dumps(asdict(deployment), sort_keys=True))
        return deployment, None
    _refuse_other_chain(db, config, chain_id)
    deployer = config.deployer
    if deployer is None:
        if not _in_process(client):
            raise ConfigurationError(
                f"no deployment is known for chain {chain_id}: pass --deployer-key FILE (a funded"
                " account; it deploys the contracts and becomes the regulator)"
            )
        deployer = Account.create()
        client.fund(deployer.address, _DEV_FUNDING_WEI)
    _require_gas(client, deployer.address, "the deployer")
    deployment = deploy_contracts(client, deployer)
    with db.session() as s:
        s.merge(
            _participant(
                REGULATOR_ID,
                Role.REGULATOR,
                "Regulator",
                deployer.address,
                custody.seal_key(REGULATOR_ID, bytes(deployer.key)),
                deployment.deployed_at,
            )
        )
    db.set_meta(_deployment_key(chain_id), json.dumps(asdict(deployment), sort_keys=True))
    return deployment, Access(db).issue_key(REGULATOR_ID, Role.REGULATOR)


def _refuse_other_chain(db: Database, config: ServiceConfig, chain_id: int) -> None:
    """`ChainIdMismatch` if this database (or data dir) holds the deployment of another chain:
    the node is not this ledger's chain, and a new deployment on it would split the ledger in
    two (a key for the wrong node's URL must not deploy anew)."""
    with db.session() as s:
        keys = s.execute(select(MetaRow.key).where(MetaRow.key.like("deployment:%"))).scalars()
        known = {int(k.split(":", 1)[1]) for k in keys if k.split(":", 1)[1].isdigit()}
    folder = config.data_dir / "deployments"
    if folder.is_dir():
        known |= {int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()}
    known.discard(chain_id)
    if known:
        raise ChainIdMismatch(
            f"the node answers chain id {chain_id}, but this gateway's deployment is on chain"
            f" {', '.join(str(c) for c in sorted(known))}: refusing to use (or deploy on) another"
            " chain; point --chain at a node of the deployment's chain"
        )


def _require_gas(client: ChainClient, address: str, who: str) -> None:
    if int(client.w3.eth.get_balance(address)) == 0:  # type: ignore[arg-type]
        raise ConfigurationError(
            f"{who}'s account {address} has no ether for gas on chain {client.chain_id}: fund it"
            " (on a dev node: `ledger chain fund ADDRESS --chain URL`)"
        )


def _open_identity(
    db: Database,
    client: ChainClient,
    config: ServiceConfig,
    deployment: Deployment,
    custody: Custody,
) -> GatewayIdentity:
    """This gateway's identity: by its configured account, else the one this database keeps
    for the chain; registered on chain by the regulator the first time."""
    master = custody.master_key
    account = config.account
    key = _identity_key(deployment.chain_id, account.address if account else None)
    stored = db.get_meta(key)
    if stored is not None:
        identity = GatewayIdentity.unsealed(master, stored)
        if account is not None and identity.account.address != account.address:
            raise ConfigurationError(f"{key} holds another account than the configured one")
        if not _in_process(client):
            _require_gas(client, identity.account.address, "this gateway")
        return identity
    if account is None:
        if not _in_process(client):
            raise ConfigurationError(
                "this gateway has no chain account on chain"
                f" {deployment.chain_id}: pass --account-key FILE (a funded account)"
            )
        account = Account.create()
        client.fund(account.address, _DEV_FUNDING_WEI)
    else:
        _require_gas(client, account.address, "this gateway")
    identity = _register_gateway(db, client, deployment, custody, account)
    db.set_meta(key, identity.sealed(master))
    return identity


def _register_gateway(
    db: Database,
    client: ChainClient,
    deployment: Deployment,
    custody: Custody,
    account: LocalAccount,
) -> GatewayIdentity:
    """A new Ed25519 key for this gateway's account, registered by the regulator."""
    key = GatewayKey.generate()
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
