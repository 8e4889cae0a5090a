"""Verifying receipts in bulk: a directory of receipt files or a JSONL file, a year of them.

The chain is read once: `SnapshotChainFacts` rebuilds both contracts' state from their events
(batches, per-record anchors, retirements, violations, participants' key history, caps), so no
receipt costs a node call. The receipts are then verified on every core by worker processes
that inherit the snapshot, in chunks; the parent only reads files and tallies. What each check
concluded, per receipt, is returned compactly (`Outcome`), so the parent never becomes the
bottleneck.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from pathlib import Path

from ledger.errors import LedgerError
from ledger.trust import TrustRoot
from ledger.verify.checks import CHECK_NAMES
from ledger.verify.facts import ChainFacts
from ledger.verify.report import VerificationReport
from ledger.verify.verifier import Verifier

__all__ = ["BulkSummary", "Outcome", "iter_receipt_files", "verify_many"]

_LETTER = {"pass": "p", "fail": "f", "skip": "s"}


@dataclass(frozen=True, slots=True)
class Outcome:
    """One receipt's result: `statuses` has one letter per check of `CHECK_NAMES` (p/f/s);
    `failures` gives (check, code, detail) of each failed check; `error` is set instead when the
    item is not a receipt at all."""

    source: str
    record_id: str
    statuses: str
    failures: tuple[tuple[str, str, str], ...] = ()
    unverified: tuple[str, ...] = ()
    error: tuple[str, str] | None = None  # (code, message)

    @property
    def ok(self) -> bool:
        return self.error is None and "f" not in self.statuses

    @classmethod
    def of(cls, source: str, report: VerificationReport) -> Outcome:
        return cls(
            source,
            report.record_id,
            "".join(_LETTER[c.status] for c in report.checks),
            tuple((c.name, c.code or "", c.detail) for c in report.checks if c.status == "fail"),
            tuple(report.unverified),
        )


@dataclass
class BulkSummary:
    """Counts over many receipts: passed / failed / invalid, and per check."""

    total: int = 0
    passed: int = 0
    failed: int = 0
    invalid: int = 0
    by_check: dict[str, dict[str, int]] = field(
        default_factory=lambda: {n: {"pass": 0, "fail": 0, "skip": 0} for n in CHECK_NAMES}
    )
    unverified: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        self.total += 1
        if outcome.error is not None:
            self.invalid += 1
            return
        self.passed += outcome.ok
        self.failed += not outcome.ok
        for name, letter in zip(CHECK_NAMES, outcome.statuses, strict=True):
            status = {"p": "pass", "f": "fail", "s": "skip"}[letter]
            self.by_check[name][status] += 1
        for path in outcome.unverified:
            self.unverified[path] = self.unverified.get(path, 0) + 1


def iter_receipt_files(paths: Iterable[Path]) -> Iterator[tuple[str, bytes]]:
    """(source label, raw JSON) of every receipt in `paths`: a `.jsonl` file gives one per line,
    a directory every `*.json` / `*.jsonl` below it (sorted), any other file one receipt."""
    for path in paths:
        if path.is_dir():
            yield from iter_receipt_files(
                sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl"))
            )
        elif path.suffix == ".jsonl":
            with path.open("rb") as lines:
                for number, line in enumerate(lines, 1):
                    if line.strip():
                        yield f"{path}:{number}", line
        else:
            yield str(path), path.read_bytes()


# ---------------------------------------------------------------------------------- workers

_worker_verifier: Verifier | None = None


def _init_worker(verifier: Verifier | None) -> None:
    global _worker_verifier
    if verifier is not None:  # spawn: sent pickled; fork: inherited already
        _worker_verifier = verifier


def _verify_chunk(chunk: list[tuple[str, bytes]]) -> list[Outcome]:
    verifier = _worker_verifier
    assert verifier is not None
    return [_verify_one(verifier, source, raw) for source, raw in chunk]


def _verify_one(verifier: Verifier, source: str, raw: bytes) -> Outcome:
    try:
        return Outcome.of(source, verifier.verify(raw, raise_on_failure=False))
    except LedgerError as exc:
        return Outcome(source, "", "", error=(exc.code, exc.message))


def _chunks(items: Iterable[tuple[str, bytes]], size: int) -> Iterator[list[tuple[str, bytes]]]:
    chunk: list[tuple[str, bytes]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def verify_many(
    receipts: Iterable[tuple[str, bytes]],
    facts: ChainFacts,
    trust: TrustRoot | None,
    *,
    workers: int | None = None,
    chunk_size: int = 256,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> BulkSummary:
    """Verifies every receipt against `facts` (a snapshot, for speed) on `workers` processes
    (default: every core; 1 runs in this process) and returns the tally; `on_outcome` sees each
    result as it arrives (progress, failure files)."""
    global _worker_verifier
    verifier = Verifier(facts, trust)
    summary = BulkSummary()
    count = workers if workers is not None else (os.cpu_count() or 1)

    def take(outcome: Outcome) -> None:
        summary.add(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    # The snapshot and the libraries are millions of long-lived objects: freezing them keeps the
    # garbage collector from walking them again and again (a third of the time otherwise), and
    # keeps forked workers' copies of them shared.
    gc.collect()
    gc.freeze()
    if count <= 1:
        for source, raw in receipts:
            take(_verify_one(verifier, source, raw))
        gc.unfreeze()
        return summary
    methods = multiprocessing.get_all_start_methods()
    context: BaseContext
    if "fork" in methods:
        context = multiprocessing.get_context("fork")
        _worker_verifier = verifier  # the children inherit it: nothing to pickle
        initargs: tuple[Verifier | None] = (None,)
    else:  # pragma: no cover - platforms without fork
        context = multiprocessing.get_context("spawn")
        initargs = (verifier,)
    try:
        with context.Pool(count, initializer=_init_worker, initargs=initargs) as pool:
            for outcomes in pool.imap(_verify_chunk, _chunks(receipts, chunk_size)):
                for outcome in outcomes:
                    take(outcome)
    finally:
        _worker_verifier = None
        gc.unfreeze()
    return summary
