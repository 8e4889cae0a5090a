"""Every gateway process a test module starts is gone when the module ends, whether its tests
passed or not (a module may share one gateway between its tests); `anvil` is a stock node of the
module's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.chain.anvil import AnvilNode
from tests.process.gateway_process import stop_all


@pytest.fixture(autouse=True, scope="module")
def _no_stray_gateways() -> Iterator[None]:
    yield
    stop_all()


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilNode]:
    """Anvil with stock settings (its own hardfork and balances), a block every second."""
    with AnvilNode(hardfork=None, balance_eth=None, extra_args=["--block-time", "1"]) as node:
        yield node
