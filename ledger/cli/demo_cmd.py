"""`ledger demo`: the end-to-end scenario on a fresh embedded chain, as a readable report."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledger.demo import run_demo

_GOOD = {"ok", "anchored", "rejected", "verified", "caught", "flagged", "within 20%"}


def demo(
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="loans in the batched anchor")
    ] = 20,
) -> None:
    """Run the whole scenario: participants, whitelists, loans, rejections, amendment, revocation, audit."""
    console = Console()
    with console.status("running the scenario on a fresh embedded chain…"):
        report = run_demo(batch_size=batch_size)
    table = Table(title="Loan evidence ledger — end-to-end demo", show_lines=False)
    table.add_column("step")
    table.add_column("outcome")
    table.add_column("detail", overflow="fold")
    failures = 0
    for step, outcome, detail in report.steps:
        good = outcome in _GOOD or step.startswith("stats")
        failures += not good
        table.add_row(step, f"[{'green' if good else 'bold red'}]{outcome}", detail)
    console.print(table)
    console.print(f"scenario finished in {report.seconds:.1f} s; {failures} unexpected outcomes")
    if failures:
        raise typer.Exit(1)
