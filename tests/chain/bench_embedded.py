"""Throughput of the embedded chain in memory versus persisted, and reopen time.

Run: `PYTHONPATH=. python3 -m tests.chain.bench_embedded [N_TRANSFERS]`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from eth_account import Account
from web3 import EthereumTesterProvider, Web3

from ledger.chain.client import ChainClient
from ledger.chain.embedded import open_embedded_chain
from ledger.testing import setup_actors

from .embedded_worker import anchor_one_batch


def bench(w3: Web3, label: str, transfers: int) -> None:
    client = ChainClient(w3)
    target = Account.create().address
    started = time.perf_counter()
    for _ in range(transfers):
        client.fund(target, 1)
    per_transfer = transfers / (time.perf_counter() - started)
    actors = setup_actors(client)
    started = time.perf_counter()
    for n in range(20):
        anchor_one_batch(actors, n)
    batches = 20 / (time.perf_counter() - started)
    print(
        f"{label:>22}: {per_transfer:6.1f} transfers/s, {batches:5.1f} batches/s "
        f"(2 loans each, incl. signing), head {w3.eth.block_number}"
    )


def main() -> None:
    transfers = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    bench(Web3(EthereumTesterProvider()), "in memory", transfers)
    root = Path(tempfile.mkdtemp())
    for durable in (True, False):
        data = root / f"durable-{durable}"
        with open_embedded_chain(data, durable=durable) as chain:
            bench(chain.w3, f"persisted durable={durable}", transfers)
    data = root / "durable-True"
    for _ in range(3):
        started = time.perf_counter()
        with open_embedded_chain(data) as chain:
            head = chain.w3.eth.get_block("latest")["number"]
            elapsed = time.perf_counter() - started
        print(f"reopen with {head} blocks + first request: {elapsed * 1000:.1f} ms")
    size = sum(p.stat().st_size for p in data.iterdir())
    print(f"data dir: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
