"""A gateway on a real anvil node: a batch a reorganization dropped is anchored again and its
receipts rebuilt (the reorganization is anvil's `evm_snapshot`/`evm_revert`, in the test only),
and `/healthz` reports the node, then `degraded` once the node's process is stopped, while the
gateway keeps answering. The queue's deadline is checked on the embedded chain."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from web3 import Web3

from ledger.chain.anvil import AnvilNode
from ledger.chain.client import ChainClient
from ledger.chain.transactions import TxState
from ledger.store import BatchRow, ReceiptRow, SubmissionRow
from ledger.testing import funded_key_file
from tests.api.conftest import Env, auth, make_env, make_gateway
from tests.chain.conftest import RecordingProvider, dev_w3


def _gateway_on(node: AnvilNode, data_dir: Path, client: ChainClient) -> Env:
    """A gateway on `node` as an operator starts one: deployer and gateway keys from files,
    funded beforehand over the test's own connection (so a recording `client` sees none of it)."""
    dev = ChainClient(dev_w3(node))
    keys = {
        name: data_dir / "keys" / f"{name}.hex"
        for name in ("deployer_key_file", "account_key_file")
    }
    for path in keys.values():
        funded_key_file(dev, path)
    return make_env(make_gateway(data_dir, client, **keys))


@pytest.fixture
def on_anvil(tmp_path: Path) -> Iterator[tuple[AnvilNode, Env]]:
    with AnvilNode(hardfork=None, balance_eth=None) as node:  # stock anvil
        # as the gateway's own provider (gateway/app.py): a bounded wait, no retries by web3
        provider = Web3.HTTPProvider(
            node.url, request_kwargs={"timeout": 10}, exception_retry_configuration=None
        )
        env = _gateway_on(node, tmp_path / "gw", ChainClient(Web3(provider)))
        try:
            yield node, env
        finally:
            env.gw.close()


@pytest.mark.anvil
def test_the_gateway_uses_only_standard_json_rpc(tmp_path: Path) -> None:
    """Bootstrap (deploy, register), the cast registered and whitelisted through the API,
    loans submitted, co-signed, anchored and verified: standard JSON-RPC only."""
    with AnvilNode(hardfork=None, balance_eth=None) as node:
        provider = RecordingProvider(node.url)
        env = _gateway_on(node, tmp_path / "gw", ChainClient(Web3(provider)))
        try:
            records = [env.queued_loan() for _ in range(3)]
            env.gw.service.anchor_pending()
            for record_id in records:
                _verifies(env, record_id)
            assert env.http.get("/healthz").json()["status"] == "ok"
        finally:
            env.gw.close()
    assert "eth_sendRawTransaction" in provider.methods
    assert provider.non_standard() == set(), sorted(provider.non_standard())


def _anchor_of(env: Env, record_id: str) -> dict[str, Any]:
    with env.gw.service.db.session() as s:
        row = s.get(SubmissionRow, record_id)
        receipt = s.get(ReceiptRow, record_id)
        batch = s.get(BatchRow, row.batch_root)
        assert row is not None and receipt is not None and batch is not None
        return {
            "root": row.batch_root,
            "tx": row.tx_hash,
            "block": row.block_number,
            "batch_tx": batch.tx_hash,
            "receipt": receipt.receipt_json,
        }


def _verifies(env: Env, record_id: str) -> None:
    receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env["p1"].key)).json()
    report = env.http.post("/v1/verify", json={"receipt": receipt}).json()
    assert report["ok"] is True, json.dumps(report)


def _reorganize(node: AnvilNode, env: Env, count: int = 2) -> tuple[list[str], dict[str, Any]]:
    """Anchors a batch of `count` loans, then takes it off the chain; returns the records and
    the anchor the gateway had stored."""
    snapshot = node.rpc("evm_snapshot")
    records = [env.queued_loan() for _ in range(count)]
    env.gw.service.anchor_pending()
    before = _anchor_of(env, records[0])
    _verifies(env, records[0])
    assert node.rpc("evm_revert", [snapshot]) is True
    root = bytes.fromhex(before["root"][2:])
    assert env.gw.service.chain.batch_anchor(root) is None  # the chain has it no more
    return records, before


@pytest.mark.anvil
def test_a_batch_dropped_by_a_reorganization_is_anchored_again(
    on_anvil: tuple[AnvilNode, Env],
) -> None:
    """The original transaction is broadcast again from the gateway's log (same nonce, same
    bytes) and mined in a new block; every member's receipt is rebuilt and verifies."""
    node, env = on_anvil
    sequencer = env.gw.service.sequencer
    records, before = _reorganize(node, env)
    node.rpc("evm_mine")  # the new branch: a block where the batch used to be
    assert sequencer.check_anchors() == 1
    root = bytes.fromhex(before["root"][2:])
    onchain = env.gw.service.chain.batch_anchor(root)
    assert onchain is not None
    for record_id in records:
        after = _anchor_of(env, record_id)
        assert after["tx"] == after["batch_tx"] == before["tx"]  # the same signed transaction
        assert after["block"] == onchain.block_number != before["block"]
        assert f'"block_number":{onchain.block_number}' in after["receipt"]
        _verifies(env, record_id)
    assert sequencer.check_anchors() == 0  # nothing left to repair


@pytest.mark.anvil
def test_a_dropped_batch_the_node_will_not_take_back_gets_a_new_transaction(
    on_anvil: tuple[AnvilNode, Env],
) -> None:
    node, env = on_anvil
    service = env.gw.service
    records, before = _reorganize(node, env)
    # as if the node had refused the old bytes: the log marks the attempt dropped
    service.client.transactions.store.set_state(before["tx"], TxState.DROPPED)
    assert service.sequencer.check_anchors() == 1
    for record_id in records:
        after = _anchor_of(env, record_id)
        assert after["tx"] == after["batch_tx"] != before["tx"]  # a new anchoring transaction
        _verifies(env, record_id)
    assert service.metrics.errors.get("BATCH_REANCHORED") == 1
    assert env.batch_count() == 1


@pytest.mark.anvil
def test_a_per_record_anchor_dropped_by_a_reorganization_is_mined_again(
    on_anvil: tuple[AnvilNode, Env],
) -> None:
    """The record's `anchorLoan` is broadcast again from the log (same bytes) and mined in a
    new block; its anchor and receipt are rebuilt and verify (before: left anchored with a
    receipt failing the anchor check)."""
    node, env = on_anvil
    snapshot = node.rpc("evm_snapshot")
    record_id = env.queued_loan(anchoring="per-record")
    before = env.status(record_id)
    assert before["status"] == "anchored", before
    assert node.rpc("evm_revert", [snapshot]) is True
    node.rpc("evm_mine")  # the new branch: a block where the anchor used to be
    assert env.gw.service.sequencer.check_anchors() == 1
    after = env.status(record_id)
    assert after["transaction_hash"] == before["transaction_hash"]
    assert after["block_number"] != before["block_number"]
    _verifies(env, record_id)
    assert env.gw.service.sequencer.check_anchors() == 0


@pytest.mark.anvil
def test_healthz_reports_the_node_and_is_degraded_when_it_stops(
    on_anvil: tuple[AnvilNode, Env],
) -> None:
    node, env = on_anvil
    record_id = env.anchored_loan()
    r = env.http.get("/healthz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok" and body["ok"] is True and body["reasons"] == []
    chain = body["checks"]["chain"]
    assert chain["reachable"] is True and chain["chain_id"] == node.chain_id
    head = Web3(Web3.HTTPProvider(node.url)).eth.get_block("latest")
    assert chain["head_block"] == head["number"] and chain["head_time"] == head["timestamp"]
    assert abs(chain["lag_seconds"]) < 60
    assert body["checks"]["batcher"]["oldest_pending_seconds"] == 0

    node.stop()  # the node's process is killed (by its PID)
    started = time.monotonic()
    r = env.http.get("/healthz")
    assert time.monotonic() - started < 5
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "degraded" and body["ok"] is False
    assert body["reasons"] == ["chain unreachable"]
    assert body["checks"]["chain"]["reachable"] is False and body["checks"]["chain"]["error"]
    # the gateway keeps answering from its database, and its batcher only reports the outage
    assert env.status(record_id)["status"] == "anchored"
    with pytest.raises(requests.exceptions.ConnectionError):
        env.gw.service.sequencer.check_anchors()
    assert env.http.get("/healthz").status_code == 503


def test_healthz_is_degraded_when_the_queue_is_past_its_deadline(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, anchor_deadline=1)
    try:
        env = make_env(gw)
        env.queued_loan()
        time.sleep(1.2)
        r = env.http.get("/healthz")
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["status"] == "degraded"
        assert body["reasons"] == ["queue past its anchoring deadline"]
        assert body["checks"]["batcher"]["oldest_pending_seconds"] > 1
        assert body["checks"]["batcher"]["deadline_seconds"] == 1
        assert body["checks"]["chain"]["reachable"] is True
        gw.service.anchor_pending()
        r = env.http.get("/healthz")
        assert r.status_code == 200 and r.json()["status"] == "ok"
    finally:
        gw.close()


@pytest.mark.anvil
def test_loans_are_acknowledged_while_the_node_is_down(
    on_anvil: tuple[AnvilNode, Env],
) -> None:
    """The node's process is gone: a per-record loan is co-signed into the queue (200 `queued`,
    with its entry timestamp) at once instead of failing; a batch loan too; `/healthz` says
    `degraded` with the queue's age; what needs the chain answers 503 CHAIN_UNAVAILABLE in
    the error shape."""
    node, env = on_anvil
    bodies = [
        env.loan_json(funder=env["bank1"], anchoring=anchoring)[0]
        for anchoring in ("per-record", "batch", "per-record")
    ]  # dated by the chain's clock, while it answers
    node.stop()
    started = time.monotonic()
    acknowledged = []
    for body in bodies:
        r = env.post_loan(env["p1"].key, body)
        assert r.status_code == 202, r.text
        c = env.confirm(env["bank1"], r.json()["record_id"])
        assert c.status_code == 200, c.text
        assert c.json()["status"] == "queued" and c.json()["entry_timestamp"], c.json()
        acknowledged.append(c.json()["record_id"])
    assert time.monotonic() - started < 15  # one failed send, then no waiting for the node
    assert env.gw.service.sequencer.node_away
    body = env.http.get("/healthz").json()
    assert body["status"] == "degraded" and body["reasons"] == ["chain unreachable"], body
    assert body["checks"]["batcher"]["queue_depth"] == 3
    assert body["checks"]["batcher"]["oldest_pending_seconds"] > 0
    r = env.http.post(
        "/v1/participants",
        json={"role": "platform", "name": "Later"},
        headers=auth(env.regulator_key),
    )
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "CHAIN_UNAVAILABLE", r.json()
    for record_id in acknowledged:
        assert env.status(record_id)["status"] == "queued"
