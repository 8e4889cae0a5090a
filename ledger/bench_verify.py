"""Benchmark of receipt verification: in bulk (a snapshot of the chain, every core) and one cold
receipt at a time (live reads, nothing cached), each beside raw secp256k1 recovery measured in
the same run.

The receipts are real: loans with fee disclosures signed by their platform and funder, promised
by a gateway and anchored in batches of 1,000 on the chain given (the embedded eth-tester chain,
or anvil over JSON-RPC).
"""

from __future__ import annotations

import os
import secrets
import statistics
import time
from collections.abc import Callable
from typing import Any

import coincurve

from ledger.chain.client import ChainClient
from ledger.testing import make_loan, promise, setup_actors
from ledger.trust import TrustRoot
from ledger.verify import LiveChainFacts, SnapshotChainFacts, Verifier
from ledger.verify.bulk import verify_many

__all__ = ["measure_cold", "measure_raw_recover", "measure_verification"]

Log = Callable[[str], Any]


def measure_raw_recover(n: int = 20_000) -> float:
    """secp256k1 public-key recoveries per second on one core (coincurve, the floor)."""
    key = coincurve.PrivateKey()
    digests = [secrets.token_bytes(32) for _ in range(n)]
    signatures = [key.sign_recoverable(d, hasher=None) for d in digests]
    t0 = time.perf_counter()
    for d, s in zip(digests, signatures, strict=True):
        coincurve.PublicKey.from_signature_and_message(s, d, hasher=None)
    return n / (time.perf_counter() - t0)


def _receipts(client: ChainClient | None, n: int, log: Log) -> tuple[list[bytes], TrustRoot, Any]:
    actors = setup_actors(client)
    out: list[bytes] = []
    batch_size = 1_000
    for start in range(0, n, batch_size):
        log(f"anchoring receipts {start:,}–{min(start + batch_size, n):,} of {n:,}…")
        loans = [
            promise(actors, make_loan(actors, ("Bank A", "Bank B")[i % 2], "Platform 2")[0])
            for i in range(start, min(start + batch_size, n))
        ]
        batch = actors.chain.anchor_batch(actors.gateway_account, loans)
        out += [r.to_json().encode() for r in actors.chain.batch_receipts(batch)]
    return out, TrustRoot.of_deployment(actors.client, actors.deployment), actors


def measure_cold(
    client: ChainClient, receipts: list[bytes], trust: TrustRoot, samples: int = 50
) -> dict[str, float]:
    """One receipt at a time, each with a fresh verifier: every chain read goes to the node."""
    assert trust.registry is not None
    latencies = []
    for raw in receipts[:samples]:
        t0 = time.perf_counter()
        report = Verifier(LiveChainFacts(client, trust.registry, trust.ledger), trust).verify(raw)
        latencies.append((time.perf_counter() - t0) * 1000)
        assert report.ok
    latencies.sort()
    return {
        "samples": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
        "max_ms": round(latencies[-1], 2),
    }


def measure_verification(
    client: ChainClient | None, n: int, *, workers: int | None = None, log: Log = print
) -> dict[str, Any]:
    """Bulk receipts/s on one core and on `workers` (default: every core), the snapshot's load
    time, cold single-receipt latency, and raw recovery in the same run."""
    receipts, trust, actors = _receipts(client, n, log)
    chain = actors.client
    log("reading the chain's state into a snapshot…")
    t0 = time.perf_counter()
    assert trust.registry is not None
    facts = SnapshotChainFacts.load(chain, trust.registry, trust.ledger, trust.deployment_block)
    snapshot_s = time.perf_counter() - t0
    cores = workers or os.cpu_count() or 1
    figures: dict[str, Any] = {"receipts": n, "snapshot_seconds": round(snapshot_s, 3)}
    for label, count in (("one_core", 1), ("all_cores", cores)):
        log(f"verifying {n:,} receipts in bulk on {count} process(es)…")
        t1 = time.perf_counter()
        summary = verify_many(
            ((str(i), r) for i, r in enumerate(receipts)), facts, trust, workers=count
        )
        seconds = time.perf_counter() - t1
        assert summary.passed == n, summary
        figures[f"{label}_receipts_per_s"] = round(n / seconds, 1)
    figures["workers"] = cores
    log("measuring raw recovery and cold single receipts…")
    raw = measure_raw_recover()
    figures["raw_recover_per_s"] = round(raw, 1)
    # a receipt needs two recoveries (platform, funder): the ceiling on one core is raw / 2
    figures["all_cores_vs_raw_recover"] = round(figures["all_cores_receipts_per_s"] / raw, 3)
    figures["cold_single"] = measure_cold(chain, receipts, trust)
    return figures
