"""SIGKILL the real gateway (`ledger serve`, on the backend's chain and database) during a burst of
submissions; after a restart every acknowledged record is anchored exactly once and verifies.

"Acknowledged" = the funder's confirm returned 200 with a signed entry timestamp: the gateway's
promise to anchor. Exactly once is checked on the chain itself after the last stop: the record
counts of all `BatchAnchored` events add up to the number of anchored records, and every root is
one the gateway recorded.
"""

from __future__ import annotations

import json
import random
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.chain.client import ChainClient
from ledger.chain.embedded import open_embedded_chain
from ledger.store import Database, SubmissionRow
from ledger.testing import loan_submission
from tests import backends
from tests.process.gateway_process import (
    GatewayProcess,
    auth,
    bank_and_platform,
    submit_and_confirm,
)

pytestmark = pytest.mark.slow


def _loan(funder_id: int, now: int, n: int) -> dict[str, Any]:
    body, _ = loan_submission(
        funder_id, now, principal=1_000_000 + n, months=6, document=f"agreement {n}".encode()
    )
    return body


def test_every_acknowledged_record_is_anchored_exactly_once_after_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "gw"
    server = GatewayProcess(data)
    regulator = server.regulator_key()
    http = httpx.Client(base_url=server.base, timeout=30)
    bank, platform = bank_and_platform(http, regulator)
    now = int(http.get("/healthz").json()["time"])

    acknowledged: list[str] = []
    stop = threading.Event()
    counter = iter(range(1, 10_000))

    def burst(base: str) -> None:
        client = httpx.Client(base_url=base, timeout=10)
        while not stop.is_set():
            body = _loan(bank["participant"]["id"], now, next(counter))
            try:
                done = submit_and_confirm(
                    client, client, body, platform["api_key"], bank["api_key"]
                )
                if done:
                    acknowledged.append(done)
            except httpx.HTTPError:
                return  # the server died under us: whatever was acknowledged counts

    rng = random.Random(7)
    for _round in range(2):
        stop.clear()
        worker = threading.Thread(target=burst, args=(server.base,))
        worker.start()
        target = len(acknowledged) + 8
        deadline = time.time() + 60
        while len(acknowledged) < target and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.4))
        server.kill()  # SIGKILL, mid-burst
        stop.set()
        worker.join(timeout=30)
        server = GatewayProcess(data)
        http = httpx.Client(base_url=server.base, timeout=30)

    assert len(acknowledged) >= 16
    # every acknowledged record gets anchored after the restart, and verifies
    deadline = time.time() + 60
    pending = set(acknowledged)
    while pending and time.time() < deadline:
        pending = {
            r
            for r in pending
            if http.get(f"/v1/loans/{r}", headers=auth(regulator)).json()["status"] != "anchored"
        }
        time.sleep(0.3)
    assert not pending, f"{len(pending)} acknowledged records never anchored"
    for record_id in acknowledged:
        receipt = http.get(
            f"/v1/loans/{record_id}/receipt", headers=auth(platform["api_key"])
        ).json()
        report = http.post("/v1/verify", json={"receipt": receipt}).json()
        assert report["ok"], report
    server.stop()

    # exactly once, on the chain itself
    db = Database(server.db_url)
    with db.session() as s:
        anchored = {
            r.record_id: r.batch_root
            for r in s.query(SubmissionRow).filter(SubmissionRow.status == "anchored")
        }
    assert set(acknowledged) <= set(anchored)
    deployment = json.loads(next((data / "deployments").glob("*.json")).read_text())
    with ExitStack() as stack:
        if backends.CHAIN == "embedded":
            client = ChainClient(stack.enter_context(open_embedded_chain(data / "chain")).w3)
        else:
            client = backends.chain_client()
        ledger = client.contract("EvidenceLedger", deployment["ledger"])
        events = ledger.events.BatchAnchored().get_logs(
            from_block=deployment["block_number"], to_block="latest"
        )
    roots = {"0x" + bytes(e["args"]["root"]).hex(): int(e["args"]["recordCount"]) for e in events}
    batched = [root for root in anchored.values() if root is not None]
    assert sum(roots.values()) == len(batched), "some record was anchored in more than one batch"
    assert set(batched) == set(roots), "a root on chain is not the root of any stored record"
