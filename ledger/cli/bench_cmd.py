"""`ledger bench`: throughput of the core library, each figure beside raw coincurve in the same run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ledger.bench import run_benchmarks


def bench(
    records: Annotated[
        int, typer.Option(help="records to canonicalize, hash and double-sign")
    ] = 5_000,
    receipts: Annotated[int, typer.Option(help="receipts to anchor, then verify in bulk")] = 10_000,
    anvil: Annotated[
        bool, typer.Option(help="also on an anvil node (npm @foundry-rs/anvil)")
    ] = True,
    merkle_leaves: Annotated[int, typer.Option(help="leaves of the Merkle build")] = 1_000_000,
    out: Annotated[Path | None, typer.Option(help="also write the JSON report here")] = None,
) -> None:
    """Measure records/s, receipts verified/s and Merkle build time (figures, not assertions)."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("starting…", total=None)
        report = run_benchmarks(
            records=records,
            receipts=receipts,
            merkle_leaves=merkle_leaves,
            anvil=anvil,
            log=lambda message: progress.update(task, description=message),
        )
    text = json.dumps(report, indent=2)
    typer.echo(text)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
