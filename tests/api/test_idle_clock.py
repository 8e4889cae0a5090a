"""A gateway on its embedded chain, left idle for 20 minutes, accepts a loan dated by the wall
clock at once: the chain's time follows the wall, not the last transaction's block.

The gateway is opened and its market registered with both clocks (Python's and py-evm's) 20
minutes behind, then the clocks are put right: as if nobody had sent a transaction since."""

from __future__ import annotations

import time
from pathlib import Path

import eth._utils.headers as evm_headers
import pytest

from gateway.app import open_gateway
from gateway.settings import GatewaySettings
from tests.api.conftest import make_env

IDLE_SECONDS = 20 * 60


def test_an_idle_gateway_accepts_a_loan_dated_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - IDLE_SECONDS)
    monkeypatch.setattr(evm_headers, "eth_now", lambda: int(real()) - IDLE_SECONDS)
    gw = open_gateway(GatewaySettings(data_dir=tmp_path / "gw", batch_interval=0.2))
    try:
        env = make_env(gw)
        monkeypatch.undo()
        now = int(real())
        ids = {}
        for anchoring in ("per-record", "batch"):
            body, _ = env.loan_json(issued_at=now, anchoring=anchoring)
            submitted = env.post_loan(env["p1"].key, body)
            assert submitted.status_code == 202, submitted.text
            ids[anchoring] = submitted.json()["record_id"]
            confirmed = env.confirm(env["bank1"], ids[anchoring])
            assert confirmed.status_code == 200, confirmed.text
        # the contract checked the per-record loan at the block's time: now, not 20 minutes ago
        per_record = env.status(ids["per-record"])
        assert per_record["status"] == "anchored", per_record
        assert abs(per_record["block_time"] - now) <= 10
        env.gw.service.anchor_pending()
        batched = env.status(ids["batch"])
        assert batched["status"] == "anchored" and abs(batched["block_time"] - now) <= 10
    finally:
        gw.close()
