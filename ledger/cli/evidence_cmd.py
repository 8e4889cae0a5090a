"""`ledger evidence export RECORD_ID`: fetch a record's evidence package from a gateway.

The package is built by the gateway that holds the record, its document and its keys
(`GET /v1/loans/{record_id}/evidence`); the CLI asks for it with your API key and writes the
ZIP. Verify it anywhere with `ledger verify PACKAGE.zip --chain URL`.

Exit codes: 0 written; 1 the gateway refused (the error's stable code is printed: e.g.
ROLE_FORBIDDEN, RECORD_NOT_FOUND, NOT_ANCHORED); 2 bad input or the gateway is unreachable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import httpx
import typer

from ledger.errors import VerificationError
from ledger.evidence.package import read_package

__all__ = ["evidence_app"]

evidence_app = typer.Typer(
    help="Court-ready evidence packages (a ZIP per anchored record, see docs/evidence.md).",
    no_args_is_help=True,
)


@evidence_app.command("export")
def export(
    record_id: Annotated[str, typer.Argument(help="the record id (0x + 64 hex digits)")],
    gateway: Annotated[
        str, typer.Option(help="the gateway's base URL", envvar="LEDGER_GATEWAY_URL")
    ] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str | None,
        typer.Option(
            help="your API key (regulator, or a party of the loan)", envvar="LEDGER_API_KEY"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="where to write it (default: evidence-<id>.zip)"),
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the gateway")] = 120.0,
) -> None:
    """Fetch a record's evidence package from a gateway (GET /v1/loans/{id}/evidence).

    The gateway builds it (it holds the document and signs the manifest); check it anywhere
    with `ledger verify PACKAGE.zip --chain URL [--trust FILE]`. Exit 1: refused (stable code
    printed); 2: bad input or gateway unreachable.
    """
    if not re.fullmatch(r"0x[0-9a-fA-F]{64}", record_id):
        raise typer.BadParameter("a record id is 0x and 64 hex digits", param_hint="RECORD_ID")
    if not api_key:
        raise typer.BadParameter("give --api-key (or LEDGER_API_KEY)", param_hint="--api-key")
    url = f"{gateway.rstrip('/')}/v1/loans/{record_id.lower()}/evidence"
    try:
        response = httpx.get(url, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout)
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach the gateway at {gateway}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if response.status_code != 200:
        try:
            error = response.json()["error"]
            typer.echo(
                f"refused ({response.status_code}): {error['code']}: {error['message']}", err=True
            )
        except Exception:
            typer.echo(f"refused ({response.status_code}): {response.text[:500]}", err=True)
        raise typer.Exit(1)
    try:
        package = read_package(response.content)
    except VerificationError as exc:
        typer.echo(f"the gateway sent something that is not a package: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    target = out or Path(f"evidence-{record_id.lower()[2:18]}.zip")
    target.write_bytes(response.content)
    seconds = response.headers.get("X-Export-Seconds", "?")
    typer.echo(
        f"wrote {target} ({len(response.content):,} bytes, {len(package.manifest.members)}"
        f" members, document {package.manifest.document.status}; built in {seconds} s)"
    )
    typer.echo(f"verify it: ledger verify {target} --chain URL [--trust trust-root.json]")
