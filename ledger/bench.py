"""Benchmarks of the core library (figures and ratios measured side by side, never assertions).

- raw coincurve: secp256k1 sign and recover per second (the floor everything else stands on);
- records/s: canonicalize (RFC 8785) + hash the disclosure form, build and EIP-712-hash the
  record, sign it twice (platform + funder), on one core;
- receipts verified/s: full verification (all 15 checks) of real batch receipts in bulk (one
  snapshot of the chain, one core and every core) and one cold receipt at a time (live reads), on
  the embedded chain and on anvil (`ledger.bench_verify`);
- Merkle: build time of an OpenZeppelin StandardMerkleTree over N leaves (default 1,000,000).
"""

from __future__ import annotations

import os
import platform
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import coincurve

from ledger.canonical import canonical_digest
from ledger.eip712 import Domain, loan_record_id
from ledger.hashing import keccak256
from ledger.merkle import StandardMerkleTree
from ledger.receipts import LEAF_TYPES
from ledger.records import LoanRecord
from ledger.signing import LocalSigner
from ledger.testing import build_disclosure

__all__ = ["measure_records", "run_benchmarks"]

Log = Callable[[str], Any]


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def _raw_coincurve(n: int) -> dict[str, float]:
    key = coincurve.PrivateKey()
    digests = [secrets.token_bytes(32) for _ in range(n)]
    t0 = time.perf_counter()
    signatures = [key.sign_recoverable(d, hasher=None) for d in digests]
    t1 = time.perf_counter()
    for d, s in zip(digests, signatures, strict=True):
        coincurve.PublicKey.from_signature_and_message(s, d, hasher=None)
    t2 = time.perf_counter()
    return {"sign_per_s": _rate(n, t1 - t0), "recover_per_s": _rate(n, t2 - t1)}


def measure_records(n: int) -> dict[str, float]:
    """Records canonicalized + hashed + double-signed per second, on this core."""
    platform_key, funder_key = LocalSigner.generate(), LocalSigner.generate()
    domain = Domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    now = datetime(2026, 11, 23, tzinfo=UTC)
    form = build_disclosure(
        2_000_000, 12, Fraction(1, 100), now.date(), lender="Bank A", confirmed_at=now
    )
    base = form.as_json()
    t0 = time.perf_counter()
    for i in range(n):
        base["principal"] = 2_000_000 + i  # a different form each time, so nothing is cached
        disclosure_digest = canonical_digest(base)
        record = LoanRecord(
            agreement_digest="0x" + keccak256(i.to_bytes(8, "big")).hex(),
            disclosure_digest="0x" + disclosure_digest.hex(),
            borrower_commitment="0x" + keccak256(b"b" + i.to_bytes(8, "big")).hex(),
            funder_id=2,
            platform_id=5,
            principal=2_000_000 + i,
            apr_bps=1268,
            term_days=365,
            issued_at=1_795_000_000 + i,
        )
        record_id = loan_record_id(record, domain)
        platform_key.sign_digest(record_id)
        funder_key.sign_digest(record_id)
    seconds = time.perf_counter() - t0
    return {"records": n, "seconds": round(seconds, 3), "records_per_s": _rate(n, seconds)}


def _merkle(n: int) -> dict[str, float]:
    values = [
        ["0x" + secrets.token_bytes(32).hex(), "0x" + secrets.token_bytes(32).hex()]
        for _ in range(n)
    ]
    t0 = time.perf_counter()
    tree = StandardMerkleTree.of(values, list(LEAF_TYPES))
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    for i in range(0, n, max(1, n // 1000)):
        tree.get_proof(i)
    proof_seconds = time.perf_counter() - t1
    return {
        "leaves": n,
        "build_seconds_from_values": round(seconds, 3),
        "leaves_per_s": _rate(n, seconds),
        "proofs_per_s": _rate(len(range(0, n, max(1, n // 1000))), proof_seconds),
    }


def _verification(receipts: int, anvil: bool, log: Log) -> dict[str, Any]:
    from ledger.bench_verify import measure_verification

    out = {"embedded": measure_verification(None, receipts, log=log)}
    if anvil:
        from web3 import Web3

        from ledger.chain.anvil import AnvilNode
        from ledger.chain.client import ChainClient

        with AnvilNode() as node:
            client = ChainClient(Web3(Web3.HTTPProvider(node.url)))
            out["anvil"] = measure_verification(client, receipts, log=log)
    return out


def run_benchmarks(
    *,
    records: int = 5_000,
    receipts: int = 10_000,
    merkle_leaves: int = 1_000_000,
    anvil: bool = True,
    log: Log = print,
) -> dict[str, Any]:
    """Runs every benchmark in one process and returns the figures with their ratios."""
    log("raw coincurve sign/recover…")
    raw = _raw_coincurve(max(2_000, records))
    log(f"{records} records canonicalized + hashed + double-signed…")
    recs = measure_records(records)
    rec = _verification(receipts, anvil, log)
    log(f"Merkle tree over {merkle_leaves} leaves…")
    merkle = _merkle(merkle_leaves)
    # Double-signing alone caps records/s at sign_per_s / 2: the ratio says how close we get.
    ceiling = raw["sign_per_s"] / 2
    return {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "raw_coincurve": raw,
        "records": {**recs, "vs_double_sign_ceiling": round(recs["records_per_s"] / ceiling, 3)},
        "receipts_verified": rec,
        "merkle": merkle,
    }
