"""`ledger serve`: the HTTP gateway.

The one place the `ledger` distribution reaches into `gateway`, lazily: the library itself never
imports the HTTP layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve(
    data_dir: Annotated[
        Path, typer.Option(envvar="LEDGER_DATA_DIR", help="chain state, database, keys")
    ] = Path("data"),
    chain: Annotated[
        str | None,
        typer.Option(envvar="LEDGER_CHAIN", help="JSON-RPC URL; default: embedded chain"),
    ] = None,
    db: Annotated[
        str | None, typer.Option(envvar="LEDGER_DB", help="SQLAlchemy URL (PostgreSQL...)")
    ] = None,
    host: Annotated[str, typer.Option(envvar="LEDGER_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="LEDGER_PORT")] = 8000,
    batch_interval: Annotated[
        float, typer.Option(envvar="LEDGER_BATCH_INTERVAL", help="seconds")
    ] = 1.0,
    batch_size: Annotated[int, typer.Option(envvar="LEDGER_BATCH_SIZE")] = 1_000,
    account_key: Annotated[
        Path | None,
        typer.Option(
            envvar="LEDGER_ACCOUNT_KEY_FILE",
            help="this gateway's chain account: hex private key file (mode 600) or V3 keystore"
            " (password in LEDGER_ACCOUNT_KEY_PASSWORD); needed on any node but the embedded one",
        ),
    ] = None,
    deployer_key: Annotated[
        Path | None,
        typer.Option(
            envvar="LEDGER_DEPLOYER_KEY_FILE",
            help="first start on a node: the funded account that deploys the contracts and"
            " becomes the regulator",
        ),
    ] = None,
    claim_lease: Annotated[
        float,
        typer.Option(
            envvar="LEDGER_CLAIM_LEASE",
            help="seconds before another gateway on the database takes over this one's claimed"
            " records",
        ),
    ] = 120.0,
) -> None:
    """Run the gateway (embedded eth-tester chain and SQLite in the data dir unless told otherwise)."""
    import uvicorn

    from gateway.app import configure_logging, create_app, open_gateway
    from gateway.settings import GatewaySettings
    from ledger.errors import LedgerError
    from ledger.trust import TRUST_ROOT_FILE

    settings = GatewaySettings(
        data_dir=data_dir,
        chain=chain,
        db=db,
        host=host,
        port=port,
        batch_interval=batch_interval,
        batch_size=batch_size,
        account_key_file=account_key,
        deployer_key_file=deployer_key,
        claim_lease=claim_lease,
    )
    configure_logging()
    try:
        gateway = open_gateway(settings)
    except LedgerError as exc:  # a configuration the operator must fix: say it, no traceback
        typer.secho(f"ledger serve: {exc.message} [{exc.code}]", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    try:
        if gateway.regulator_api_key:
            typer.secho(
                f"Regulator API key (shown once, store it now): {gateway.regulator_api_key}",
                fg=typer.colors.YELLOW,
                err=True,
            )
        service = gateway.service
        typer.echo(
            f"gateway {service.gateway_id} on chain {service.deployment.chain_id}: registry {service.deployment.registry},"
            f" ledger {service.deployment.ledger}; http://{host}:{port}/docs",
            err=True,
        )
        typer.echo(
            f"trust root for auditors: {data_dir / TRUST_ROOT_FILE} (also GET /v1/deployment)",
            err=True,
        )
        uvicorn.run(create_app(gateway), host=host, port=port, log_level="warning")
    finally:
        gateway.close()
