#!/usr/bin/env python3
"""Regulator analytics at market scale: build N anchored loans through the product's storage
layer and time the regulator's questions beside a plain SQL GROUP BY over the same rows.

    .venv/bin/python scripts/bench_analytics.py --loans 1000000 --db sqlite --out FILE.json
    .venv/bin/python scripts/bench_analytics.py --loans 10000000 --db postgres --out FILE.json

The data set: 50 funders (bank, trust, consumer finance, small loan, other) and 300 platforms
with Zipf-skewed sizes, issue dates spread over 3 years (2024-2026, in arrival order), APRs by
funder type, ~3% legacy loans (issued before the 2025-10-01 cutoff), ~1% retired. Built with
`ledger.analytics.add_loans` -- the function the anchoring hook calls -- on batches of 1,000 in
arrival order (--bulk of them per call and transaction while building; the last 100 one per call,
timed as the hook's cost), with retirements through `retire_loans` in between. PostgreSQL is a
throwaway server (`ledger.devpostgres`); SQLite a file in --dir.

Measured (p50/p95 over --repeat runs, milliseconds): the loan list of the largest platform and
of the largest funder (first page and pages deep in a cursor walk), stats per institution type /
funder / platform x month / quarter / year (the gateway's caps), violations, legacy stock, and
the CSV of the largest funder's largest quarter (time to first byte, total, Python heap peak).
Reference in the same run: `GROUP BY dimension, period` in SQL over the index rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

from ledger import devpostgres
from ledger.analytics import IndexedLoan, LoanIndexRow, add_loans, retire_loans
from ledger.queries import LoanFilter, legacy_stock, list_loans, loans_csv, stats, violations
from ledger.queries.statistics import BEIJING
from ledger.store import Database

BATCH = 1_000
START = int(datetime(2024, 1, 1, tzinfo=BEIJING).timestamp())
END = int(datetime(2027, 1, 1, tzinfo=BEIJING).timestamp())
LEGACY_CUTOFF = int(datetime(2025, 10, 1, tzinfo=BEIJING).timestamp())
#: the gateway's caps at genesis (`Reporting.caps`): 24% per type, 4 x LPR 3.00%, 24%
CAPS = {
    "cap_bank": 2400,
    "cap_trust": 2400,
    "cap_consumer_finance": 2400,
    "cap_small_loan": 2400,
    "cap_other": 2400,
    "four_times_lpr": 1200,
    "24_percent": 2400,
}
TYPES = [("bank", 12), ("trust", 5), ("consumer_finance", 15), ("small_loan", 13), ("other", 5)]
APR = {
    "bank": (400, 1800),
    "trust": (800, 2400),
    "consumer_finance": (1000, 2400),
    "small_loan": (1500, 2400),
    "other": (600, 2400),
}


def _zipf(n: int, s: float, rng: random.Random) -> list[float]:
    weights = [1 / (rank**s) for rank in range(1, n + 1)]
    rng.shuffle(weights)
    return weights


def loans(count: int, seed: int = 11) -> Iterator[list[IndexedLoan]]:
    """The data set, in batches of `BATCH` in arrival (issue) order."""
    rng = random.Random(seed)
    funder_types = [t for t, k in TYPES for _ in range(k)]
    funder_ids = list(range(1_001, 1_001 + len(funder_types)))
    platform_ids = list(range(2_001, 2_301))
    funder_w = _zipf(len(funder_ids), 1.1, rng)
    platform_w = _zipf(len(platform_ids), 1.2, rng)
    step = (END - START) / count
    batch: list[IndexedLoan] = []
    for n in range(count):
        issued = START + int(n * step)
        index = rng.choices(range(len(funder_ids)), funder_w)[0]
        kind = funder_types[index]
        low, high = APR[kind]
        legacy = issued < LEGACY_CUTOFF and rng.random() < 0.04
        apr = rng.randrange(2401, 3601) if legacy else rng.randrange(low, high + 1)
        batch.append(
            IndexedLoan(
                record_id=f"0x{rng.getrandbits(256):064x}",
                platform_id=rng.choices(platform_ids, platform_w)[0],
                funder_id=funder_ids[index],
                guarantor_id=rng.choice((0, 0, 0, 3_001, 3_002)),
                co_funder_id=rng.choice(funder_ids) if rng.random() < 0.1 else 0,
                institution_type=kind,
                principal=int(rng.lognormvariate(13.8, 1.0)),  # median ~10,000 yuan in fen
                apr_bps=apr,
                issued_at=issued,
                legacy=legacy,
                anchoring="batch",
                batch_root=f"0x{n // BATCH:064x}",
                tx_hash=f"0x{n // BATCH:064x}",
                block_number=n // BATCH,
                block_time=issued + 60,
            )
        )
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def build(db: Database, count: int, bulk: int) -> dict[str, Any]:
    """Adds the loans with `add_loans` (the anchoring hook's function), `bulk` batches of 1,000
    per call and transaction; the last 100 batches one per call, as the batcher anchors them,
    timed apart (`hook_ms_per_batch`: the cost the anchoring transaction pays)."""
    started = time.perf_counter()
    rng = random.Random(7)
    recent: list[str] = []
    retired = 0
    pending: list[IndexedLoan] = []
    total_batches = -(-count // BATCH)
    hook: list[float] = []
    for number, batch in enumerate(loans(count)):
        recent.extend(rng.sample([x.record_id for x in batch], 10))  # 1% will be retired
        if number >= total_batches - 100:
            t = time.perf_counter()
            with db.session() as s:
                add_loans(s, batch)
            hook.append((time.perf_counter() - t) * 1_000)
        else:
            pending.extend(batch)
            if len(pending) >= bulk * BATCH:
                with db.session() as s:
                    add_loans(s, pending)
                pending = []
        if not pending:  # retirements come later than the loans: of those added already
            with db.session() as s:
                retired += retire_loans(s, recent, rng.choice(("revoked", "superseded")))
            recent = []
        if number % 500 == 499:
            done = (number + 1) * BATCH
            rate = done / (time.perf_counter() - started)
            print(f"  built {done:,} loans ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    if pending:
        with db.session() as s:
            add_loans(s, pending)
    hook.sort()
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "retired": retired,
        "bulk_batches_per_call": bulk,
        "hook_ms_per_batch": {
            "p50_ms": round(statistics.median(hook), 1),
            "p95_ms": round(hook[int(0.95 * (len(hook) - 1))], 1),
            "runs": len(hook),
        },
    }


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1_000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 2),
        "runs": repeat,
    }


def paging(db: Database, flt: LoanFilter, pages: int) -> dict[str, float]:
    """Walks `pages` pages of 100 by cursor; p50/p95 of one page."""
    samples, cursor = [], None
    for _ in range(pages):
        t = time.perf_counter()
        _, cursor = list_loans(db, flt, cursor=cursor, limit=100)
        samples.append((time.perf_counter() - t) * 1_000)
        if cursor is None:
            break
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 2),
        "runs": len(samples),
    }


def reference_sql(db: Database, dimension: str, period: str) -> str:
    column = {"institution_type": "institution_type", "funder": "funder_id"}.get(
        dimension, "platform_id"
    )
    if db.engine.dialect.name == "postgresql":
        fmt = {"month": "YYYY-MM", "quarter": 'YYYY-"Q"Q', "year": "YYYY"}[period]
        label = f"to_char(to_timestamp(issued_at) AT TIME ZONE 'Asia/Shanghai', '{fmt}')"
    else:
        local = "issued_at + 28800, 'unixepoch'"
        label = {
            "month": f"strftime('%Y-%m', {local})",
            "quarter": f"strftime('%Y', {local}) || '-Q' || ((strftime('%m', {local}) + 2) / 3)",
            "year": f"strftime('%Y', {local})",
        }[period]
    return (
        f"SELECT {column}, {label} AS period, count(*), sum(principal), sum(apr_bps),"
        f" sum(principal * apr_bps), min(apr_bps), max(apr_bps),"
        f" sum(CASE WHEN apr_bps > 2400 THEN 1 ELSE 0 END),"
        f" sum(CASE WHEN legacy THEN 1 ELSE 0 END)"
        f" FROM loan_index WHERE retired IS NULL GROUP BY {column}, period"
    )


def largest(db: Database, column: Any) -> int:
    with db.session() as s:
        return int(
            s.execute(
                select(column).group_by(column).order_by(func.count().desc()).limit(1)
            ).scalar_one()
        )


def csv_export(db: Database, flt: LoanFilter) -> dict[str, Any]:
    tracemalloc.start()
    t = time.perf_counter()
    rows = loans_csv(db, flt)
    next(rows)
    first = next(rows, None)
    ttfb = (time.perf_counter() - t) * 1_000
    lines = 2 if first is not None else 1
    size = 0
    for line in rows:
        lines += 1
        size += len(line)
    total = (time.perf_counter() - t) * 1_000
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": lines - 1,
        "ttfb_ms": round(ttfb, 2),
        "total_ms": round(total, 1),
        "python_heap_peak_mb": round(peak / 2**20, 1),
    }


def db_size(db: Database, path: Path | None) -> float:
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as c:
            return (
                int(c.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
                / 2**30
            )
    assert path is not None
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**30


def _sqlite_cache(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA cache_size=-524288")  # 512 MB
    cursor.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dir", type=Path, default=None, help="where the database lives")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--bulk", type=int, default=10, help="batches of 1,000 per add_loans call while building"
    )
    parser.add_argument("--reference-repeat", type=int, default=3)
    args = parser.parse_args()
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=args.dir)))
        path: Path | None = None
        if args.db == "postgres":
            os.chmod(root, 0o755)  # the server runs as `postgres` when we are root
            url = stack.enter_context(
                devpostgres.server(
                    root=str(root),
                    settings=("shared_buffers=2GB", "synchronous_commit=off", "max_wal_size=8GB"),
                )
            )
        else:
            path = root / "bench.sqlite"
            url = f"sqlite:///{path}"
        db = Database(url)
        print(f"building {args.loans:,} loans on {args.db}", file=sys.stderr, flush=True)
        if args.db == "sqlite":  # a page cache for a 1 GB index (the default is 2 MB)
            event.listen(db.engine, "connect", _sqlite_cache)
            db.engine.dispose()
        built = build(db, args.loans, args.bulk)
        if args.db == "postgres":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("VACUUM ANALYZE"))
        else:
            with db.engine.connect() as c:
                c.execute(text("ANALYZE"))
        result: dict[str, Any] = {
            "loans": args.loans,
            "db": args.db,
            "build": {**built, "batch": BATCH, "db_size_gb": round(db_size(db, path), 2)},
            "questions": {},
            "reference_group_by": {},
        }
        q = result["questions"]
        platform = largest(db, LoanIndexRow.platform_id)
        funder = largest(db, LoanIndexRow.funder_id)
        result["largest"] = {"platform_id": platform, "funder_id": funder}
        for name, flt in (
            ("list_large_platform", LoanFilter(platform_id=platform)),
            ("list_large_funder", LoanFilter(funder_id=funder)),
        ):
            q[name + "_first_page"] = timed(lambda f=flt: list_loans(db, f, limit=100), args.repeat)
            q[name + "_cursor_pages"] = paging(db, flt, 200)
        for group_by in ("institution_type", "funder", "platform"):
            for period in ("month", "quarter", "year"):
                q[f"stats_{group_by}_{period}"] = timed(
                    lambda g=group_by, p=period: stats(
                        db,
                        group_by=g,
                        period=p,
                        caps_bps=CAPS,  # type: ignore[arg-type]
                    ),
                    args.repeat,
                )
                result["reference_group_by"][f"{group_by}_{period}"] = timed(
                    lambda g=group_by, p=period: (
                        db.engine.connect().execute(text(reference_sql(db, g, p))).all()
                    ),
                    args.reference_repeat,
                )
        q["stats_funder_quarter_one_funder"] = timed(
            lambda: stats(
                db,
                group_by="funder",
                period="quarter",
                caps_bps=CAPS,
                flt=LoanFilter(funder_id=funder),
            ),
            args.repeat,
        )
        q["violations"] = timed(lambda: violations(db), args.repeat)
        q["legacy_stock"] = timed(lambda: legacy_stock(db, limit=1_000), args.repeat)
        # the CSV of the largest funder's largest quarter (Beijing time)
        with db.session() as s:
            starts = [
                int(datetime(y, m, 1, tzinfo=BEIJING).timestamp())
                for y in (2024, 2025, 2026)
                for m in (1, 4, 7, 10)
            ] + [END]
            counts = [
                s.execute(
                    select(func.count()).where(
                        LoanIndexRow.funder_id == funder,
                        LoanIndexRow.issued_at >= a,
                        LoanIndexRow.issued_at < b,
                    )
                ).scalar_one()
                for a, b in itertools.pairwise(starts)
            ]
        k = counts.index(max(counts))
        q["csv_large_funder_quarter"] = csv_export(
            db, LoanFilter(funder_id=funder, issued_from=starts[k], issued_to=starts[k + 1])
        )
        if args.loans <= 1_000_000:  # counting every row in Python: what stats did before
            q["stats_by_scanning_the_index_institution_type_quarter"] = timed(
                lambda: stats(db, caps_bps=CAPS, source="index"), 1
            )
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        db.engine.dispose()
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
