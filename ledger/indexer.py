"""The index of the contracts' events, rebuildable from the chain alone.

`EventIndexer` reads every event of the deployment's `ParticipantRegistry` and `EvidenceLedger`
(one `eth_getLogs` over both addresses per bounded block range, decoded with the committed ABIs)
and writes one `ChainEventRow` per event: block, log index, transaction, contract, event name,
arguments as JSON and the block's time. The cursor (last indexed block, and that block's hash)
lives in `MetaRow`; each range is written in one transaction together with the cursor, so a crash
never leaves a half-indexed range and re-running never duplicates anything.

Derived state: `RecordRevoked` / `RecordAmended` set `SubmissionRow.retired` to `"revoked"` /
`"superseded"` for records the gateway holds, and move them to the retired rollups of the
regulator's analytics (`ledger.analytics.retire_loans`, in the same transaction).

Arguments JSON: bytes as 0x-hex, addresses as checksummed strings, booleans as booleans, integers
as JSON integers while they are safe in every JSON reader (|n| <= 2**53 - 1) and as decimal
strings beyond that (uint128 principals, for instance).

Reorganizations: events are read up to `latest - confirmations`. If the block the cursor points to
is no longer on the chain (its hash changed), the index is rebuilt from the deployment block.
Retirements applied from blocks that were reorganized away are not undone (they are kept on the
submission rows; the event index itself is exact).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import delete, update
from web3.contract import Contract
from web3.exceptions import BlockNotFound

from ledger.analytics import retire_loans
from ledger.chain.client import ChainClient
from ledger.chain.deploy import Deployment
from ledger.errors import InputError
from ledger.store import ChainEventRow, Database, MetaRow, SubmissionRow

__all__ = [
    "CURSOR_HASH_KEY",
    "CURSOR_KEY",
    "DEFAULT_BLOCK_RANGE",
    "EventIndexer",
    "event_args_json",
]

log = logging.getLogger(__name__)

#: MetaRow key of the last indexed block number (decimal).
CURSOR_KEY = "indexer:last_block"
#: MetaRow key of the hash of that block (0x-hex), to notice reorganizations.
CURSOR_HASH_KEY = "indexer:last_block_hash"
#: Blocks per `eth_getLogs` call; many public nodes refuse wider ranges.
DEFAULT_BLOCK_RANGE = 2_000

_MAX_SAFE_INT = 2**53 - 1
_CONTRACT_NAMES = ("ParticipantRegistry", "EvidenceLedger")
_RETIREMENTS = {"RecordRevoked": "revoked", "RecordAmended": "superseded"}


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _hex(bytes(value))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    raise TypeError(f"cannot put {type(value).__name__} into an event's JSON")


def event_args_json(args: Mapping[str, Any]) -> str:
    """Decoded event arguments as the index stores them (sorted keys, compact)."""
    return json.dumps(_jsonable(args), sort_keys=True, separators=(",", ":"))


class EventIndexer:
    """Indexes the events of one deployment into `db` (see the module docstring).

    `chain_lock` is held around every node call: pass the gateway's `LedgerService.chain_lock`
    when the indexer runs next to it on eth-tester (which is not thread-safe).
    """

    def __init__(
        self,
        db: Database,
        client: ChainClient,
        deployment: Deployment,
        confirmations: int = 0,
        *,
        block_range: int = DEFAULT_BLOCK_RANGE,
        chain_lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        if confirmations < 0:
            raise InputError("confirmations must be 0 or more")
        if block_range < 1:
            raise InputError("block_range must be at least 1")
        self.db = db
        self.client = client
        self.deployment = deployment
        self.confirmations = confirmations
        self.block_range = block_range
        self._chain_lock: AbstractContextManager[Any] = chain_lock or nullcontext()
        self._lock = threading.RLock()  # one sync (or rebuild) at a time
        addresses = {
            "ParticipantRegistry": deployment.registry,
            "EvidenceLedger": deployment.ledger,
        }
        self._addresses = [addresses[name] for name in _CONTRACT_NAMES]
        # (contract address lowercased, topic0) -> (contract name, decoder)
        self._decoders: dict[tuple[str, bytes], tuple[str, Any]] = {}
        for name in _CONTRACT_NAMES:
            contract: Contract = client.contract(name, addresses[name])
            for event in contract.all_events():
                topic = bytes.fromhex(str(event.topic).removeprefix("0x"))
                self._decoders[(addresses[name].lower(), topic)] = (name, event)

    # ------------------------------------------------------------------ cursor

    def last_block(self) -> int | None:
        """The last block indexed, or None before the first sync."""
        raw = self.db.get_meta(CURSOR_KEY)
        return int(raw) if raw else None

    def _head(self) -> int:
        with self._chain_lock:
            latest = int(self.client.w3.eth.block_number)
        return latest - self.confirmations

    def _block_hash(self, number: int) -> str | None:
        with self._chain_lock:
            try:
                block = self.client.w3.eth.get_block(number)
            except BlockNotFound:  # the chain got shorter: a reorganization to us
                return None
        block_hash = block.get("hash")
        return _hex(bytes(block_hash)) if block_hash is not None else None

    def _reorganized(self, last: int) -> bool:
        stored = self.db.get_meta(CURSOR_HASH_KEY)
        if not stored:
            return False
        return self._block_hash(last) != stored

    # ------------------------------------------------------------------ syncing

    def sync(self) -> int:
        """Indexes from the block after the cursor up to `latest - confirmations`; returns how
        many events were written."""
        with self._lock:
            last = self.last_block()
            if last is not None and self._reorganized(last):
                log.warning(
                    "block %d changed on chain (reorganization): rebuilding the index", last
                )
                self._drop()
                last = None
            start = self.deployment.block_number if last is None else last + 1
            head = self._head()
            written = 0
            while start <= head:
                end = min(start + self.block_range - 1, head)
                written += self._index_range(start, end)
                start = end + 1
            return written

    def rebuild(self) -> int:
        """Drops the indexed events and the cursor and indexes again from the deployment block.

        Readers may see a partial index until it returns."""
        with self._lock:
            self._drop()
            return self.sync()

    def _drop(self) -> None:
        with self.db.session() as s:
            s.execute(delete(ChainEventRow))
            s.execute(delete(MetaRow).where(MetaRow.key.in_((CURSOR_KEY, CURSOR_HASH_KEY))))

    def _index_range(self, start: int, end: int) -> int:
        with self._chain_lock:
            logs = self.client.w3.eth.get_logs(
                {
                    "fromBlock": start,
                    "toBlock": end,
                    "address": self._addresses,  # type: ignore[typeddict-item]
                }
            )
            times: dict[int, int] = {}
            for entry in logs:
                number = int(entry["blockNumber"])
                if number not in times:
                    times[number] = int(self.client.w3.eth.get_block(number)["timestamp"])
        end_hash = self._block_hash(end)
        rows = list(self._rows(logs, times))
        retired: dict[str, list[str]] = {}
        for row in rows:
            state = _RETIREMENTS.get(row.name)
            if state is not None:
                record_id = str(json.loads(row.args_json)["recordId"]).lower()
                retired.setdefault(state, []).append(record_id)
        with self.db.session() as s:
            # Nothing should be there (ranges are written whole, with the cursor); clearing the
            # range keeps a re-run after a lost cursor free of duplicates.
            s.execute(
                delete(ChainEventRow).where(
                    ChainEventRow.block_number >= start, ChainEventRow.block_number <= end
                )
            )
            s.add_all(rows)
            for state, record_ids in retired.items():
                for chunk in _chunks(record_ids, 500):
                    s.execute(
                        update(SubmissionRow)
                        .where(SubmissionRow.record_id.in_(chunk))
                        .values(retired=state)
                    )
                    retire_loans(s, chunk, state)
            s.merge(MetaRow(key=CURSOR_KEY, value=str(end)))
            s.merge(MetaRow(key=CURSOR_HASH_KEY, value=end_hash or ""))
        return len(rows)

    def _rows(self, logs: Iterable[Any], times: Mapping[int, int]) -> Iterable[ChainEventRow]:
        for entry in logs:
            topics = entry.get("topics") or []
            if not topics:
                continue  # anonymous event: none in our ABIs
            key = (str(entry["address"]).lower(), bytes(topics[0]))
            decoder = self._decoders.get(key)
            if decoder is None:
                log.debug("skipping an event the ABIs do not know: %s", key)
                continue
            contract, event = decoder
            try:
                data = event.process_log(entry)
            except Exception as exc:  # an undecodable log is skipped, not fatal
                log.warning("cannot decode %s log %s: %s", contract, key, exc)
                continue
            number = int(entry["blockNumber"])
            yield ChainEventRow(
                block_number=number,
                log_index=int(entry["logIndex"]),
                tx_hash=_hex(bytes(entry["transactionHash"])),
                contract=contract,
                name=str(data["event"]),
                args_json=event_args_json(data["args"]),
                block_time=times[number],
            )

    # ------------------------------------------------------------------ loop

    def run(
        self,
        stop: threading.Event,
        interval: float,
        *,
        on_error: Callable[[Exception], None] | None = None,
        max_backoff: float = 60.0,
    ) -> None:
        """Syncs every `interval` seconds until `stop` is set. Errors are reported to `on_error`
        (and logged) and retried with exponential backoff, never longer than
        `max(interval, max_backoff)` between attempts."""
        base = max(interval, 0.01)
        ceiling = max(base, max_backoff)
        failures = 0
        while not stop.is_set():
            try:
                self.sync()
                failures = 0
            except Exception as exc:  # the loop must survive node and DB errors
                failures += 1
                log.warning("event indexing failed (attempt %d): %s", failures, exc)
                if on_error is not None:
                    try:
                        on_error(exc)
                    except Exception:
                        log.exception("the indexer's on_error callback failed")
            wait = base if failures == 0 else min(base * 2 ** min(failures, 16), ceiling)
            stop.wait(wait)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]
