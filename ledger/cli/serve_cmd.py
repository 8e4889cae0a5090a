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
) -> None:
    """Run the gateway (embedded eth-tester chain and SQLite in the data dir unless told otherwise)."""
    import uvicorn

    from gateway.app import configure_logging, create_app, open_gateway
    from gateway.settings import GatewaySettings
    from ledger.trust import TRUST_ROOT_FILE

    settings = GatewaySettings(
        data_dir=data_dir,
        chain=chain,
        db=db,
        host=host,
        port=port,
        batch_interval=batch_interval,
        batch_size=batch_size,
    )
    configure_logging()
    gateway = open_gateway(settings)
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
