"""`ledger verify`: check receipts, or an evidence package, against the deployment you trust and
a chain node.

An evidence package (a ZIP from `ledger evidence export` or `GET /v1/loans/{id}/evidence`):
every member's digest, the gateway's signature over `package.json`, the package's trust root
against the node (and against `--trust FILE` if given), the document, and every receipt check.
Without `--trust` the package's own trust root is used and the addresses it pins are printed,
for you to compare with the ones you hold.

One receipt file: every check in a table (or `--json`). Several files, a directory or a JSONL
file: bulk verification on every core from one snapshot of the chain, with a progress bar, a
summary table per check, and the failing record ids written to `--failures`.

Exit codes: 0 every receipt (or the package) verified; 1 a check failed (named); 2 bad input or
no node;
3 verified, but without a trust root (against the deployment the receipts name themselves),
unless `--accept-unpinned` says that is what you want.
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledger import safejson
from ledger.chain.client import ChainClient
from ledger.errors import InputError, LedgerError, VerificationError
from ledger.evidence import PackageReport, verify_package
from ledger.receipts import parse_receipt
from ledger.trust import TrustRoot, load_trust_root
from ledger.verify import CHECK_NAMES, SnapshotChainFacts, connect, facts_for, verify_receipt
from ledger.verify.bulk import Outcome, iter_receipt_files, verify_many

_STYLE = {"pass": "green", "fail": "bold red", "skip": "dim"}
_UNPINNED = (
    "WARNING: no trust root given: the receipts were checked only against the deployment they"
    " name themselves, which anyone can deploy a copy of. Get the trust root from the"
    " deployment's operator (GET /v1/deployment) and pass --trust FILE, or --chain-id and"
    " --ledger; pass --accept-unpinned to accept this."
)


def connect_or_exit(rpc: str) -> ChainClient:
    """A client of the node at `rpc`, asked its chain id at once: exit 2, plainly, without one."""
    try:
        client = connect(rpc)
        client.chain_id  # noqa: B018
    except Exception as exc:
        typer.echo(f"cannot reach the node at {rpc}: {exc}", err=True)
        raise typer.Exit(2) from exc
    return client


def _trust(trust_file: Path | None, chain_id: int | None, ledger: str | None) -> TrustRoot | None:
    if trust_file is not None:
        if chain_id is not None or ledger is not None:
            raise typer.BadParameter("give --trust or --chain-id/--ledger, not both")
        return load_trust_root(trust_file)
    if (chain_id is None) != (ledger is None):
        raise typer.BadParameter("--chain-id and --ledger go together")
    if chain_id is not None and ledger is not None:
        return TrustRoot.pinned_ledger(chain_id, ledger)
    return None


def verify(
    receipts: Annotated[
        list[Path] | None,
        typer.Argument(
            help="receipt files, directories of them, JSONL files, or one evidence package (.zip)",
            show_default=False,
        ),
    ] = None,
    receipt: Annotated[
        Path | None, typer.Option("--receipt", "-r", help="one receipt JSON file")
    ] = None,
    trust_file: Annotated[
        Path | None, typer.Option("--trust", help="the trust root you hold (trust-root.json)")
    ] = None,
    chain_id: Annotated[int | None, typer.Option(help="or pin the chain id ...")] = None,
    ledger: Annotated[str | None, typer.Option(help="... and the ledger contract address")] = None,
    accept_unpinned: Annotated[
        bool, typer.Option(help="accept verifying against the deployment each receipt names")
    ] = False,
    document: Annotated[Path | None, typer.Option(help="the original agreement document")] = None,
    digest: Annotated[str | None, typer.Option(help="or the document's SHA-256 (hex)")] = None,
    rpc: Annotated[
        str,
        typer.Option(
            "--rpc", "--chain", help="JSON-RPC URL of a node of the chain", envvar="LEDGER_RPC_URL"
        ),
    ] = "http://127.0.0.1:8545",
    as_json: Annotated[bool, typer.Option("--json", help="print the report(s) as JSON")] = False,
    failures: Annotated[
        Path | None, typer.Option(help="bulk: write failing record ids (JSONL) here")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="bulk: processes (default: every core)")
    ] = None,
) -> None:
    """Verify receipts (or an evidence package) link by link against the deployment you trust."""
    paths = [*(receipts or []), *([receipt] if receipt else [])]
    if not paths:
        raise typer.BadParameter("give at least one receipt file, directory or JSONL file")
    try:
        trust = _trust(trust_file, chain_id, ledger)
    except LedgerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    single = len(paths) == 1 and paths[0].is_file() and paths[0].suffix != ".jsonl"
    if single and zipfile.is_zipfile(paths[0]):
        if document or digest:
            raise typer.BadParameter("a package carries its document: no --document or --digest")
        _verify_package_file(paths[0], rpc, trust, as_json)
        return
    if not single and (document or digest):
        raise typer.BadParameter("--document and --digest go with a single receipt")
    data: object = None
    if single:
        try:
            data = safejson.loads(paths[0].read_bytes())
        except (OSError, InputError) as exc:
            typer.echo(f"cannot read receipt: {exc}", err=True)
            raise typer.Exit(2) from exc
    client = connect_or_exit(rpc)
    if single:
        ok = _verify_one(data, client, trust, document, digest, as_json)
    else:
        ok = _verify_bulk(paths, client, trust, as_json, failures, workers)
    if not ok:
        raise typer.Exit(1)
    if trust is None:
        typer.echo(_UNPINNED, err=True)
        if not accept_unpinned:
            raise typer.Exit(3)


def _verify_one(
    data: object,
    client: ChainClient,
    trust: TrustRoot | None,
    document: Path | None,
    digest: str | None,
    as_json: bool,
) -> bool:
    try:
        if not isinstance(data, dict):
            raise VerificationError("format", "a receipt is a JSON object", code="VERIFY_FORMAT")
        report = verify_receipt(
            data,
            client,
            trust=trust,
            document=document,
            document_sha256=digest,
            raise_on_failure=False,
        )
    except VerificationError as exc:
        typer.echo(
            json.dumps({"ok": False, "check": exc.check, "code": exc.code, "message": exc.message})
        )
        return False
    except (LedgerError, OSError) as exc:
        typer.echo(f"cannot verify: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        d = report.deployment
        where = (
            f"chain {d.chain_id}, registry {d.registry}, ledger {d.ledger}"
            + ("" if d.pinned else " (NOT pinned: as the receipt names it)")
            if d
            else ""
        )
        table = Table(title=f"receipt {report.record_id}", caption=f"verified against {where}")
        for column in ("check", "result", "detail"):
            table.add_column(column)
        for check in report.checks:
            table.add_row(check.name, f"[{_STYLE[check.status]}]{check.status}", check.detail)
        Console().print(table)
        if report.unverified:
            typer.echo(f"unverified (nothing vouches for): {', '.join(report.unverified)}")
    failure = report.first_failure
    if failure is not None and not as_json:
        typer.echo(f"FAILED: {failure.name}: {failure.detail}", err=True)
    return failure is None


def _verify_bulk(
    paths: list[Path],
    client: ChainClient,
    trust: TrustRoot | None,
    as_json: bool,
    failures_path: Path | None,
    workers: int | None,
) -> bool:
    started = time.perf_counter()
    console = Console(stderr=True)
    sources = list(iter_receipt_files(paths))
    if not sources:
        typer.echo("no receipts found", err=True)
        raise typer.Exit(2)
    if trust is None:
        first = parse_receipt(sources[0][1])
        registry, ledger_address, from_block = first.anchor.registry, first.anchor.ledger, 0
    else:
        live = facts_for(client, trust)
        registry, ledger_address, from_block = live.registry, live.ledger, trust.deployment_block
    console.print(f"reading the chain's state (registry {registry}, ledger {ledger_address})…")
    facts = SnapshotChainFacts.load(client, registry, ledger_address, from_block)
    out: TextIO | None = failures_path.open("w", encoding="utf-8") if failures_path else None
    columns = (
        TextColumn("verifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} receipts/s"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("verify", total=len(sources), rate="…")
            begun = time.perf_counter()
            seen = 0

            def on_outcome(outcome: Outcome) -> None:
                nonlocal seen
                seen += 1
                if not outcome.ok and out is not None:
                    out.write(json.dumps(_outcome_line(outcome), ensure_ascii=False) + "\n")
                if as_json:
                    typer.echo(json.dumps(_outcome_line(outcome), ensure_ascii=False))
                if seen % 500 == 0 or seen == len(sources):
                    rate = seen / max(time.perf_counter() - begun, 1e-9)
                    progress.update(task, completed=seen, rate=f"{rate:,.0f}")

            summary = verify_many(sources, facts, trust, workers=workers, on_outcome=on_outcome)
    finally:
        if out is not None:
            out.close()
    seconds = time.perf_counter() - started
    table = Table(
        title=f"{summary.total:,} receipts: {summary.passed:,} passed, {summary.failed:,} failed,"
        f" {summary.invalid:,} not receipts",
        caption=f"against chain {facts.chain_id()}, registry {facts.registry}, ledger"
        f" {facts.ledger}, as of {facts.as_of()}"
        + ("" if trust else " (NOT pinned)")
        + f"; {seconds:.1f} s",
    )
    for column in ("check", "passed", "failed", "skipped"):
        table.add_column(column, justify="left" if column == "check" else "right")
    for name in CHECK_NAMES:
        counts = summary.by_check[name]
        failed = f"[bold red]{counts['fail']:,}" if counts["fail"] else "0"
        table.add_row(name, f"{counts['pass']:,}", failed, f"{counts['skip']:,}")
    console.print(table)
    if summary.unverified:
        listed = ", ".join(f"{k} ({v:,})" for k, v in sorted(summary.unverified.items()))
        console.print(f"unverified fields (nothing vouches for them): {listed}")
    if failures_path is not None and (summary.failed or summary.invalid):
        console.print(f"failing receipts written to {failures_path}")
    return summary.failed == 0 and summary.invalid == 0


def _outcome_line(outcome: Outcome) -> dict[str, object]:
    return {
        "source": outcome.source,
        "record_id": outcome.record_id or None,
        "ok": outcome.ok,
        "failed": [{"check": c, "code": code, "detail": d} for c, code, d in outcome.failures],
        **(
            {"error": {"code": outcome.error[0], "message": outcome.error[1]}}
            if outcome.error
            else {}
        ),
    }


def _verify_package_file(path: Path, rpc: str, pin: TrustRoot | None, as_json: bool) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        typer.echo(f"cannot read package: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        client = connect(rpc)
        client.chain_id  # noqa: B018
    except Exception as exc:
        typer.echo(f"cannot reach the node at {rpc}: {exc}", err=True)
        raise typer.Exit(2) from exc
    report = verify_package(data, client, pin)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        _print_package(report)
    failure = next((c for c in report.all_checks if c.status == "fail"), None)
    if failure is not None:
        typer.echo(f"FAILED: {failure.name}: {failure.detail}", err=True)
        raise typer.Exit(1)
    if not report.ok:
        typer.echo("FAILED: the package could not be verified", err=True)
        raise typer.Exit(1)
    t = report.trust_root
    if pin is None and t is not None:
        typer.echo(
            "NOTE: no --trust given: verified against the trust root inside the package, which"
            f" pins chain {t.chain_id}, registry {t.registry}, ledger {t.ledger}. Compare these"
            " with the addresses you hold (or pass --trust FILE to have them compared).",
            err=True,
        )


def _print_package(report: PackageReport) -> None:
    table = Table(title=f"evidence package of {report.record_id}")
    for column in ("check", "result", "detail"):
        table.add_column(column)
    for check in report.all_checks:
        table.add_row(check.name, f"[{_STYLE[check.status]}]{check.status}", check.detail)
    Console().print(table)
