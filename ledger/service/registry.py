"""The registry view: the contracts' state rebuilt from their events, kept in memory, tagged with
the block it reflects — what admission checks the rules against, with no chain read per request.

In `ledger serve` a background thread follows the chain every `follow_interval` seconds, so a
whitelist or status change made by anyone on chain is in the view within a block or so; the
gateway's own registry transactions are applied at once. A library user that runs no background
thread gets a view brought up to date on each use instead.

The same state answers verification (`ledger.verify.SnapshotChainFacts`): one view, one truth.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from ledger.chain.client import ChainClient, node_unreachable
from ledger.chain.deploy import Deployment
from ledger.chain.rpc import Rpc
from ledger.chain.state import RegistryState
from ledger.verify import SnapshotChainFacts

__all__ = ["RegistryFollower"]

log = logging.getLogger(__name__)


class RegistryFollower:
    """The deployment's state, following the chain (see the module docstring)."""

    def __init__(
        self,
        client: ChainClient,
        deployment: Deployment,
        chain_lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.client = client
        self.deployment = deployment
        self._chain_lock: AbstractContextManager[Any] = chain_lock or nullcontext()
        self._facts: SnapshotChainFacts | None = None
        self._rpc = Rpc(client)
        self._hash: str | None = None  # of the view's block: a reorganization changes it
        self._following = threading.Lock()
        self._background = False

    # ------------------------------------------------------------------ reading

    def facts(self) -> SnapshotChainFacts:
        """The state (loaded on first use); brought up to the head first unless a background
        thread keeps it there. A node that does not answer leaves the last view: admission
        does not need the chain once the view is loaded."""
        if self._facts is None or not self._background:
            try:
                self.follow()
            except Exception as exc:
                if self._facts is None or not node_unreachable(exc):
                    raise
                log.warning(
                    "the node does not answer: the registry view stays at block %d", self.block
                )
        assert self._facts is not None
        return self._facts

    def registry(self) -> RegistryState:
        return self.facts().state

    @property
    def block(self) -> int:
        """The block the view reflects (-1 before it is loaded)."""
        return -1 if self._facts is None else self._facts.block

    @property
    def block_time(self) -> int:
        """The time of that block (0 before it is loaded)."""
        return 0 if self._facts is None else self._facts.head_time

    # ------------------------------------------------------------------ following

    def follow(self) -> int:
        """Applies the events since the view's block; returns how many. A view whose block is
        no longer on the chain (a reorganization replaced it) is rebuilt from the events."""
        with self._following, self._chain_lock:
            if self._facts is not None and self._rpc.block_hash(self._facts.block) != self._hash:
                log.warning(
                    "the registry view's block %d left the chain (reorganization): rebuilding",
                    self._facts.block,
                )
                self._facts = None
            if self._facts is None:
                d = self.deployment
                self._facts = SnapshotChainFacts.load(
                    self.client, d.registry, d.ledger, d.block_number
                )
                self._hash = self._rpc.block_hash(self._facts.block)
                return 0
            block = self._facts.block
            count = self._facts.follow(self.client)
            if self._facts.block != block:
                self._hash = self._rpc.block_hash(self._facts.block)
            return count

    def run(
        self,
        stop: threading.Event,
        interval: float,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """Follows the chain until `stop` is set; errors are reported and retried with backoff."""
        self._background = True
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self.follow()
                    failures = 0
                except Exception as exc:  # the node may be away: keep the last view
                    failures += 1
                    log.warning("following the chain failed (attempt %d): %s", failures, exc)
                    if on_error is not None:
                        on_error(exc)
                stop.wait(interval if failures == 0 else min(interval * 2**failures, 5.0))
        finally:
            self._background = False

    def wait_for(self, block: int, timeout: float = 10.0) -> None:
        """Returns once the view reflects `block` (a transaction this gateway just sent)."""
        deadline = time.monotonic() + timeout
        while self.block < block and time.monotonic() < deadline:
            self.follow()
