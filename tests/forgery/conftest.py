"""The forgery suite runs on both backends: the in-process eth-tester chain and a real anvil node
(where the `ledger verify` command line is run too, against the node's URL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from ledger.chain.anvil import AnvilNode
from ledger.chain.client import ChainClient
from tests.api.conftest import make_env, make_gateway
from tests.forgery.world import World, build_world


@pytest.fixture(
    scope="module", params=["eth-tester", pytest.param("anvil", marks=pytest.mark.anvil)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    data: Path = tmp_path_factory.mktemp(f"forgery-{request.param}")
    if request.param == "eth-tester":
        gw = make_gateway(data)
        try:
            env = make_env(gw)
            yield build_world(env, gw.service.client, None)
        finally:
            gw.close()
        return
    with AnvilNode() as node:
        client = ChainClient(Web3(Web3.HTTPProvider(node.url)))
        gw = make_gateway(data, client=client)
        try:
            env = make_env(gw)
            yield build_world(env, client, node.url)
        finally:
            gw.close()
