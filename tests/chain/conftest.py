"""Fixtures of the chain suite: anvil nodes as an operator would run them (stock settings, or a
block time), a provider that records every JSON-RPC method the product sends, and dev funding
kept apart from it (the one step that uses the node's unlocked account)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.providers import HTTPProvider
from web3.types import RPCEndpoint, RPCResponse

from ledger.chain import devnode
from ledger.chain.anvil import AnvilNode
from ledger.chain.client import ChainClient
from ledger.chain.transactions import TransactionStore, TxPolicy

#: what the product may send to a node: standard Ethereum JSON-RPC (execution API) only
STANDARD_METHODS = frozenset(
    {
        "eth_chainId",
        "net_version",
        "web3_clientVersion",
        "eth_blockNumber",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getTransactionCount",
        "eth_getBalance",
        "eth_getCode",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_feeHistory",
        "eth_estimateGas",
        "eth_call",
        "eth_sendRawTransaction",
        "eth_getTransactionByHash",
        "eth_getTransactionReceipt",
        "eth_getLogs",
    }
)


class RecordingProvider(HTTPProvider):
    """An HTTP provider that remembers the method of every request it sends."""

    def __init__(self, url: str) -> None:
        super().__init__(url, request_kwargs={"timeout": 60})
        self.methods: list[str] = []

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        self.methods.append(str(method))
        return super().make_request(method, params)

    def make_batch_request(self, requests: list[tuple[RPCEndpoint, Any]]) -> Any:
        self.methods.extend(str(m) for m, _ in requests)
        return super().make_batch_request(requests)

    def non_standard(self) -> set[str]:
        return set(self.methods) - STANDARD_METHODS


class DevFundedClient(ChainClient):
    """A product client whose dev funding goes through another connection (not recorded)."""

    def __init__(self, w3: Web3, funder: Web3, **kwargs: Any) -> None:
        super().__init__(w3, **kwargs)
        self._funder = funder

    def fund(self, address: str, wei: int) -> None:
        devnode.fund(self._funder, address, wei)


@pytest.fixture
def anvil_node() -> Iterator[Callable[..., AnvilNode]]:
    """Starts anvil nodes with anvil's own defaults (no hardfork or balance override) plus the
    given arguments (`--block-time 1`...); all are stopped at the end of the test."""
    nodes: list[AnvilNode] = []

    def start(*extra_args: str) -> AnvilNode:
        node = AnvilNode(hardfork=None, balance_eth=None, extra_args=extra_args).start()
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.stop()


def dev_w3(node: AnvilNode) -> Web3:
    """A plain connection for the test's own dev steps (funding, mining, snapshots)."""
    return Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))


def funded_account(node: AnvilNode, wei: int = 10**19) -> LocalAccount:
    """A fresh key with gas money from the dev node's unlocked account."""
    account: LocalAccount = Account.create()
    devnode.fund(dev_w3(node), account.address, wei)
    return account


def recording_client(
    node: AnvilNode, policy: TxPolicy | None = None, store: TransactionStore | None = None
) -> tuple[DevFundedClient, RecordingProvider]:
    provider = RecordingProvider(node.url)
    client = DevFundedClient(Web3(provider), dev_w3(node), policy=policy, store=store)
    return client, provider
