"""A gateway stand-in for the SIGKILL tests of `ledger.chain.embedded`.

    python tests/chain/embedded_worker.py DATA_DIR [SETUP_JSON]

Opens the embedded chain in DATA_DIR. Without SETUP_JSON it deploys and registers everyone
(`setup_actors`) and prints `{"setup": ...}` (every key, so another process can carry on);
with it, it reuses that deployment. Then it anchors batches forever, printing one line
`{"receipt": ..., "document": hex}` per receipt, flushed, only after the anchoring transaction
has returned -- i.e. every printed receipt was acknowledged to a client.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from eth_account import Account

from ledger.anchoring import EvidenceChain
from ledger.chain.client import ChainClient
from ledger.chain.deploy import Deployment
from ledger.chain.embedded import open_embedded_chain
from ledger.signing import LocalSigner
from ledger.testing import Actors, make_loan, promise, setup_actors
from ledger.timestamps import GatewayKey

PAIRS = [("Bank A", "Platform 2"), ("Bank B", "Platform 2"), ("CF Co", "Platform 3")]


def dump_actors(actors: Actors) -> dict[str, Any]:
    """Everything needed to rebuild `actors` in another process."""
    return {
        "deployment": asdict(actors.deployment),
        "regulator": actors.regulator.private_key.hex(),
        "gateway_account": bytes(actors.gateway_account.key).hex(),
        "gateway_key": actors.gateway_key.seed.hex(),
        "signers": {str(pid): s.private_key.hex() for pid, s in actors.signers.items()},
        "ids": actors.ids,
        "commitment_key": actors.commitment_key.hex(),
    }


def load_actors(client: ChainClient, data: dict[str, Any]) -> Actors:
    deployment = Deployment(**data["deployment"])
    regulator = LocalSigner.from_hex(data["regulator"])
    return Actors(
        client=client,
        deployment=deployment,
        chain=EvidenceChain(client, deployment),
        regulator=regulator,
        regulator_account=Account.from_key(regulator.private_key),
        gateway_account=Account.from_key(bytes.fromhex(data["gateway_account"])),
        gateway_key=GatewayKey.from_seed(bytes.fromhex(data["gateway_key"])),
        signers={int(pid): LocalSigner.from_hex(k) for pid, k in data["signers"].items()},
        ids=dict(data["ids"]),
        commitment_key=bytes.fromhex(data["commitment_key"]),
    )


def anchor_one_batch(actors: Actors, n: int, size: int = 2) -> list[tuple[str, bytes]]:
    """Anchors a batch of `size` fresh loans; returns (receipt JSON, agreement document) pairs."""
    loans, documents = [], []
    for i in range(size):
        funder, platform = PAIRS[(n + i) % len(PAIRS)]
        loan, document = make_loan(actors, funder, platform)
        loans.append(promise(actors, loan))
        documents.append(document)
    batch = actors.chain.anchor_batch(actors.gateway_account, loans)
    receipts = actors.chain.batch_receipts(batch)
    return [(r.to_json(), d) for r, d in zip(receipts, documents, strict=True)]


def emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> None:
    chain = open_embedded_chain(Path(argv[1]))
    client = ChainClient(chain.w3)
    if len(argv) > 2:
        actors = load_actors(client, json.loads(Path(argv[2]).read_text(encoding="utf-8")))
    else:
        actors = setup_actors(client)
        emit({"setup": dump_actors(actors)})
    n = 0
    while True:
        for receipt, document in anchor_one_batch(actors, n):
            emit({"receipt": json.loads(receipt), "document": document.hex()})
        n += 1


if __name__ == "__main__":
    main(sys.argv)
