"""`ledger deploy`, `ledger compile` and the dev-node helpers under `ledger chain`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from eth_account import Account
from web3 import Web3

from ledger.chain import devnode
from ledger.chain.client import ChainClient
from ledger.chain.compiler import ARTIFACT_DIR, compile_contracts, find_compiler, write_artifacts
from ledger.chain.deploy import deploy_contracts
from ledger.errors import LedgerError
from ledger.trust import TrustRoot


def deploy(
    rpc: Annotated[str, typer.Option(help="JSON-RPC URL of the node", envvar="LEDGER_RPC_URL")],
    out: Annotated[Path, typer.Option(help="directory of per-chain deployment records")] = Path(
        "deployments"
    ),
    dev_fund: Annotated[
        bool,
        typer.Option(
            help="dev nodes (anvil...): use a fresh key funded by the node's unlocked account"
        ),
    ] = False,
) -> None:
    """Deploy the registry and the ledger to a node; the regulator key comes from LEDGER_REGULATOR_KEY."""
    client = ChainClient(Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 60})))
    try:
        if dev_fund:
            regulator = client.new_funded_account()
            typer.echo(f"dev regulator key (throwaway): {regulator.key.hex()}", err=True)
        else:
            key = os.environ.get("LEDGER_REGULATOR_KEY")
            if not key:
                typer.echo(
                    "set LEDGER_REGULATOR_KEY (hex private key) or pass --dev-fund", err=True
                )
                raise typer.Exit(2)
            regulator = Account.from_key(key)
        deployment = deploy_contracts(client, regulator)
    except LedgerError as exc:
        typer.echo(f"deployment failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    path = deployment.save(out)
    trust = TrustRoot.of_deployment(client, deployment).save(
        out / f"{deployment.chain_id}.trust-root.json"
    )
    typer.echo(
        json.dumps({**deployment.__dict__, "record": str(path), "trust_root": str(trust)}, indent=2)
    )
    typer.echo(f"publish {trust}: auditors verify receipts with `ledger verify --trust`", err=True)


def compile_(
    check: Annotated[bool, typer.Option(help="fail if the committed artifacts differ")] = False,
) -> None:
    """Compile contracts/src with the pinned solc (native, py-solc-x or the solc-js shim)."""
    compiler = find_compiler()
    artifacts = compile_contracts(compiler)
    if check:
        stale = [
            name
            for name, artifact in artifacts.items()
            if json.loads((ARTIFACT_DIR / f"{name}.json").read_text())
            != json.loads(json.dumps(artifact))
        ]
        if stale:
            typer.echo(f"artifacts differ from a fresh compile: {', '.join(stale)}", err=True)
            raise typer.Exit(1)
        typer.echo(f"artifacts match a fresh compile ({compiler.kind} {compiler.version})")
        return
    write_artifacts(artifacts)
    typer.echo(
        f"wrote {', '.join(sorted(artifacts))} to {ARTIFACT_DIR} ({compiler.kind} {compiler.version})"
    )


chain_app = typer.Typer(
    help="Dev-node helpers (anvil, hardhat, geth --dev): not for production nodes.",
    no_args_is_help=True,
)


@chain_app.command("fund")
def fund(
    address: Annotated[str, typer.Argument(help="the account to fund (0x...)")],
    chain: Annotated[
        str, typer.Option(help="JSON-RPC URL of the dev node", envvar="LEDGER_RPC_URL")
    ],
    wei: Annotated[
        int, typer.Option(min=1, help="how much to send, in wei")
    ] = devnode.DEFAULT_FUNDING_WEI,
) -> None:
    """Dev nodes only: send gas money to ADDRESS from the node's first unlocked account
    (eth_accounts[0], signed by the node). A production node has no such account: fund a
    gateway's or deployer's account (from its key file, `--account-key`) by an ordinary transfer."""
    if not Web3.is_address(address):
        typer.echo(f"not an address: {address}", err=True)
        raise typer.Exit(2)
    w3 = Web3(Web3.HTTPProvider(chain, request_kwargs={"timeout": 60}))
    try:
        tx_hash = devnode.fund(w3, address, wei)
        balance = int(w3.eth.get_balance(Web3.to_checksum_address(address)))
    except LedgerError as exc:
        typer.echo(f"funding failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    except Exception as exc:  # the node is unreachable or refused the transfer
        typer.echo(f"funding failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps({"address": address, "sent_wei": wei, "tx": tx_hash, "balance": balance}))
