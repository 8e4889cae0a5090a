"""`ledger`: the command line. Every command calls the library; nothing here holds a rule."""

from __future__ import annotations

import typer

from ledger.cli import (
    apr_cmd,
    bench_cmd,
    chain_cmd,
    commitment_cmd,
    demo_cmd,
    disclosure_cmd,
    evidence_cmd,
    migrate_cmd,
    serve_cmd,
    verify_cmd,
)
from ledger.limits import restore_recursion_limit

__all__ = ["app", "main"]

app = typer.Typer(
    name="ledger",
    help="Loan evidence ledger: anchor, verify and measure 助贷 loan records on an EVM chain.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("serve")(serve_cmd.serve)
app.command("apr")(apr_cmd.apr)
app.command("verify")(verify_cmd.verify)
app.command("deploy")(chain_cmd.deploy)
app.command("compile")(chain_cmd.compile_)
app.add_typer(chain_cmd.chain_app, name="chain")
app.add_typer(commitment_cmd.commitment_app, name="commitment")
app.add_typer(disclosure_cmd.disclosure_app, name="disclosure")
app.add_typer(evidence_cmd.evidence_app, name="evidence")
app.command("demo")(demo_cmd.demo)
app.command("bench")(bench_cmd.bench)
app.command("migrate")(migrate_cmd.migrate)


def main() -> None:
    restore_recursion_limit()  # see ledger.limits: the Ethereum libraries raise it too far
    app()
