"""Two real gateways (`ledger serve`), each with its own chain account and Ed25519 key, on one
PostgreSQL and one stock anvil (1 s blocks): both accept and anchor; one is SIGKILLed mid-batch;
the other takes over its claimed records once the lease runs out.

Counted on the chain itself: every acknowledged record is anchored, the record counts of all
`BatchAnchored` events add up to the number of batched records (no record in two roots), every
root on chain is the root of stored records, and both gateways anchored batches.
"""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from sqlalchemy import func, select
from web3 import Web3

from ledger.chain.anvil import AnvilNode
from ledger.chain.client import ChainClient
from ledger.store import Database, SubmissionRow
from ledger.testing import funded_key_file, loan_submission
from tests import backends
from tests.process.gateway_process import (
    GatewayProcess,
    auth,
    bank_and_platform,
    submit_and_confirm,
)

pytestmark = pytest.mark.slow

LEASE_SECONDS = 4


@backends.own_services_only
def test_two_gateways_share_a_database_and_lose_or_duplicate_nothing(
    anvil: AnvilNode,
    fresh_postgres_url: str,
    tmp_path: Path,
) -> None:
    client = ChainClient(Web3(Web3.HTTPProvider(anvil.url)))
    keys = {name: tmp_path / f"{name}.key" for name in ("deployer", "a", "b")}
    addresses = {name: funded_key_file(client, path) for name, path in keys.items()}
    shared = {"LEDGER_MASTER_KEY": secrets.token_hex(32)}
    common = ["--chain", anvil.url, "--db", fresh_postgres_url, "--claim-lease", str(LEASE_SECONDS)]
    a = GatewayProcess(
        tmp_path / "a",
        *common,
        "--deployer-key",
        str(keys["deployer"]),
        "--account-key",
        str(keys["a"]),
        env=shared,
    )
    b = GatewayProcess(tmp_path / "b", *common, "--account-key", str(keys["b"]), env=shared)
    regulator = a.regulator_key()
    assert "Regulator API key" not in b.log.read_text()  # the second one found the deployment
    http = httpx.Client(base_url=a.base, timeout=60)
    bank, platform = bank_and_platform(http, regulator)
    funder_id = bank["participant"]["id"]
    # the regulator's key works on both gateways: one regulator row, not overwritten
    assert httpx.get(f"{b.base}/v1/participants", headers=auth(regulator)).status_code == 200
    # both gateways sign for the regulator's account at once: one nonce each, no conflict
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(
                lambda n: httpx.post(
                    f"{(a, b)[n % 2].base}/v1/participants",
                    json={"role": "platform", "name": f"Extra {n}"},
                    headers=auth(regulator),
                    timeout=120,
                ),
                range(6),
            )
        )
    assert [r.status_code for r in answers] == [201] * 6, [r.text for r in answers]
    gateways = {
        p["signer_address"]: p["id"]
        for p in http.get("/v1/participants", headers=auth(regulator)).json()
        if p["role"] == "gateway"
    }
    assert set(gateways) == {addresses["a"], addresses["b"]}
    gateway_ids, b_id = set(gateways.values()), gateways[addresses["b"]]
    now = client.latest_timestamp()

    # idempotency across gateways: one loan sent to both is one record
    body = _body(funder_id, now, 0)
    first = httpx.post(f"{a.base}/v1/loans", json=body, headers=auth(platform["api_key"]))
    again = httpx.post(f"{b.base}/v1/loans", json=body, headers=auth(platform["api_key"]))
    assert first.status_code == 202 and again.status_code in (200, 202), again.text
    assert again.json()["record_id"] == first.json()["record_id"] and again.json()["duplicate"]

    acknowledged: list[str] = [first.json()["record_id"]]
    assert (
        httpx.post(
            f"{b.base}/v1/loans/{acknowledged[0]}/confirm", headers=auth(bank["api_key"])
        ).status_code
        == 200
    )
    counter = itertools.count(1)
    stop = threading.Event()

    def burst(submit_to: str, confirm_at: str) -> None:
        submitter = httpx.Client(base_url=submit_to, timeout=30)
        confirmer = httpx.Client(base_url=confirm_at, timeout=30)
        while not stop.is_set():
            body = _body(funder_id, now, next(counter))
            try:
                done = submit_and_confirm(
                    submitter, confirmer, body, platform["api_key"], bank["api_key"]
                )
                if done:
                    acknowledged.append(done)
            except httpx.HTTPError:
                if not b.alive():
                    return  # the gateway died under us: what was acknowledged counts
                raise

    workers = [
        threading.Thread(target=burst, args=(a.base, b.base)),
        threading.Thread(target=burst, args=(b.base, a.base)),
        threading.Thread(target=burst, args=(b.base, b.base)),
    ]
    for worker in workers:
        worker.start()
    db = Database(fresh_postgres_url)
    deadline = time.time() + 120
    # kill B while it holds claimed records (mid-batch), after both have anchored something
    held = False
    while time.time() < deadline and not held:
        with db.session() as s:
            claimers = set(
                s.execute(
                    select(SubmissionRow.claimed_by).where(SubmissionRow.claimed_by.is_not(None))
                ).scalars()
            )
            batches = s.execute(
                select(func.count(func.distinct(SubmissionRow.batch_root)))
            ).scalar()
        held = len(acknowledged) >= 40 and (batches or 0) >= 4 and b_id in claimers
        if not held:
            time.sleep(0.02)
    b.kill()
    assert held, "B never held a claim with 40 records acknowledged"
    time.sleep(1.5)
    stop.set()
    for worker in workers:
        worker.join(timeout=60)
    assert len(acknowledged) >= 40

    # A finishes or re-queues B's batch once the lease has run out, and anchors the rest
    deadline = time.time() + 120
    while time.time() < deadline:
        with db.session() as s:
            waiting = s.execute(
                select(func.count()).where(SubmissionRow.status == "queued")
            ).scalar_one()
        if waiting == 0:
            break
        time.sleep(0.5)
    assert waiting == 0, f"{waiting} records still queued"
    with db.session() as s:
        rows = s.execute(
            select(SubmissionRow.record_id, SubmissionRow.status, SubmissionRow.batch_root)
        ).all()
    status = {r.record_id: r.status for r in rows}
    lost = [r for r in acknowledged if status.get(r) != "anchored"]
    assert not lost, f"{len(lost)} acknowledged records not anchored"
    print(f"{len(acknowledged)} acknowledged, {len(rows)} stored, all anchored")
    assert len(set(acknowledged)) == len(acknowledged)

    deployment = http.get("/v1/deployment").json()
    ledger = client.contract("EvidenceLedger", deployment["contracts"]["ledger"])
    events = ledger.events.BatchAnchored().get_logs(from_block=0, to_block="latest")
    on_chain = {
        "0x" + bytes(e["args"]["root"]).hex(): int(e["args"]["recordCount"]) for e in events
    }
    batched = [r.batch_root for r in rows if r.status == "anchored" and r.batch_root]
    assert sum(on_chain.values()) == len(batched), "a record was anchored in more than one batch"
    assert set(on_chain) == set(batched), "a root on chain is the root of no stored record"
    assert {int(e["args"]["gatewayId"]) for e in events} == gateway_ids  # both anchored
    for record_id in acknowledged[:: max(1, len(acknowledged) // 10)]:
        receipt = http.get(f"/v1/loans/{record_id}/receipt", headers=auth(regulator)).json()
        report = http.post("/v1/verify", json={"receipt": receipt}).json()
        assert report["ok"], [c for c in report["checks"] if c["status"] != "pass"]
    a.stop()


def _body(funder_id: int, now: int, n: int) -> dict[str, Any]:
    body, _ = loan_submission(
        funder_id, now, principal=1_000_000 + n, months=6, document=f"loan {n}".encode()
    )
    return body


def _serve(data_dir: Path, *args: str) -> str:
    """`ledger serve` expected to refuse to start: its output."""
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "serve", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LEDGER_MASTER_KEY": ""},
    )
    assert done.returncode == 2, done.stderr
    return done.stderr + done.stdout


def test_a_node_gateway_without_keys_says_what_it_needs(anvil: AnvilNode, tmp_path: Path) -> None:
    """On a node nobody funds implicitly: no deployer key, no start — and a clear reason."""
    assert "pass --deployer-key FILE" in _serve(tmp_path, "--chain", anvil.url)
    key = tmp_path / "loose.key"
    key.write_text(Account.create().key.hex())
    key.chmod(0o644)
    said = _serve(tmp_path, "--chain", anvil.url, "--deployer-key", str(key))
    assert "readable by others" in said
    key.chmod(0o600)  # readable by its owner only, but its account holds no ether
    assert "has no ether for gas" in _serve(
        tmp_path, "--chain", anvil.url, "--deployer-key", str(key)
    )
