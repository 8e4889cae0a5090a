"""The chain facts a verifier needs, from one deployment, read live or from a snapshot.

`LiveChainFacts` asks the node (view calls, transaction receipts, blocks), caching what cannot
change once it has happened (blocks, transactions, batches, past key epochs, past caps): for a
receipt or a few. `SnapshotChainFacts` is the contracts' state rebuilt from their events up to
one block (`ledger.chain.state`), held in memory and picklable: for verifying a year of
receipts in bulk, on every core, with no node call per receipt. Both answer every question the
same way (tests compare them); a snapshot says which block it reflects, so "not revoked" means
"not revoked as of block N".

Only events and state of the two pinned contracts count: logs are filtered by address, so a
look-alike contract's events in the same transaction are ignored.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from ledger.chain.client import ChainClient
from ledger.chain.events import EventDecoder
from ledger.chain.rpc import Rpc, ViewCaller
from ledger.chain.state import (
    AnchoredBatch,
    AnchoredLoan,
    Epoch,
    LedgerState,
    RegistryState,
    Retirement,
    follow_chain,
    load_chain_state,
)
from ledger.hashing import checksum_address, keccak256

__all__ = [
    "AnchorTx",
    "ChainFacts",
    "LiveChainFacts",
    "SnapshotChainFacts",
]

_REGULATOR_ROLE = keccak256(b"REGULATOR_ROLE")


@dataclass(frozen=True, slots=True)
class AnchorTx:
    """What a transaction did to the ledger contract: its block, and the batch roots and records
    the ledger (that address only) said it anchored."""

    block_number: int
    roots: frozenset[bytes]
    record_ids: frozenset[bytes]


class ChainFacts(ABC):
    """Facts about one deployment (`registry`, `ledger`) on one chain."""

    registry: str
    ledger: str

    @abstractmethod
    def chain_id(self) -> int: ...

    @abstractmethod
    def genesis_hash(self) -> str: ...

    @abstractmethod
    def ledger_registry(self) -> str:
        """The registry the ledger contract reads (`EvidenceLedger.registry()`)."""

    @abstractmethod
    def is_regulator(self, address: str) -> bool:
        """Whether `address` holds `REGULATOR_ROLE` in the registry."""

    @abstractmethod
    def epoch_at(self, participant_id: int, at: int) -> Epoch: ...

    @abstractmethod
    def role_of(self, participant_id: int) -> tuple[int, int]: ...

    @abstractmethod
    def rate_cap_at(self, institution_type: int, at: int) -> tuple[bool, int]: ...

    @abstractmethod
    def legacy_cutoff_at(self, at: int) -> int: ...

    @abstractmethod
    def batch(self, root: bytes) -> AnchoredBatch | None: ...

    @abstractmethod
    def per_record_anchor(self, record_id: bytes) -> AnchoredLoan | None: ...

    @abstractmethod
    def anchor_tx(self, tx_hash: bytes) -> AnchorTx | None: ...

    @abstractmethod
    def block_time(self, number: int) -> int | None: ...

    @abstractmethod
    def retirement(self, record_id: bytes) -> Retirement | None: ...

    @abstractmethod
    def violation_of(self, record_id: bytes) -> bytes:
        """The selector of the rule proven broken, or four zero bytes."""

    def as_of(self) -> str:
        """Which state of the chain the answers reflect."""
        return "the latest block"


class _Lru:
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def get(self, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = load()
        self._items[key] = value
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return value

    def forget(self, key: tuple[Any, ...]) -> None:
        self._items.pop(key, None)


class LiveChainFacts(ChainFacts):
    """Reads the node with plain JSON-RPC (`ledger.chain.rpc`); caches immutable facts (at most
    `cache_size` of them)."""

    def __init__(
        self, client: ChainClient, registry: str, ledger: str, *, cache_size: int = 200_000
    ) -> None:
        self.client = client
        self.registry = checksum_address(registry)
        self.ledger = checksum_address(ledger)
        self._rpc = Rpc(client)
        self._registry = ViewCaller(client, "ParticipantRegistry", self.registry)
        self._ledger = ViewCaller(client, "EvidenceLedger", self.ledger)
        self._decoder = EventDecoder({"EvidenceLedger": self.ledger})
        self._cache = _Lru(cache_size)

    @classmethod
    def for_ledger(cls, client: ChainClient, ledger: str) -> LiveChainFacts:
        """Facts of the deployment of `ledger`, with the registry that ledger itself reads."""
        (registry,) = ViewCaller(client, "EvidenceLedger", ledger).call("registry")
        return cls(client, str(registry), ledger)

    def _cached(self, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
        return self._cache.get(key, load)

    def chain_id(self) -> int:
        return int(self._cached(("chain_id",), self._rpc.chain_id))

    def genesis_hash(self) -> str:
        return str(self._cached(("genesis",), lambda: self._rpc.block_hash(0)))

    def ledger_registry(self) -> str:
        return str(
            self._cached(
                ("ledger_registry",),
                lambda: checksum_address(str(self._ledger.call("registry")[0])),
            )
        )

    def is_regulator(self, address: str) -> bool:
        return bool(self._registry.call("hasRole", _REGULATOR_ROLE, checksum_address(address))[0])

    def epoch_at(self, participant_id: int, at: int) -> Epoch:
        def load() -> Epoch:
            ((signer, key, status, valid_from),) = self._registry.call(
                "epochAt", participant_id, at
            )
            return Epoch(checksum_address(str(signer)), bytes(key), int(status), int(valid_from))

        result: Epoch = self._cached(("epoch", participant_id, at), load)
        return result

    def role_of(self, participant_id: int) -> tuple[int, int]:
        role, institution = self._cached(
            ("role", participant_id), lambda: self._registry.call("roleOf", participant_id)
        )
        return int(role), int(institution)

    def rate_cap_at(self, institution_type: int, at: int) -> tuple[bool, int]:
        found, cap = self._cached(
            ("cap", institution_type, at),
            lambda: self._registry.call("rateCapAt", institution_type, at),
        )
        return bool(found), int(cap)

    def legacy_cutoff_at(self, at: int) -> int:
        return int(
            self._cached(("cutoff", at), lambda: self._registry.call("legacyCutoffAt", at)[0])
        )

    def batch(self, root: bytes) -> AnchoredBatch | None:
        def load() -> AnchoredBatch | None:
            ((gateway_id, anchored_at, block_number, count),) = self._ledger.call("batch", root)
            if int(anchored_at) == 0:
                return None
            return AnchoredBatch(
                int(gateway_id), int(anchored_at), int(block_number), int(count), b""
            )

        found: AnchoredBatch | None = self._cached(("batch", root), load)
        if found is None:
            self._cache.forget(("batch", root))  # not yet anchored: ask again next time
        return found

    def _record_state(self, record_id: bytes) -> tuple[Any, ...]:
        ((status, anchored_at, retired_at, reason, successor),) = self._ledger.call(
            "recordState", record_id
        )
        return int(status), int(anchored_at), int(retired_at), int(reason), bytes(successor)

    def per_record_anchor(self, record_id: bytes) -> AnchoredLoan | None:
        status, anchored_at, *_ = self._record_state(record_id)
        return None if status == 0 else AnchoredLoan(anchored_at, -1, b"")

    def anchor_tx(self, tx_hash: bytes) -> AnchorTx | None:
        def load() -> AnchorTx | None:
            receipt = self._rpc.receipt(tx_hash)
            if receipt is None:
                return None
            block = (
                int(receipt["blockNumber"], 16)
                if isinstance(receipt["blockNumber"], str)
                else int(receipt["blockNumber"])
            )
            status = receipt.get("status")
            if status is not None and int(str(status), 0) != 1:
                return AnchorTx(block, frozenset(), frozenset())
            roots: set[bytes] = set()
            records: set[bytes] = set()
            for entry in receipt.get("logs") or []:
                decoded = self._decoder.decode(entry)
                if decoded is None:
                    continue
                _, name, args = decoded
                if name == "BatchAnchored":
                    roots.add(bytes(args["root"]))
                elif name == "LoanAnchored":
                    records.add(bytes(args["recordId"]))
            return AnchorTx(block, frozenset(roots), frozenset(records))

        found: AnchorTx | None = self._cached(("tx", tx_hash), load)
        if found is None:
            self._cache.forget(("tx", tx_hash))
        return found

    def block_time(self, number: int) -> int | None:
        found: int | None = self._cached(("block", number), lambda: self._rpc.block_time(number))
        if found is None:
            self._cache.forget(("block", number))
        return found

    def retirement(self, record_id: bytes) -> Retirement | None:
        status, _, retired_at, reason, successor = self._record_state(record_id)
        if status not in (2, 3):
            return None
        return Retirement(status, retired_at, reason, successor)

    def violation_of(self, record_id: bytes) -> bytes:
        return bytes(self._ledger.call("violationOf", record_id)[0])


class SnapshotChainFacts(ChainFacts):
    """The deployment's state as of one block, in memory (see the module docstring).

    `load` reads every event of both contracts from the deployment block; `follow` applies the
    events since, so a long-lived snapshot (the gateway's) stays current cheaply."""

    def __init__(
        self,
        *,
        chain_id: int,
        genesis_hash: str,
        registry: str,
        ledger: str,
        ledger_registry: str,
        registry_state: RegistryState,
        ledger_state: LedgerState,
    ) -> None:
        self._chain_id = chain_id
        self._genesis = genesis_hash
        self.registry = to_checksum_address(registry)
        self.ledger = to_checksum_address(ledger)
        self._ledger_registry = ledger_registry
        self.state = registry_state
        self.ledger_state = ledger_state
        self._times: dict[int, int] = {}
        self._txs: dict[bytes, AnchorTx] = {}
        self._index(list(ledger_state.batches.items()), list(ledger_state.loans.items()))

    def _index(
        self,
        batches: list[tuple[bytes, AnchoredBatch]],
        loans: list[tuple[bytes, AnchoredLoan]],
    ) -> None:
        grouped: dict[bytes, tuple[int, set[bytes], set[bytes]]] = {}
        for root, b in batches:
            self._times[b.block_number] = b.anchored_at
            grouped.setdefault(b.transaction_hash, (b.block_number, set(), set()))[1].add(root)
        for record_id, loan in loans:
            self._times[loan.block_number] = loan.anchored_at
            grouped.setdefault(loan.transaction_hash, (loan.block_number, set(), set()))[2].add(
                record_id
            )
        for tx_hash, (block, roots, records) in grouped.items():
            known = self._txs.get(tx_hash)
            if known is not None:
                roots |= known.roots
                records |= known.record_ids
            self._txs[tx_hash] = AnchorTx(block, frozenset(roots), frozenset(records))

    @classmethod
    def load(
        cls,
        client: ChainClient,
        registry: str,
        ledger: str,
        from_block: int,
        *,
        to_block: int | None = None,
    ) -> SnapshotChainFacts:
        """Reads the events of both contracts up to `to_block` (default: the head)."""
        head = int(client.w3.eth.block_number) if to_block is None else to_block
        reg, led = load_chain_state(client, registry, ledger, from_block, head)
        live = LiveChainFacts(client, registry, ledger)
        return cls(
            chain_id=client.chain_id,
            genesis_hash=live.genesis_hash(),
            registry=registry,
            ledger=ledger,
            ledger_registry=live.ledger_registry(),
            registry_state=reg,
            ledger_state=led,
        )

    def follow(self, client: ChainClient, to_block: int | None = None) -> int:
        """Applies the events after the snapshot's block up to `to_block` (default: the head);
        returns how many there were."""
        head = int(client.w3.eth.block_number) if to_block is None else to_block
        start = self.ledger_state.block + 1
        if head < start:
            return 0
        events = follow_chain(
            client, self.registry, self.ledger, self.state, self.ledger_state, start, head
        )
        batches = [
            (bytes(e.args["root"]), self.ledger_state.batches[bytes(e.args["root"])])
            for e in events
            if e.name == "BatchAnchored"
        ]
        loans = [
            (bytes(e.args["recordId"]), self.ledger_state.loans[bytes(e.args["recordId"])])
            for e in events
            if e.name == "LoanAnchored"
        ]
        self._index(batches, loans)
        return len(events)

    @property
    def block(self) -> int:
        return self.ledger_state.block

    def as_of(self) -> str:
        return f"block {self.ledger_state.block}"

    def chain_id(self) -> int:
        return self._chain_id

    def genesis_hash(self) -> str:
        return self._genesis

    def ledger_registry(self) -> str:
        return self._ledger_registry

    def is_regulator(self, address: str) -> bool:
        return self.state.has_role(_REGULATOR_ROLE, to_checksum_address(address))

    def epoch_at(self, participant_id: int, at: int) -> Epoch:
        return self.state.epoch_at(participant_id, at)

    def role_of(self, participant_id: int) -> tuple[int, int]:
        return self.state.role_of(participant_id)

    def rate_cap_at(self, institution_type: int, at: int) -> tuple[bool, int]:
        return self.state.rate_cap_at(institution_type, at)

    def legacy_cutoff_at(self, at: int) -> int:
        return self.state.legacy_cutoff_at(at)

    def batch(self, root: bytes) -> AnchoredBatch | None:
        return self.ledger_state.batches.get(root)

    def per_record_anchor(self, record_id: bytes) -> AnchoredLoan | None:
        return self.ledger_state.loans.get(record_id)

    def anchor_tx(self, tx_hash: bytes) -> AnchorTx | None:
        return self._txs.get(tx_hash)

    def block_time(self, number: int) -> int | None:
        return self._times.get(number)

    def retirement(self, record_id: bytes) -> Retirement | None:
        return self.ledger_state.retirements.get(record_id)

    def violation_of(self, record_id: bytes) -> bytes:
        return self.ledger_state.violations.get(record_id, b"\0\0\0\0")
