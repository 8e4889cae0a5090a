"""`ledger disclosure verify FILE`: check a selective disclosure of a fee form (some fields, with
the OpenZeppelin multiproof tying them to the form's disclosure digest), alone or with the loan's
receipt against a chain node.

Exit codes: 0 verified; 1 the disclosure (or, with a receipt, a check of it) failed; 2 bad
input or no node; 3 verified with a receipt but without a trust root (see `ledger verify`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger import safejson
from ledger.cli.verify_cmd import _trust, connect_or_exit
from ledger.disclosure_proofs import Disclosure, verify_disclosure
from ledger.errors import InputError, LedgerError, VerificationError
from ledger.verify import verify_receipt

__all__ = ["disclosure_app"]

disclosure_app = typer.Typer(
    help="Selective disclosure of fee disclosure forms (fee-disclosure/v2).",
    no_args_is_help=True,
)


def _load(path: Path, what: str) -> Any:
    try:
        return safejson.loads(path.read_bytes())
    except (OSError, InputError) as exc:
        typer.echo(f"cannot read {what}: {exc}", err=True)
        raise typer.Exit(2) from exc


def _print(ok: bool, body: dict[str, Any]) -> None:
    typer.echo(json.dumps({"ok": ok, **body}, indent=2, ensure_ascii=False))


@disclosure_app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="the disclosure JSON (GET .../disclosure)")],
    receipt: Annotated[
        Path | None,
        typer.Option(
            "--receipt", "-r", help="the loan's receipt: ties the digest to the anchored record"
        ),
    ] = None,
    chain: Annotated[
        str,
        typer.Option(
            "--chain", help="JSON-RPC URL of a node (with a receipt)", envvar="LEDGER_RPC_URL"
        ),
    ] = "http://127.0.0.1:8545",
    trust_file: Annotated[
        Path | None, typer.Option("--trust", help="the trust root you hold (with a receipt)")
    ] = None,
    accept_unpinned: Annotated[
        bool, typer.Option(help="with a receipt: accept the deployment it names (no --trust)")
    ] = False,
) -> None:
    """Verify a disclosure: its fields lead to its digest; with --receipt, that the digest is the
    anchored record's (every receipt check runs, `disclosure_fields` among them). Prints the
    disclosed fields (path -> value) as JSON."""
    try:
        disclosure = Disclosure.model_validate(_load(file, "the disclosure"))
    except ValueError as exc:
        typer.echo(f"not a disclosure: {exc}", err=True)
        raise typer.Exit(2) from exc
    raw_receipt = _load(receipt, "the receipt") if receipt is not None else disclosure.receipt
    if raw_receipt is None:
        try:
            values = verify_disclosure(disclosure, disclosure.disclosure_digest)
        except VerificationError as exc:
            _print(False, {"check": exc.check, "code": exc.code, "message": exc.message})
            raise typer.Exit(1) from exc
        _print(True, {"anchored": False, "fields": values})
        return
    trust = _trust(trust_file, None, None)
    client = connect_or_exit(chain)
    try:
        report = verify_receipt(
            raw_receipt, client, trust=trust, raise_on_failure=False, fields=disclosure
        )
    except VerificationError as exc:
        _print(False, {"check": exc.check, "code": exc.code, "message": exc.message})
        raise typer.Exit(1) from exc
    except LedgerError as exc:
        typer.echo(f"cannot verify: {exc}", err=True)
        raise typer.Exit(2) from exc
    _print(
        report.ok,
        {"anchored": report.ok, "fields": disclosure.values() if report.ok else None}
        | {"report": report.as_dict()},
    )
    if not report.ok:
        raise typer.Exit(1)
    if trust is None and not accept_unpinned:
        typer.echo("WARNING: no trust root given (--trust): see `ledger verify --help`", err=True)
        raise typer.Exit(3)
