"""The transaction manager: how every transaction of the ledger reaches any standard EVM node.

`ChainClient` sends through one `TransactionManager`, so deployment, registration, anchoring and
retirement all get the same handling, with standard JSON-RPC only (`eth_chainId`,
`eth_getTransactionCount`, `eth_getBlockByNumber`, `eth_gasPrice`, `eth_sendRawTransaction`,
`eth_getTransactionReceipt`, `eth_blockNumber`): no `eth_accounts`, no `anvil_*`/`evm_*`.

- **Nonces per account, across restarts.** Every signed transaction is written to a
  `TransactionStore` (account, nonce, hash, raw bytes, fees, time sent, state) before it is
  broadcast. The first send of an account in a process reconciles with the node: attempts at
  nonces the node's `pending` count does not cover (a node restart lost its pool, a reorg dropped
  them) are broadcast again from their raw bytes, in nonce order; one the node refuses leaves its
  nonce to the next transaction (no gap). The same check runs whenever the node's `pending` count
  falls behind the nonces handed out. `MemoryTransactionStore` for the CLI and tests,
  `ledger.chain.txlog.SqlTransactionStore` for a gateway.
- **Fees.** EIP-1559 when the latest block has a base fee: `maxFeePerGas = 2 * base + tip`,
  capped at `TxPolicy.max_fee_per_gas`; a base fee above the cap raises `FeeCapExceeded` (or is
  waited out for `TxPolicy.fee_wait` seconds). A node without a base fee gets a legacy
  `gasPrice` (`eth_gasPrice`), under the same cap.
- **Gas**: the estimate plus `gas_headroom` and `gas_extra` (`TxPolicy.with_headroom`).
- **Replacement.** A transaction without a receipt after `replace_after` seconds is sent again at
  the same nonce with both fees raised by at least 12.5% (geth refuses less than 10%, other
  clients up to 12.5%), never above the cap; at the cap it is only re-broadcast.
- **Confirmations.** `send` returns once the receipt's block has `confirmations` blocks on top
  of it and the receipt is still there, in the same block; a receipt that vanished meanwhile (a
  reorganization) sends the transaction again and waits anew. `TransactionTimeout` after
  `receipt_timeout` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from requests.exceptions import ConnectTimeout, Timeout
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from ledger.errors import ChainError, FeeCapExceeded, NonceConflict, TransactionTimeout

__all__ = [
    "GWEI",
    "MemoryTransactionStore",
    "SentTransaction",
    "TransactionManager",
    "TransactionStore",
    "TxPolicy",
    "TxState",
]

log = logging.getLogger("ledger.chain.transactions")

GWEI = 10**9
#: the least raise of both fees a replacement carries: 12.5% (1/8), what the strictest common
#: client (Nethermind, Besu's default) asks; geth and anvil ask 10%
REPLACEMENT_BUMP = 1.125


@dataclass(frozen=True)
class TxPolicy:
    """How transactions are priced, replaced and waited for."""

    #: the most this gateway pays per gas (EIP-1559 max fee, or the legacy gas price); None: no cap
    max_fee_per_gas: int | None = 500 * GWEI
    #: the EIP-1559 tip (`maxPriorityFeePerGas`); lowered to fit under the cap if it must
    priority_fee: int = 1 * GWEI
    #: gas limit = estimate * (1 + gas_headroom) + gas_extra
    gas_headroom: float = 0.2
    gas_extra: int = 10_000
    #: seconds without a receipt before the transaction is replaced with higher fees
    replace_after: float = 30.0
    #: blocks on top of the transaction's block before it counts as done (0: mined is enough)
    confirmations: int = 0
    #: seconds `send` waits for a (confirmed) receipt before `TransactionTimeout`
    receipt_timeout: float = 180.0
    #: seconds to wait for the base fee to fall under the cap; 0: refuse at once
    fee_wait: float = 0.0
    #: seconds between two looks at the node while waiting
    poll_interval: float = 0.1

    def __post_init__(self) -> None:
        if self.confirmations < 0:
            raise ChainError("confirmations must be 0 or more")
        if self.max_fee_per_gas is not None and self.max_fee_per_gas < 0:
            raise ChainError("the fee cap must be 0 or more")

    def with_headroom(self, estimate: int) -> int:
        """The gas limit for an estimate."""
        return estimate + int(estimate * self.gas_headroom) + self.gas_extra


class TxState(StrEnum):
    PENDING = "pending"  # broadcast, no receipt seen yet
    MINED = "mined"  # its receipt was seen (and confirmed, if confirmations were asked)
    REPLACED = "replaced"  # another attempt at the same nonce was mined
    DROPPED = "dropped"  # the node refused to take it back; its nonce was given to another
    FAILED = "failed"  # the node refused it when it was first sent; its nonce was not used


@dataclass(frozen=True)
class SentTransaction:
    """One signed attempt at a nonce, as sent (a replacement is another attempt)."""

    account: str
    nonce: int
    tx_hash: str
    raw: bytes
    gas: int
    max_fee_per_gas: int | None
    max_priority_fee_per_gas: int | None
    gas_price: int | None
    sent_at: float
    state: str = TxState.PENDING.value
    block_number: int | None = None


class TransactionStore(Protocol):
    """Where the attempts are kept (memory, or the gateway's database)."""

    def add(self, tx: SentTransaction) -> None: ...

    def set_state(self, tx_hash: str, state: str, block_number: int | None = None) -> None: ...

    def attempts(self, account: str, from_nonce: int) -> list[SentTransaction]:
        """The account's attempts at `from_nonce` or later, by nonce then time sent."""
        ...

    def get(self, tx_hash: str) -> SentTransaction | None: ...

    def account_lock(self, account: str) -> AbstractContextManager[Any]:
        """Held while a nonce of `account` is chosen and used: several gateways on one database
        may sign for the same custodial account (the regulator, a custodial funder)."""
        ...


#: attempts kept per account below its newest nonce (older ones cannot come back in practice)
KEEP_NONCES = 1_024


class MemoryTransactionStore:
    """A `TransactionStore` in memory (lost with the process: the node's counts still rule)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._txs: dict[str, SentTransaction] = {}

    def account_lock(self, account: str) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()  # one process: the manager's own lock suffices

    def add(self, tx: SentTransaction) -> None:
        with self._lock:
            self._txs[tx.tx_hash] = tx
            floor = tx.nonce - KEEP_NONCES
            if floor > 0 and len(self._txs) > 2 * KEEP_NONCES:
                self._txs = {
                    h: t
                    for h, t in self._txs.items()
                    if t.account != tx.account or t.nonce >= floor
                }

    def set_state(self, tx_hash: str, state: str, block_number: int | None = None) -> None:
        with self._lock:
            found = self._txs.get(tx_hash)
            if found is not None:
                self._txs[tx_hash] = replace(found, state=state, block_number=block_number)

    def attempts(self, account: str, from_nonce: int) -> list[SentTransaction]:
        with self._lock:
            found = [
                t
                for t in self._txs.values()
                if t.account == account.lower() and t.nonce >= from_nonce
            ]
        return sorted(found, key=lambda t: (t.nonce, t.sent_at))

    def get(self, tx_hash: str) -> SentTransaction | None:
        with self._lock:
            return self._txs.get(tx_hash)


def _message(exc: BaseException) -> str:
    return str(exc).lower().replace("_", " ")


_KNOWN = re.compile(
    r"already ?known|known transaction|already imported|already in (the )?(tx)?pool"
)


def _already_known(exc: BaseException) -> bool:
    """The node has this transaction already (geth, anvil, Besu, Nethermind wordings; not
    "unknown ...")."""
    return _KNOWN.search(_message(exc)) is not None


def _nonce_used(exc: BaseException) -> bool:
    text = _message(exc)
    return "nonce too low" in text or "nonce is too low" in text or "nonce has already" in text


@dataclass(frozen=True)
class _Fees:
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    gas_price: int | None = None

    def fields(self) -> dict[str, int]:
        if self.gas_price is not None:
            return {"gasPrice": self.gas_price}
        assert self.max_fee_per_gas is not None and self.max_priority_fee_per_gas is not None
        return {
            "maxFeePerGas": self.max_fee_per_gas,
            "maxPriorityFeePerGas": self.max_priority_fee_per_gas,
        }


def _bumped(value: int) -> int:
    return max(value + 1, math.ceil(value * REPLACEMENT_BUMP))


class TransactionManager:
    """Signs, prices, sends, replaces and waits for the transactions of local accounts."""

    def __init__(
        self,
        w3: Web3,
        policy: TxPolicy | None = None,
        store: TransactionStore | None = None,
        *,
        chain_id: Callable[[], int] | None = None,
    ) -> None:
        self.w3 = w3
        self.policy = policy or TxPolicy()
        self.store: TransactionStore = store or MemoryTransactionStore()
        self._chain_id = chain_id or (lambda: int(w3.eth.chain_id))
        self._lock = threading.Lock()
        self._account_locks: dict[str, threading.Lock] = {}
        self._next: dict[str, int] = {}
        #: the in-process eth-tester mines each transaction as it is sent: nothing to replace
        self.in_process = hasattr(w3.provider, "ethereum_tester")

    def use_store(self, store: TransactionStore) -> None:
        """Keeps attempts in `store` from now on; nonces are reconciled again on next use."""
        with self._lock:
            self.store = store
            self._next.clear()

    def _account_lock(self, address: str) -> threading.Lock:
        with self._lock:
            return self._account_locks.setdefault(address.lower(), threading.Lock())

    # ------------------------------------------------------------------ fees

    def fees(self) -> _Fees:
        """This moment's fees under the cap; `FeeCapExceeded` if the network asks more (after
        waiting `fee_wait` seconds for it to fall)."""
        deadline = time.monotonic() + self.policy.fee_wait
        while True:
            try:
                return self._fees_now()
            except FeeCapExceeded:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(min(1.0, max(self.policy.poll_interval, 0.05)))

    def _fees_now(self) -> _Fees:
        cap = self.policy.max_fee_per_gas
        base_fee = self.w3.eth.get_block("latest").get("baseFeePerGas")
        if base_fee is None:  # a node without EIP-1559 (or with it switched off): a gas price
            price = int(self.w3.eth.gas_price)
            if cap is not None and price > cap:
                raise FeeCapExceeded(
                    f"the node's gas price {price} wei is above the cap of {cap} wei per gas"
                )
            return _Fees(gas_price=price)
        base = int(base_fee)
        if cap is not None and base > cap:
            raise FeeCapExceeded(f"the base fee {base} wei is above the cap of {cap} wei per gas")
        tip = self.policy.priority_fee
        max_fee = 2 * base + tip
        if cap is not None:
            max_fee = min(max_fee, cap)
            tip = min(tip, max_fee - base)
        return _Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip)

    def _bump(self, sent: SentTransaction) -> _Fees | None:
        """Fees for a replacement of `sent` (≥ 12.5% more on each), or None above the cap."""
        cap = self.policy.max_fee_per_gas
        if sent.gas_price is not None:
            price = _bumped(sent.gas_price)
            with contextlib.suppress(Exception):
                price = max(price, int(self.w3.eth.gas_price))
            return None if cap is not None and price > cap else _Fees(gas_price=price)
        assert sent.max_fee_per_gas is not None and sent.max_priority_fee_per_gas is not None
        tip = _bumped(sent.max_priority_fee_per_gas)
        max_fee = _bumped(sent.max_fee_per_gas)
        base = self.w3.eth.get_block("latest").get("baseFeePerGas")
        if base is not None:
            max_fee = max(max_fee, 2 * int(base) + tip)
        if cap is not None and max_fee > cap:
            max_fee = cap
            if max_fee < _bumped(sent.max_fee_per_gas) or tip > max_fee:
                return None  # a replacement under the cap would be refused as underpriced
        return _Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip)

    # ------------------------------------------------------------------ nonces

    def _pending_count(self, address: str) -> int:
        return int(self.w3.eth.get_transaction_count(address, "pending"))  # type: ignore[arg-type]

    def _restore(self, address: str, node_pending: int) -> tuple[int, list[SentTransaction]]:
        """Broadcasts again our attempts at nonces from `node_pending` on (the node does not
        have them); returns the next free nonce and the attempts put back."""
        next_nonce = node_pending
        restored: list[SentTransaction] = []
        latest: dict[int, SentTransaction] = {}
        for attempt in self.store.attempts(address.lower(), node_pending):
            if attempt.state in (TxState.FAILED, TxState.DROPPED):
                continue
            latest[attempt.nonce] = attempt  # the newest attempt of each nonce
        for nonce in sorted(latest):
            attempt = latest[nonce]
            if nonce != next_nonce:
                break  # a gap: the rest cannot be mined before it is filled
            if not self._rebroadcast(attempt):
                self.store.set_state(attempt.tx_hash, TxState.DROPPED)  # its nonce is reused
                break
            self.store.set_state(attempt.tx_hash, TxState.PENDING)
            restored.append(attempt)
            next_nonce = nonce + 1
        for nonce in sorted(latest):
            if nonce >= next_nonce:  # behind a gap: never to be mined
                self.store.set_state(latest[nonce].tx_hash, TxState.DROPPED)
        return next_nonce, restored

    def _next_nonce(self, address: str) -> int:
        pending = self._pending_count(address)
        local = self._next.get(address.lower())
        if local is None or local > pending:
            # first use in this process, or the node lost some of ours: restore them first
            local, _ = self._restore(address, pending)
        nonce = max(local, pending)
        self._next[address.lower()] = nonce + 1
        return nonce

    def resync(self, account: LocalAccount) -> list[TxReceipt]:
        """Puts this account's lost transactions back on the node and waits for them (after a
        reorganization dropped them); returns their receipts."""
        with self._account_lock(account.address):
            pending = self._pending_count(account.address)
            next_nonce, restored = self._restore(account.address, pending)
            self._next[account.address.lower()] = next_nonce
        return [self.wait(account, attempt) for attempt in restored]

    # ------------------------------------------------------------------ sending

    def _sign_and_send(
        self, account: LocalAccount, tx: dict[str, Any], nonce: int, fees: _Fees
    ) -> SentTransaction:
        body = {
            k: v
            for k, v in tx.items()
            if k not in ("nonce", "maxFeePerGas", "maxPriorityFeePerGas", "gasPrice", "type")
        }
        body.pop("from", None)
        body["nonce"] = nonce
        body.update(fees.fields())
        signed = account.sign_transaction(body)
        sent = SentTransaction(
            account=account.address.lower(),
            nonce=nonce,
            tx_hash="0x" + bytes(signed.hash).hex(),
            raw=bytes(signed.raw_transaction),
            gas=int(body.get("gas", 0)),
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
            gas_price=fees.gas_price,
            sent_at=time.time(),
        )
        self.store.add(sent)  # written before it leaves: a crash after sending is recoverable
        try:
            self.w3.eth.send_raw_transaction(sent.raw)
        except Exception as exc:
            if _already_known(exc):
                return sent
            if not (isinstance(exc, Timeout) and not isinstance(exc, ConnectTimeout)):
                self.store.set_state(sent.tx_hash, TxState.FAILED)
            # else the node took the request and did not answer (hung, stopped): it may hold
            # the transaction; it stays pending in the log, to be broadcast again if it does not
            raise
        return sent

    def submit(self, account: LocalAccount, tx: dict[str, Any]) -> SentTransaction:
        """Prices, signs and broadcasts `tx` at the account's next nonce (no waiting)."""
        tx = dict(tx)
        tx.setdefault("chainId", self._chain_id())
        fees = self.fees()
        with self._account_lock(account.address), self.store.account_lock(account.address):
            nonce = self._next_nonce(account.address)
            try:
                return self._sign_and_send(account, tx, nonce, fees)
            except Exception:
                self._next.pop(account.address.lower(), None)  # the nonce was not used
                raise

    def send(self, account: LocalAccount, tx: dict[str, Any]) -> TxReceipt:
        """`submit`, then `wait`: the receipt, confirmed as the policy asks."""
        tx = {"chainId": self._chain_id(), **tx}
        sent = self.submit(account, tx)
        return self.wait(account, sent, tx)

    def _receipt(self, tx_hash: str) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None

    def _rebroadcast(self, attempt: SentTransaction) -> bool:
        """Broadcasts `attempt` again; False if the node refuses it (not for being known or
        its nonce being mined: the receipts tell which attempt was)."""
        try:
            self.w3.eth.send_raw_transaction(attempt.raw)
        except Exception as exc:  # the node's refusal, in its own words
            if _already_known(exc) or _nonce_used(exc):
                return True
            log.warning(
                "the node refused a transaction broadcast again",
                extra={"fields": {"tx": attempt.tx_hash, "error": str(exc)}},
            )
            return False
        log.info(
            "transaction broadcast again",
            extra={"fields": {"tx": attempt.tx_hash, "nonce": attempt.nonce}},
        )
        return True

    def _replace(
        self, account: LocalAccount, last: SentTransaction, tx: dict[str, Any] | None
    ) -> SentTransaction | None:
        """A replacement of `last` at the same nonce with bumped fees; None if none can be sent
        (at the cap, or the nonce is used: the receipts will tell by which attempt)."""
        fees = self._bump(last)
        if fees is None or tx is None:
            self._rebroadcast(last)
            return None
        try:
            replacement = self._sign_and_send(account, tx, last.nonce, fees)
        except Exception as exc:
            if _nonce_used(exc):
                return None
            log.warning(
                "replacing a stuck transaction failed",
                extra={"fields": {"tx": last.tx_hash, "error": str(exc)}},
            )
            return None
        log.info(
            "stuck transaction replaced",
            extra={
                "fields": {
                    "old": last.tx_hash,
                    "new": replacement.tx_hash,
                    "nonce": last.nonce,
                    "max_fee_per_gas": fees.max_fee_per_gas or fees.gas_price,
                }
            },
        )
        return replacement

    def wait(
        self, account: LocalAccount, sent: SentTransaction, tx: dict[str, Any] | None = None
    ) -> TxReceipt:
        """Waits for the receipt of `sent` or of a replacement of it, replacing it after
        `replace_after` seconds (when `tx`, its unsigned body, is given) and waiting
        `confirmations` blocks on top; `TransactionTimeout` after `receipt_timeout`."""
        policy = self.policy
        attempts = [sent]
        started = time.monotonic()
        last_sent = started
        #: the receipt seen, kept while its confirmations come (only the head is asked then)
        seen: tuple[SentTransaction, TxReceipt] | None = None
        while True:
            if seen is None:
                seen = self._first_receipt(attempts)
            if seen is not None:
                attempt, receipt = seen
                block = int(receipt["blockNumber"])
                if policy.confirmations == 0:
                    self._settle(attempts, attempt, block)
                    return receipt
                confirmed, left = self._confirmed(attempt, block, receipt)
                if confirmed is not None:
                    self._settle(attempts, attempt, block)
                    return confirmed
                if left:
                    seen = None  # a reorganization took it: look for a receipt anew
            if seen is None and self.in_process:  # it mines as it is sent: this will not change
                raise ChainError(f"the in-process chain holds no receipt for {sent.tx_hash}")
            now = time.monotonic()
            if now - started >= policy.receipt_timeout:
                raise TransactionTimeout(
                    f"no confirmed receipt for {attempts[-1].tx_hash} (nonce {sent.nonce}) "
                    f"after {policy.receipt_timeout:.0f}s"
                )
            if seen is None and not self.in_process and now - last_sent >= policy.replace_after:
                replacement = self._replace(account, attempts[-1], tx)
                if replacement is not None:
                    attempts.append(replacement)
                else:
                    sibling = self._mined_sibling(sent)
                    if sibling is not None:  # another attempt at this nonce (another process)
                        attempts.append(sibling)
                        continue
                last_sent = now
            time.sleep(policy.poll_interval)

    def _first_receipt(
        self, attempts: list[SentTransaction]
    ) -> tuple[SentTransaction, TxReceipt] | None:
        """The mined attempt (newest first) and its receipt, if any is mined."""
        for attempt in reversed(attempts):
            receipt = self._receipt(attempt.tx_hash)
            if receipt is not None and receipt.get("blockNumber") is not None:
                return attempt, receipt
        return None

    def _mined_sibling(self, sent: SentTransaction) -> SentTransaction | None:
        """The stored attempt that took `sent`'s nonce, when the nonce is mined; None while it
        is not; `NonceConflict` if it was mined by a transaction none of ours."""
        mined = int(
            self.w3.eth.get_transaction_count(Web3.to_checksum_address(sent.account), "latest")
        )
        if mined <= sent.nonce:
            return None
        for attempt in self.store.attempts(sent.account, sent.nonce):
            if attempt.nonce == sent.nonce and self._receipt(attempt.tx_hash) is not None:
                return attempt
        raise NonceConflict(
            f"nonce {sent.nonce} of {sent.account} was used by a transaction this gateway did "
            "not send (is the key used elsewhere?)"
        )

    def _confirmed(
        self, attempt: SentTransaction, block: int, receipt: TxReceipt
    ) -> tuple[TxReceipt | None, bool]:
        """(the receipt re-read, False) once `confirmations` blocks are on top and it is still
        in the same block; (None, False) while they are not; (None, True) if it vanished or
        moved (a reorganization: a vanished transaction is sent again)."""
        if int(self.w3.eth.block_number) < block + self.policy.confirmations:
            return None, False
        again = self._receipt(attempt.tx_hash)
        if again is not None and again.get("blockHash") == receipt.get("blockHash"):
            return again, False
        if again is None:
            log.warning(
                "a mined transaction left the chain (reorganization): sending it again",
                extra={"fields": {"tx": attempt.tx_hash, "block": block}},
            )
            self._rebroadcast(attempt)
        return None, True

    def _settle(self, attempts: list[SentTransaction], mined: SentTransaction, block: int) -> None:
        self.store.set_state(mined.tx_hash, TxState.MINED, block)
        for attempt in attempts:
            if attempt.tx_hash != mined.tx_hash:
                self.store.set_state(attempt.tx_hash, TxState.REPLACED)
