"""The transaction manager against stock anvil nodes: only standard JSON-RPC on the product path,
nonces that survive a restart, stuck transactions replaced, the fee cap honoured (EIP-1559 and
legacy), confirmations waited for. Dev steps (funding, switching mining off, dropping a pending
transaction, mining) use anvil's own methods, through the test's own connection."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from ledger.chain.transactions import GWEI, MemoryTransactionStore, TxPolicy, TxState
from ledger.chain.txlog import SqlTransactionStore
from ledger.errors import FeeCapExceeded
from ledger.receipts import Receipt
from ledger.store import Database
from ledger.testing import setup_actors
from ledger.verify import verify_receipt
from tests.chain.conftest import dev_w3, funded_account, recording_client
from tests.chain.embedded_worker import anchor_one_batch

pytestmark = pytest.mark.anvil


def _transfer(to: str | None = None) -> dict[str, object]:
    return {"to": to or Account.create().address, "value": 1, "gas": 21_000}


def test_product_path_uses_standard_json_rpc_only(anvil_node) -> None:
    """Deploy, register, whitelist, sign, anchor a batch, build and verify receipts on a stock
    anvil: every request is standard JSON-RPC (no eth_accounts, anvil_*, evm_*, hardhat_*)."""
    node = anvil_node()
    client, provider = recording_client(node)
    actors = setup_actors(client)  # funding goes through the dev connection, not `provider`
    issued = anchor_one_batch(actors, 0, size=3)
    for receipt_json, document in issued:
        report = verify_receipt(
            Receipt.model_validate_json(receipt_json), client, trust=None, document=document
        )
        assert report.ok, report
    assert "eth_sendRawTransaction" in provider.methods
    assert provider.non_standard() == set(), sorted(provider.non_standard())
    assert not any(m.startswith(("anvil_", "evm_", "hardhat_")) for m in provider.methods)
    assert "eth_accounts" not in provider.methods


def test_nonce_survives_a_restart_and_what_the_node_lost_is_sent_again(
    anvil_node, tmp_path: Path
) -> None:
    """A pending transaction the node lost (dropped from its pool) is broadcast again from the
    gateway's log by the next process, which numbers its own transaction after it."""
    node = anvil_node()
    account = funded_account(node)
    dev = dev_w3(node)
    db = Database(f"sqlite:///{tmp_path / 'tx.db'}")
    first, _ = recording_client(node, store=SqlTransactionStore(db))
    dev.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    sent = first.transactions.submit(account, _transfer())
    assert sent.nonce == 0
    dev.provider.make_request("anvil_dropTransaction", [sent.tx_hash])  # type: ignore[arg-type]
    assert dev.eth.get_transaction_count(account.address, "pending") == 0

    restarted, provider = recording_client(node, store=SqlTransactionStore(db))  # new process
    second = restarted.transactions.submit(account, _transfer())
    assert second.nonce == 1  # not 0: the log knows nonce 0 was used
    assert dev.eth.get_transaction_count(account.address, "pending") == 2  # nonce 0 is back
    dev.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    for tx in (sent, second):
        assert dev.eth.get_transaction_receipt(tx.tx_hash)["status"] == 1  # type: ignore[arg-type]
    assert provider.non_standard() == set()

    # without the log a new process could only trust the node (here: right again)
    fresh, _ = recording_client(node, store=MemoryTransactionStore())
    assert fresh.transactions.submit(account, _transfer()).nonce == 2


def test_a_stuck_transaction_is_replaced_with_fees_raised_at_least_an_eighth(anvil_node) -> None:
    node = anvil_node()
    account = funded_account(node)
    dev = dev_w3(node)
    policy = TxPolicy(replace_after=0.3, poll_interval=0.05)
    client, provider = recording_client(node, policy=policy)
    dev.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    result: dict[str, object] = {}

    def send() -> None:
        result["receipt"] = client.transactions.send(account, _transfer())

    thread = threading.Thread(target=send)
    thread.start()
    deadline = time.monotonic() + 20
    while len(client.transactions.store.attempts(account.address, 0)) < 3:
        assert time.monotonic() < deadline, "no replacement was sent"
        time.sleep(0.05)
    dev.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    thread.join(20)
    attempts = client.transactions.store.attempts(account.address, 0)
    assert {a.nonce for a in attempts} == {0}
    receipt = result["receipt"]
    mined = [a for a in attempts if a.state == TxState.MINED]
    assert len(mined) == 1
    assert "0x" + bytes(receipt["transactionHash"]).hex() == mined[0].tx_hash  # type: ignore[index]
    for older, newer in itertools.pairwise(attempts):
        assert newer.max_fee_per_gas * 8 >= older.max_fee_per_gas * 9  # type: ignore[operator]
        assert newer.max_priority_fee_per_gas * 8 >= older.max_priority_fee_per_gas * 9  # type: ignore[operator]
    assert all(a.state == TxState.REPLACED for a in attempts if a is not mined[0])
    assert dev.eth.get_transaction_count(account.address, "latest") == 1
    assert provider.non_standard() == set()


def test_the_fee_cap_is_honoured(anvil_node) -> None:
    """A base fee above the cap is refused with a stable code and nothing is sent; under the
    cap, no transaction offers more than the cap per gas."""
    node = anvil_node("--block-base-fee-per-gas", str(50 * GWEI))
    account = funded_account(node, 10**20)
    low, _ = recording_client(node, policy=TxPolicy(max_fee_per_gas=10 * GWEI))
    with pytest.raises(FeeCapExceeded) as refused:
        low.transactions.send(account, _transfer())
    assert refused.value.code == "CHAIN_FEE_CAP_EXCEEDED"
    assert dev_w3(node).eth.get_transaction_count(account.address, "pending") == 0

    cap = 60 * GWEI
    capped, provider = recording_client(node, policy=TxPolicy(max_fee_per_gas=cap))
    receipt = capped.transactions.send(account, _transfer())
    tx = dev_w3(node).eth.get_transaction(receipt["transactionHash"])
    assert tx["maxFeePerGas"] <= cap  # 2 * base + tip would be > 80 gwei
    assert tx["maxFeePerGas"] > int(
        dev_w3(node).eth.get_block(receipt["blockNumber"])["baseFeePerGas"]
    )
    assert provider.non_standard() == set()


def test_a_node_without_base_fee_gets_a_legacy_gas_price_under_the_cap(anvil_node) -> None:
    node = anvil_node("--hardfork", "berlin")
    account = funded_account(node)
    assert dev_w3(node).eth.get_block("latest").get("baseFeePerGas") is None
    client, _ = recording_client(node)
    receipt = client.transactions.send(account, _transfer())
    tx = dev_w3(node).eth.get_transaction(receipt["transactionHash"])
    assert tx["type"] == 0 and "maxFeePerGas" not in tx
    price = int(dev_w3(node).eth.gas_price)
    below, _ = recording_client(node, policy=TxPolicy(max_fee_per_gas=price - 1))
    with pytest.raises(FeeCapExceeded):
        below.transactions.send(account, _transfer())


def test_confirmations_are_waited_for(anvil_node) -> None:
    """On a node with a block time, `send` returns once the block has 2 blocks on top."""
    node = anvil_node("--block-time", "1")
    account = funded_account(node)
    client, provider = recording_client(node, policy=TxPolicy(confirmations=2))
    started = time.monotonic()
    receipt = client.transactions.send(account, _transfer())
    waited = time.monotonic() - started
    head = int(Web3(Web3.HTTPProvider(node.url)).eth.block_number)
    assert head >= receipt["blockNumber"] + 2
    assert waited >= 1.5  # at least two more blocks at one a second
    assert provider.non_standard() == set()


def test_a_transaction_a_reorganization_takes_before_its_confirmations_is_sent_again(
    anvil_node,
) -> None:
    """Mined, then gone before its 3 confirmations (anvil's revert to a snapshot taken before
    it): the manager notices, broadcasts the same bytes again and returns only once that
    inclusion has its confirmations."""
    node = anvil_node("--block-time", "1")
    account = funded_account(node)
    dev = dev_w3(node)
    client, provider = recording_client(node, policy=TxPolicy(confirmations=3))
    snapshot = dev.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    result: dict[str, object] = {}
    thread = threading.Thread(
        target=lambda: result.update(receipt=client.transactions.send(account, _transfer()))
    )
    thread.start()
    deadline = time.monotonic() + 20
    while "eth_blockNumber" not in provider.methods:  # the receipt is seen: counting blocks
        assert time.monotonic() < deadline, "never mined"
        time.sleep(0.02)
    attempts = client.transactions.store.attempts(account.address, 0)
    first_block = dev.eth.get_transaction_receipt(attempts[0].tx_hash)["blockNumber"]  # type: ignore[arg-type]
    assert dev.provider.make_request("evm_revert", [snapshot])["result"] is True  # type: ignore[arg-type]
    assert "receipt" not in result
    thread.join(30)
    receipt = result["receipt"]
    assert "0x" + bytes(receipt["transactionHash"]).hex() == attempts[0].tx_hash  # type: ignore[index]
    assert dev.eth.get_transaction_receipt(attempts[0].tx_hash)["blockHash"] == receipt["blockHash"]  # type: ignore[arg-type,index]
    assert dev.eth.block_number >= receipt["blockNumber"] + 3  # type: ignore[index]
    assert first_block is not None
    assert provider.non_standard() == set()
