"""`ledger verify`: check a receipt against its document and a chain node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledger import safejson
from ledger.errors import InputError, LedgerError, VerificationError
from ledger.verify import connect, verify_receipt

_STYLE = {"pass": "green", "fail": "bold red", "skip": "dim"}


def verify(
    receipt: Annotated[Path, typer.Option("--receipt", "-r", help="the receipt JSON file")],
    document: Annotated[Path | None, typer.Option(help="the original agreement document")] = None,
    digest: Annotated[str | None, typer.Option(help="or the document's SHA-256 (hex)")] = None,
    rpc: Annotated[
        str,
        typer.Option(help="JSON-RPC URL of a node of the receipt's chain", envvar="LEDGER_RPC_URL"),
    ] = "http://127.0.0.1:8545",
    as_json: Annotated[bool, typer.Option("--json", help="print every check as JSON")] = False,
) -> None:
    """Verify a receipt link by link; exit 1 naming the first failed check."""
    try:
        data = safejson.loads(receipt.read_bytes())
    except (OSError, InputError) as exc:
        typer.echo(f"cannot read receipt: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        client = connect(rpc)
        report = verify_receipt(
            data, client, document=document, document_sha256=digest, raise_on_failure=False
        )
    except VerificationError as exc:
        typer.echo(
            json.dumps({"ok": False, "check": exc.check, "code": exc.code, "message": exc.message})
        )
        raise typer.Exit(1) from exc
    except (LedgerError, OSError, ConnectionError) as exc:
        typer.echo(f"cannot verify: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        table = Table(title=f"receipt {report.record_id}")
        for column in ("check", "result", "detail"):
            table.add_column(column)
        for check in report.checks:
            table.add_row(check.name, f"[{_STYLE[check.status]}]{check.status}", check.detail)
        Console().print(table)
    failure = report.first_failure
    if failure is not None:
        if not as_json:
            typer.echo(f"FAILED: {failure.name}: {failure.detail}", err=True)
        raise typer.Exit(1)
