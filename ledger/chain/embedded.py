"""The gateway's default chain: eth-tester (py-evm) in process, persisted in a data directory.

`open_embedded_chain(data_dir)` returns an `EmbeddedChain` whose `.w3` is a `Web3` over
`EthereumTesterProvider`, exactly as the in-memory default, except that py-evm's key-value store
is a SQLite file (`chain.sqlite3`, WAL mode). Reopening the directory, in this or another process,
after a clean `close()` or a SIGKILL, gives back the same chain: genesis, blocks, transactions,
receipts, logs, contract storage, balances and nonces; the chain id is eth-tester's constant.

Design: a durable store under py-evm's `AtomicDB` (not a journal of transactions replayed).
py-evm keeps everything in one `BaseDB` -- state-trie nodes, code, headers, block bodies and
receipts by hash, plus a few mutable index keys (canonical head, number -> hash, tx hash ->
block). `SQLiteKV` (`ledger/chain/kvstore.py`) implements `BaseDB`; writes go to an in-memory overlay that is flushed to
SQLite in ONE transaction after each mined block (and after a snapshot revert), and only then
does eth-tester return the transaction hash. py-evm itself writes a block in several steps
(state nodes when a transaction is applied, then `persist_block` in an `atomic_batch` that is
applied key by key), so per-write durability would not be enough; flushing per block makes each
block all-or-nothing, and a SIGKILL at any moment leaves the last committed block as the head.
WAL with `synchronous=FULL` survives power loss too (`durable=False`: `NORMAL`, process crashes
only). On reopen the chain object is built from the stored canonical head, not from genesis.
A replay journal was rejected: every block's `mix_hash` is random and genesis is stamped with
the wall clock, so replay would need to re-inject them to reproduce block hashes, and reopening
would re-execute every transaction (seconds per thousand blocks, versus milliseconds here).

Kept in memory only, as with plain eth-tester: filters, snapshot ids, a pending block when
auto-mining is off, and keys imported with `add_account`. The ten pre-funded dev accounts are
derived from fixed keys and remain usable after reopening. One process at a time may open a
data dir (an exclusive `flock` on `LOCK`); requests are serialised by a lock in the provider.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

from eth.abc import VirtualMachineAPI
from eth.chains.base import MiningChain
from eth.constants import BLANK_ROOT_HASH, ZERO_ADDRESS
from eth.db.atomic import AtomicDB
from eth.vm.forks.prague import PragueVM
from eth_tester import EthereumTester
from eth_tester.backends.pyevm.main import (
    PyEVMBackend,
    generate_genesis_state_for_keys,
    get_default_account_keys,
    get_default_genesis_params,
)
from eth_tester.backends.pyevm.serializers import (
    serialize_transaction,
    serialize_transaction_receipt,
)
from eth_tester.exceptions import TransactionNotFound
from eth_typing import BlockNumber, Hash32
from web3 import EthereumTesterProvider, Web3
from web3.types import RPCEndpoint, RPCResponse

from ledger.chain.kvstore import SQLiteKV
from ledger.errors import ChainError, ConfigurationError

try:
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CHAIN_ID",
    "DB_FILENAME",
    "FORMAT_VERSION",
    "EmbeddedChain",
    "open_embedded_chain",
]

#: eth-tester's chain id (`MainnetTesterPosChain.chain_id`); the same on every open.
CHAIN_ID: Final = 131277322940537
#: Bumped when the on-disk layout changes; a data dir of another version is refused.
FORMAT_VERSION: Final = 1
DB_FILENAME: Final = "chain.sqlite3"
_FORMAT_NAME: Final = "ledger-embedded-chain"
_FORK: Final = "prague"
_LOCK_FILENAME: Final = "LOCK"
_OWN_FILES: Final = frozenset(
    {
        _LOCK_FILENAME,
        DB_FILENAME,
        f"{DB_FILENAME}-wal",
        f"{DB_FILENAME}-shm",
        f"{DB_FILENAME}-journal",
    }
)
_DEV_ACCOUNTS: Final = 10

_T = TypeVar("_T")


class _EmbeddedTesterChain(MiningChain):
    """eth-tester's default chain class (`setup_tester_chain`), fixed here so that a data dir
    keeps the fork schedule it was created with whatever a later eth-tester defaults to."""

    chain_id = CHAIN_ID
    vm_configuration: tuple[tuple[BlockNumber, type[VirtualMachineAPI]], ...] = (
        (BlockNumber(0), PragueVM),
    )

    def create_header_from_parent(self, parent_header: Any, **header_params: Any) -> Any:
        # Keep the gas limit constant, as eth-tester does.
        header_params["gas_limit"] = parent_header.gas_limit
        return super().create_header_from_parent(parent_header, **header_params)

    def get_transaction_builder(self) -> Any:
        return self.get_vm().get_transaction_builder()


# ---------------------------------------------------------------------------------- backend


class _PersistentBackend(PyEVMBackend):  # type: ignore[misc]
    """`PyEVMBackend` over a `SQLiteKV`: every state-changing call ends with a flush."""

    def __init__(self, store: SQLiteKV, chain: _EmbeddedTesterChain) -> None:
        # Not `super().__init__()`: that builds a new chain from genesis.
        self._store = store
        self.chain = chain
        self.account_keys = get_default_account_keys(quantity=_DEV_ACCOUNTS)

    def _reload(self) -> None:
        self.chain = _EmbeddedTesterChain(self.chain.chaindb.db)

    def _committed(self, action: Callable[[], _T]) -> _T:
        try:
            result = action()
            self._store.flush()
        except BaseException:
            # Drop the half-written block and rebuild the chain object from the stored head.
            self._store.discard()
            with contextlib.suppress(Exception):
                self._reload()
            raise
        return result

    def follow_wall_clock(self) -> None:
        """Blocks are mined only by transactions, so the chain's time would stand still while
        nobody sends one (and rules checked at `block.timestamp` would call a loan dated now
        "in the future"). Before a call, an estimate or a transaction: if the head is more than
        `STALE_HEAD_SECONDS` old, an empty block is mined at the current time; and the pending
        block (the next transaction's) is dated now. Time never goes back: a block is always
        later than its parent (py-evm's rule), so many blocks within one second run ahead of
        the wall clock by a second each."""
        now = int(time.time())
        head = self.chain.get_canonical_head()
        pending = self.chain.header
        if pending.transaction_root != BLANK_ROOT_HASH:
            return  # a block under construction keeps its time
        if pending.timestamp < now:
            self.chain.set_header_timestamp(now)
        if now - head.timestamp > STALE_HEAD_SECONDS:
            self.mine_blocks(1)
            if self.chain.header.timestamp < now:
                self.chain.set_header_timestamp(now)

    def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = ZERO_ADDRESS) -> tuple[bytes, ...]:
        hashes: list[bytes] = []
        for _ in range(num_blocks):
            mined = self._committed(lambda: PyEVMBackend.mine_blocks(self, 1, coinbase))
            hashes.extend(mined)
        return tuple(hashes)

    def revert_to_snapshot(self, snapshot: bytes) -> None:
        self._committed(lambda: PyEVMBackend.revert_to_snapshot(self, snapshot))

    def apply_withdrawals(self, withdrawals_list: list[dict[str, int | str]]) -> None:
        self._committed(lambda: PyEVMBackend.apply_withdrawals(self, withdrawals_list))

    def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
        raise ChainError(
            "a persisted embedded chain cannot be reset to genesis; open a new data dir instead"
        )

    # eth-tester scans every block from the head down for a transaction; py-evm keeps an index.
    def _find_transaction(self, transaction_hash: bytes) -> tuple[Any, Any, int]:
        pending = self.chain.get_block()
        for index, transaction in enumerate(pending.transactions):
            if transaction.hash == transaction_hash:
                return pending, transaction, index
        try:
            number, index = self.chain.chaindb.get_transaction_index(Hash32(transaction_hash))
        except Exception as exc:  # py-evm's TransactionNotFound / KeyError
            raise TransactionNotFound(
                f"No transaction found for transaction hash: 0x{bytes(transaction_hash).hex()}"
            ) from exc
        block = self.chain.get_canonical_block_by_number(number)
        transaction = block.transactions[index]
        if transaction.hash != transaction_hash:  # pragma: no cover - index out of step
            raise TransactionNotFound(f"index for 0x{bytes(transaction_hash).hex()} is stale")
        return block, transaction, index

    def get_transaction_by_hash(self, transaction_hash: bytes) -> Any:
        block, transaction, index = self._find_transaction(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        return serialize_transaction(block, transaction, index, is_pending)

    def get_transaction_receipt(self, transaction_hash: bytes) -> Any:
        block, transaction, index = self._find_transaction(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        receipts = block.get_receipts(self.chain.chaindb)
        return serialize_transaction_receipt(
            block, receipts, transaction, index, is_pending, self.chain.get_vm()
        )


#: the head is refreshed (an empty block at the current time) when older than this
STALE_HEAD_SECONDS: Final = 5
#: requests that run at the head's or the pending block's time
_ON_THE_CLOCK: Final = frozenset(
    {"eth_call", "eth_estimateGas", "eth_sendRawTransaction", "eth_sendTransaction"}
)


class _SerialProvider(EthereumTesterProvider):
    """`EthereumTesterProvider` that runs one request at a time (eth-tester is not thread-safe,
    and the gateway calls the chain from several threads), on a chain that keeps time with the
    wall clock (`_PersistentBackend.follow_wall_clock`)."""

    def __init__(
        self, tester: EthereumTester, backend: _PersistentBackend, lock: threading.RLock
    ) -> None:
        super().__init__(tester)
        self._backend = backend
        self._serial = lock

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self._serial:
            if method in _ON_THE_CLOCK:
                self._backend.follow_wall_clock()
            return super().make_request(method, params)


# ---------------------------------------------------------------------------------- chain


class EmbeddedChain:
    """An open embedded chain: `w3` to use it, `close()` (or `with`) to release the data dir."""

    def __init__(
        self, data_dir: Path, store: SQLiteKV, backend: _PersistentBackend, lock_fd: int | None
    ) -> None:
        self.data_dir = data_dir
        self._store = store
        self._backend = backend
        self._lock_fd = lock_fd
        self._serial = threading.RLock()
        self.tester = EthereumTester(backend=backend)
        self.w3 = Web3(_SerialProvider(self.tester, backend, self._serial))

    @property
    def chain_id(self) -> int:
        return CHAIN_ID

    @property
    def closed(self) -> bool:
        return self._lock_fd is None and self._store._conn is None

    @property
    def block_number(self) -> int:
        """The latest mined block."""
        with self._serial:
            return int(self._backend.chain.get_canonical_head().block_number)

    def snapshot(self) -> int:
        """An eth-tester snapshot id of the latest block (valid while this object is open)."""
        with self._serial:
            return int(self.tester.take_snapshot())

    def revert(self, snapshot_id: int) -> None:
        """Rewinds the chain to a snapshot; the rewind is persisted like a block."""
        with self._serial:
            self.tester.revert_to_snapshot(snapshot_id)

    def close(self) -> None:
        """Releases the database and the data dir lock; idempotent. Mined blocks are already
        on disk, so closing only drops a pending (unmined) block, as a restart would."""
        with self._serial:
            self._store.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    def __enter__(self) -> EmbeddedChain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"head {self.block_number}"
        return f"EmbeddedChain({str(self.data_dir)!r}, {state})"


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _lock(data_dir: Path) -> int | None:
    if fcntl is None:  # pragma: no cover - non-POSIX: no cross-process guard
        return None
    fd = os.open(data_dir / _LOCK_FILENAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise ChainError(
            f"the embedded chain in {data_dir} is already open in another process",
            code="CHAIN_IN_USE",
        ) from exc
    return fd


def _create(store: SQLiteKV) -> _EmbeddedTesterChain:
    keys = get_default_account_keys(quantity=_DEV_ACCOUNTS)
    chain = _EmbeddedTesterChain.from_genesis(
        AtomicDB(store), get_default_genesis_params(), generate_genesis_state_for_keys(keys)
    )
    genesis = chain.get_canonical_block_header_by_number(BlockNumber(0))
    store.flush(
        meta={
            "format": _FORMAT_NAME,
            "format_version": str(FORMAT_VERSION),
            "chain_id": str(CHAIN_ID),
            "fork": _FORK,
            "genesis_hash": "0x" + bytes(genesis.hash).hex(),
            "created_with": json.dumps(
                {p: _package_version(p) for p in ("py-evm", "eth-tester", "web3")}, sort_keys=True
            ),
        }
    )
    assert isinstance(chain, _EmbeddedTesterChain)
    return chain


def _reopen(store: SQLiteKV, meta: dict[str, str], where: Path) -> _EmbeddedTesterChain:
    if meta.get("format") != _FORMAT_NAME:
        raise ConfigurationError(
            f"{where} is not an embedded-chain database (format {meta.get('format')!r})"
        )
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise ConfigurationError(
            f"{where} has embedded-chain format {meta.get('format_version')!r}; this version "
            f"reads format {FORMAT_VERSION} only"
        )
    if meta.get("chain_id") != str(CHAIN_ID) or meta.get("fork") != _FORK:
        raise ConfigurationError(
            f"{where} holds chain {meta.get('chain_id')} ({meta.get('fork')}); expected {CHAIN_ID} ({_FORK})"
        )
    try:
        chain = _EmbeddedTesterChain(AtomicDB(store))
        head = chain.get_canonical_head()
        genesis = chain.get_canonical_block_header_by_number(BlockNumber(0))
        if "0x" + bytes(genesis.hash).hex() != meta.get("genesis_hash"):
            raise ChainError(f"{where}: the stored genesis block does not match the recorded one")
        if head.state_root not in store:
            raise ChainError(f"{where}: the state of head block {head.block_number} is missing")
    except (ChainError, ConfigurationError):
        raise
    except Exception as exc:
        raise ChainError(
            f"{where}: the stored chain is corrupt ({type(exc).__name__}: {exc})"
        ) from exc
    return chain


def open_embedded_chain(data_dir: Path | str, *, durable: bool = True) -> EmbeddedChain:
    """Opens the chain persisted in `data_dir`, creating a new one there if it holds none.

    Raises `ConfigurationError` if `data_dir` is a file, holds unrelated files, or holds a
    chain of another format version, and `ChainError` if the database is corrupt or the dir is
    already open in another process. `durable=False` trades power-loss durability for speed
    (a process crash still loses nothing acknowledged).
    """
    where = Path(data_dir)
    if where.exists() and not where.is_dir():
        raise ConfigurationError(f"the embedded chain data dir {where} is not a directory")
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the embedded chain data dir {where}: {exc}"
        ) from exc
    db_path = where / DB_FILENAME
    if not db_path.exists():
        strangers = sorted(p.name for p in where.iterdir() if p.name not in _OWN_FILES)
        if strangers:
            raise ConfigurationError(
                f"{where} holds no embedded chain ({DB_FILENAME}) but other files: {strangers[:5]}"
            )
    lock_fd = _lock(where)
    store: SQLiteKV | None = None
    try:
        store = SQLiteKV(db_path, durable=durable)
        meta = store.meta()
        # An empty database is new, or a creation interrupted before its one commit.
        fresh = not meta and store.is_empty()
        chain = _create(store) if fresh else _reopen(store, meta, db_path)
        backend = _PersistentBackend(store, chain)
        return EmbeddedChain(where, store, backend, lock_fd)
    except BaseException:
        if store is not None:
            store.close()
        if lock_fd is not None:
            os.close(lock_fd)
        raise
