"""The embedded chain keeps time with the wall clock while nobody sends a transaction.

Blocks are mined only by transactions; before the fix an idle chain's next block carried the time
its parent was mined, so after 16 idle minutes the contract saw a loan dated now as "issued in
the future". Here the chain and the market are set up with the clock 20 minutes behind, as if the
gateway had then been left idle, and the clock is put right."""

from __future__ import annotations

import time
from pathlib import Path

import eth._utils.headers as evm_headers
import pytest

from ledger.chain.client import ChainClient
from ledger.chain.embedded import STALE_HEAD_SECONDS, open_embedded_chain
from ledger.testing import make_loan, setup_actors

IDLE_SECONDS = 20 * 60


def test_after_twenty_idle_minutes_a_loan_dated_now_is_anchored_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = time.time
    behind = {"time": lambda: real() - IDLE_SECONDS, "eth_now": lambda: int(real()) - IDLE_SECONDS}
    monkeypatch.setattr(time, "time", behind["time"])
    monkeypatch.setattr(evm_headers, "eth_now", behind["eth_now"])  # py-evm's clock
    with open_embedded_chain(tmp_path / "chain") as chain:
        client = ChainClient(chain.w3)
        actors = setup_actors(client)
        assert client.latest_timestamp() < real() - IDLE_SECONDS + 120
        monkeypatch.setattr(time, "time", real)
        monkeypatch.undo()

        client.call(actors.chain.registry.functions.participantCount())
        head = client.latest_timestamp()
        assert real() - STALE_HEAD_SECONDS - 2 <= head <= real() + 2  # an empty block, dated now

        loan, _ = make_loan(actors, "Bank A", "Platform 1")
        assert abs(loan.record.issued_at - real()) <= STALE_HEAD_SECONDS + 2
        anchored = actors.chain.anchor_loan(actors.gateway_account, loan)
        assert abs(anchored.block_time - real()) <= 5
        assert anchored.block_time >= loan.record.issued_at


def test_time_never_goes_back_and_a_busy_chain_mines_no_extra_blocks(tmp_path: Path) -> None:
    with open_embedded_chain(tmp_path / "chain") as chain:
        client = ChainClient(chain.w3)
        actors = setup_actors(client)
        before = client.w3.eth.block_number
        times = [client.latest_timestamp()]
        for _ in range(3):
            client.call(actors.chain.registry.functions.participantCount())
            times.append(client.latest_timestamp())
        assert times == sorted(times)
        # the head was fresh: calls mined nothing
        assert client.w3.eth.block_number == before
