"""`ledger commitment check`: does an identity open a record's borrower commitment?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from ledger import safejson
from ledger.commitments import Opening, check_opening
from ledger.errors import InputError, LedgerError, VerificationError

commitment_app = typer.Typer(
    help="Borrower commitments: check that an identity, key and salt open one.",
    no_args_is_help=True,
)


def _fail(code: str, message: str, status: int) -> typer.Exit:
    typer.echo(json.dumps({"error": {"code": code, "message": message}}), err=True)
    return typer.Exit(status)


def _commitment_of(given: str) -> str:
    """A 0x-hex commitment, or the one in a receipt file."""
    if given.startswith("0x"):
        return given
    try:
        receipt = safejson.loads(Path(given).read_text(encoding="utf-8"))
        return str(receipt["record"]["borrower_commitment"])
    except (OSError, InputError, KeyError, TypeError) as exc:
        raise _fail("INVALID_INPUT", f"{given}: not a commitment nor a receipt ({exc})", 2) from exc


@commitment_app.command("check")
def check(
    commitment: Annotated[
        str, typer.Argument(help="the commitment (0x + 64 hex) or a receipt JSON file")
    ],
    id_number: Annotated[str, typer.Option(help="the borrower's ID number")],
    key: Annotated[str, typer.Option(help="the record's HMAC key (0x hex), from the vault")],
    salt: Annotated[str, typer.Option(help="the record's salt (0x hex), from the vault")],
    id_type: Annotated[str, typer.Option(help="the kind of ID")] = "resident-id",
) -> None:
    """Exit 0 if the identity, key and salt open the commitment; 1 if they do not; 2 for bad
    input. The key and salt are those `GET /v1/loans/{id}/borrower-opening` returns."""
    target = _commitment_of(commitment)
    try:
        opening = Opening(id_type=id_type, id_number=id_number, key=key, salt=salt)
        check_opening(target, opening)
    except ValidationError as exc:
        raise _fail("INVALID_INPUT", str(exc), 2) from exc
    except VerificationError as exc:
        raise _fail(exc.code, exc.message, 1) from exc
    except (LedgerError, ValueError) as exc:
        raise _fail(getattr(exc, "code", "INVALID_INPUT"), str(exc), 2) from exc
    typer.echo(json.dumps({"opens": True, "commitment": target.lower()}))
