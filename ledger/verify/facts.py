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
    def participant_name(self, participant_id: int) -> str:
        """The name the regulator registered the participant under ("" for an unknown id)."""

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

    def prefetch(self, keys: list[tuple[Any, ...]]) -> None:  # noqa: B027  (optional hook)
        """A hint: these facts will be asked for next (see `LiveChainFacts`)."""


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

    def has(self, key: tuple[Any, ...]) -> bool:
        return key in self._items

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        self._items[key] = value
        if len(self._items) > self._size:
            self._items.popitem(last=False)


_MUTABLE = frozenset({"state", "violation", "regulator"})  # may change: never cached


class LiveChainFacts(ChainFacts):
    """Reads the node with plain JSON-RPC (`ledger.chain.rpc`); caches immutable facts (at most
    `cache_size` of them). `prefetch` asks for every fact one receipt needs in one or two
    JSON-RPC batches, so a cold receipt costs two round trips, not fifteen."""

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
        self._fresh: dict[tuple[Any, ...], Any] = {}  # mutable facts prefetched for one use

    @classmethod
    def for_ledger(cls, client: ChainClient, ledger: str) -> LiveChainFacts:
        """Facts of the deployment of `ledger`, with the registry that ledger itself reads."""
        (registry,) = ViewCaller(client, "EvidenceLedger", ledger).call("registry")
        return cls(client, str(registry), ledger)

    # ------------------------------------------------------------------ one fact, by key

    def _spec(self, key: tuple[Any, ...]) -> tuple[str, list[Any], Callable[[Any], Any]]:
        """The request that answers `key`, and how to turn its result into the fact."""
        kind, args = key[0], key[1:]
        if kind == "chain_id":
            return "eth_chainId", [], lambda r: int(r, 16) if isinstance(r, str) else int(r)
        if kind == "genesis":
            return "eth_getBlockByNumber", ["0x0", False], lambda b: _hash_of(b)
        if kind == "block":
            return "eth_getBlockByNumber", [hex(args[0]), False], _time_of
        if kind == "tx":
            return "eth_getTransactionReceipt", ["0x" + args[0].hex()], self._anchor_tx_of
        views: dict[str, tuple[ViewCaller, str, Callable[[tuple[Any, ...]], Any]]] = {
            "ledger_registry": (self._ledger, "registry", lambda v: checksum_address(str(v[0]))),
            "regulator": (self._registry, "hasRole", lambda v: bool(v[0])),
            "epoch": (self._registry, "epochAt", _epoch_of),
            "role": (self._registry, "roleOf", lambda v: (int(v[0]), int(v[1]))),
            "name": (self._registry, "participant", lambda v: str(v[0][3])),
            "cap": (self._registry, "rateCapAt", lambda v: (bool(v[0]), int(v[1]))),
            "cutoff": (self._registry, "legacyCutoffAt", lambda v: int(v[0])),
            "batch": (self._ledger, "batch", _batch_of),
            "state": (self._ledger, "recordState", _state_of),
            "violation": (self._ledger, "violationOf", lambda v: bytes(v[0])),
        }
        contract, function, decode = views[kind]
        call_args = (_REGULATOR_ROLE, *args) if kind == "regulator" else args
        method, params = contract.request(function, *call_args)

        def parse(result: Any) -> Any:
            return decode(contract.decode(function, result))

        return method, params, parse

    def _load(self, key: tuple[Any, ...]) -> Any:
        method, params, parse = self._spec(key)
        return parse(self._rpc.request(method, params))

    def _get(self, key: tuple[Any, ...]) -> Any:
        if key[0] in _MUTABLE:
            return self._fresh.pop(key) if key in self._fresh else self._load(key)
        value = self._cache.get(key, lambda: self._load(key))
        if value is None:  # not (yet) on chain: ask again next time
            self._cache.forget(key)
        return value

    def prefetch(self, keys: list[tuple[Any, ...]]) -> None:
        """Fetches every fact of `keys` not already known, in one JSON-RPC batch. Failures are
        left for the check that needs the fact to meet (and report). In process (eth-tester)
        there is no round trip to save: nothing is fetched ahead."""
        if self._rpc.in_process:
            return
        wanted = [k for k in dict.fromkeys(keys) if k not in self._fresh and not self._cache.has(k)]
        if not wanted:
            return
        specs = [self._spec(k) for k in wanted]
        results = self._rpc.batch([(m, p) for m, p, _ in specs])
        for key, (_, _, parse), result in zip(wanted, specs, results, strict=True):
            try:
                value = parse(result)
            except Exception:
                continue
            if key[0] in _MUTABLE:
                self._fresh[key] = value
            elif value is not None:
                self._cache.put(key, value)

    def _anchor_tx_of(self, receipt: Any) -> AnchorTx | None:
        if receipt is None:
            return None
        block = int(str(receipt["blockNumber"]), 0)
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

    # ------------------------------------------------------------------ the facts

    def chain_id(self) -> int:
        return int(self._get(("chain_id",)))

    def genesis_hash(self) -> str:
        return str(self._get(("genesis",)))

    def ledger_registry(self) -> str:
        return str(self._get(("ledger_registry",)))

    def is_regulator(self, address: str) -> bool:
        return bool(self._get(("regulator", checksum_address(address))))

    def epoch_at(self, participant_id: int, at: int) -> Epoch:
        epoch: Epoch = self._get(("epoch", participant_id, at))
        return epoch

    def role_of(self, participant_id: int) -> tuple[int, int]:
        role: tuple[int, int] = self._get(("role", participant_id))
        return role

    def participant_name(self, participant_id: int) -> str:
        return str(self._get(("name", participant_id)))

    def rate_cap_at(self, institution_type: int, at: int) -> tuple[bool, int]:
        cap: tuple[bool, int] = self._get(("cap", institution_type, at))
        return cap

    def legacy_cutoff_at(self, at: int) -> int:
        return int(self._get(("cutoff", at)))

    def batch(self, root: bytes) -> AnchoredBatch | None:
        found: AnchoredBatch | None = self._get(("batch", root))
        return found

    def per_record_anchor(self, record_id: bytes) -> AnchoredLoan | None:
        status, anchored_at, *_ = self._get(("state", record_id))
        return None if status == 0 else AnchoredLoan(anchored_at, -1, b"")

    def anchor_tx(self, tx_hash: bytes) -> AnchorTx | None:
        found: AnchorTx | None = self._get(("tx", tx_hash))
        return found

    def block_time(self, number: int) -> int | None:
        found: int | None = self._get(("block", number))
        return found

    def retirement(self, record_id: bytes) -> Retirement | None:
        status, _, retired_at, reason, successor = self._get(("state", record_id))
        if status not in (2, 3):
            return None
        return Retirement(status, retired_at, reason, successor)

    def violation_of(self, record_id: bytes) -> bytes:
        return bytes(self._get(("violation", record_id)))


def _head(rpc: Rpc) -> int:
    head = rpc.request("eth_blockNumber", [])
    return int(head, 16) if isinstance(head, str) else int(head)


def _hash_of(block: Any) -> str:
    value = block["hash"]
    return "0x" + (bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)).hex()


def _time_of(block: Any) -> int | None:
    return None if block is None else int(str(block["timestamp"]), 0)


def _epoch_of(values: tuple[Any, ...]) -> Epoch:
    ((signer, key, status, valid_from),) = values
    return Epoch(checksum_address(str(signer)), bytes(key), int(status), int(valid_from))


def _batch_of(values: tuple[Any, ...]) -> AnchoredBatch | None:
    ((gateway_id, anchored_at, block_number, count),) = values
    if int(anchored_at) == 0:
        return None
    return AnchoredBatch(int(gateway_id), int(anchored_at), int(block_number), int(count), b"")


def _state_of(values: tuple[Any, ...]) -> tuple[int, int, int, int, bytes]:
    ((status, anchored_at, retired_at, reason, successor),) = values
    return int(status), int(anchored_at), int(retired_at), int(reason), bytes(successor)


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
        #: the time of the block the state reflects (0 until known)
        self.head_time = 0

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
        facts = cls(
            chain_id=client.chain_id,
            genesis_hash=live.genesis_hash(),
            registry=registry,
            ledger=ledger,
            ledger_registry=live.ledger_registry(),
            registry_state=reg,
            ledger_state=led,
        )
        facts.head_time = live.block_time(head) or 0
        return facts

    def follow(self, client: ChainClient, to_block: int | None = None) -> int:
        """Applies the events after the snapshot's block up to `to_block` (default: the head);
        returns how many there were."""
        rpc = Rpc(client)
        head = _head(rpc) if to_block is None else to_block
        start = self.ledger_state.block + 1
        if head < start:
            return 0
        self.head_time = rpc.block_time(head) or self.head_time
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

    def participant_name(self, participant_id: int) -> str:
        found = self.state.participants.get(participant_id)
        return found.name if found is not None else ""

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
