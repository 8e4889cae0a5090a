"""How the node looks from here: reachable, which chain, its head block and how far that block's
time is behind the wall clock. Two standard requests (`eth_chainId`, `eth_getBlockByNumber`),
with a short timeout of their own on an HTTP node, so a hung node answers health checks with
"unreachable" in seconds instead of holding them for the provider's whole timeout.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from web3 import Web3
from web3.providers import HTTPProvider

from ledger.chain.client import ChainClient

__all__ = ["ChainHealth", "chain_health"]

#: seconds a health request waits for the node
HEALTH_TIMEOUT = 3.0


@dataclass(frozen=True)
class ChainHealth:
    reachable: bool
    chain_id: int | None = None
    head_block: int | None = None
    #: the head block's timestamp (unix seconds)
    head_time: int | None = None
    #: wall clock minus the head block's time, seconds (a stalled chain grows it)
    lag_seconds: float | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _probe(client: ChainClient, timeout: float) -> Web3:
    """A `Web3` on the same node with a short timeout (HTTP), or the client's own."""
    provider = client.w3.provider
    if isinstance(provider, HTTPProvider) and provider.endpoint_uri:
        cached: Web3 | None = getattr(client, "_health_w3", None)
        if cached is None:
            cached = Web3(
                HTTPProvider(
                    provider.endpoint_uri,
                    request_kwargs={"timeout": timeout},
                    exception_retry_configuration=None,  # one try: a hung node is "unreachable"
                )
            )
            client._health_w3 = cached  # type: ignore[attr-defined]
        return cached
    return client.w3


def chain_health(
    client: ChainClient, *, timeout: float = HEALTH_TIMEOUT, now: float | None = None
) -> ChainHealth:
    """The node's state; never raises (an unreachable node is `reachable=False` with why)."""
    w3 = _probe(client, timeout)
    try:
        chain_id = int(w3.eth.chain_id)
        head = w3.eth.get_block("latest")
    except Exception as exc:  # connection refused, timeout, an error answer: all "unreachable"
        return ChainHealth(reachable=False, error=f"{type(exc).__name__}: {exc}"[:300])
    head_time = int(head["timestamp"])
    wall = time.time() if now is None else now
    return ChainHealth(
        reachable=True,
        chain_id=chain_id,
        head_block=int(head["number"]),
        head_time=head_time,
        lag_seconds=round(wall - head_time, 3),
    )
