"""The test backends themselves: isolation between tests, and the AnvilNode context manager."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from web3 import Web3

from ledger.chain.anvil import DEFAULT_CHAIN_ID, AnvilNode, find_anvil_binary
from ledger.chain.client import ChainClient
from ledger.errors import ChainError, ConfigurationError

from .conftest import Env

_seen_heads: dict[str, tuple[int, int]] = {}


@pytest.mark.parametrize("round_", range(3))
def test_every_test_starts_from_the_same_state(backend: Env, round_: int) -> None:
    head = (backend.w3.eth.block_number, backend.now())
    assert _seen_heads.setdefault(backend.kind, head) == head
    assert head[1] == backend.base_time
    assert backend.call(backend.ledger.functions.batchCount()) == 0
    assert backend.call(backend.registry.functions.participantCount()) == 8
    # leave state and time behind for the next round to (not) see
    backend.anchor_batch([backend.make_loan()])
    backend.advance(10**6)
    backend.suspend(backend.platform)


def test_block_times_advance_one_second_per_transaction(backend: Env) -> None:
    start = backend.now()
    assert backend.sim_time() == (start if backend.kind == "anvil" else start + 1)
    times = [backend.block_time(backend.suspend(backend.platform)) for _ in range(3)]
    assert times == [start + 1, start + 2, start + 3]


# ------------------------------------------------------------------------------ AnvilNode


@pytest.mark.anvil
def test_anvil_node_lifecycle() -> None:
    node = AnvilNode()
    with pytest.raises(ChainError):
        _ = node.url  # not started
    with node:
        assert node.running
        assert node.url.startswith("http://127.0.0.1:")
        w3 = Web3(Web3.HTTPProvider(node.url))
        assert w3.eth.chain_id == DEFAULT_CHAIN_ID
        assert node.rpc("eth_chainId") == hex(DEFAULT_CHAIN_ID)
        client = ChainClient(w3)
        account = client.new_funded_account()
        assert w3.eth.get_balance(account.address) == 10**21
        pid = node.pid
        assert pid is not None
    assert not node.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the process is gone
    node.stop()  # idempotent


@pytest.mark.anvil
def test_anvil_node_is_killed_when_the_body_raises() -> None:
    node = AnvilNode(chain_id=1337)
    with pytest.raises(RuntimeError), node:
        assert Web3(Web3.HTTPProvider(node.url)).eth.chain_id == 1337
        pid = node.pid
        raise RuntimeError("test failure inside the context")
    assert not node.running
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.anvil
def test_two_nodes_get_different_ports() -> None:
    with AnvilNode() as a, AnvilNode() as b:
        assert a.port != b.port


@pytest.mark.anvil
def test_find_anvil_binary() -> None:
    binary = find_anvil_binary()
    assert binary.is_file() and os.access(binary, os.X_OK)
    assert find_anvil_binary(Path("/")) == binary  # falls back to this repository's node_modules


def test_missing_binary_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ANVIL_BIN", str(tmp_path / "no-such-anvil"))
    with pytest.raises(ConfigurationError):
        find_anvil_binary()
    with pytest.raises(ConfigurationError):
        AnvilNode().start()
    with pytest.raises(ConfigurationError):
        AnvilNode(binary=tmp_path / "no-such-anvil").start()


@pytest.mark.anvil
def test_node_that_fails_to_start_raises() -> None:
    with pytest.raises(ChainError, match="did not start"):
        AnvilNode(extra_args=["--no-such-flag"], startup_timeout=5, attempts=1).start()
