"""`ledger apr FILE`: annual percentage rate of dated cash flows (Regulation Z Appendix J)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ledger import safejson
from ledger.apr import apr_from_json
from ledger.errors import InputError, LedgerError


def apr(
    file: Annotated[
        Path,
        typer.Argument(
            help='JSON: {"advances": [{"date": "YYYY-MM-DD", "amount": "5000.00"}], "payments": [...],'
            ' "unit_period": "1M"|"2M"|"3M"|"SM"|"1W"|"2W"|"4W"|"<n>D" (optional)}; "-" for stdin',
        ),
    ],
) -> None:
    """Compute the nominal and effective APR (actuarial method) of dated advances and payments."""
    try:
        text = (
            typer.get_text_stream("stdin").read()
            if str(file) == "-"
            else file.read_text(encoding="utf-8")
        )
        data = safejson.loads(text)
    except (OSError, InputError) as exc:
        typer.echo(json.dumps({"error": {"code": "INVALID_INPUT", "message": str(exc)}}), err=True)
        raise typer.Exit(2) from exc
    try:
        result = apr_from_json(data)
    except LedgerError as exc:
        typer.echo(json.dumps({"error": {"code": exc.code, "message": exc.message}}), err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(result, indent=2))
