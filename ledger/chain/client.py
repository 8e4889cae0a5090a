"""A small, typed client over web3.py for the ledger's contracts, on any backend.

Transactions are always signed locally (eth-account) and sent raw, so the same code runs on the
embedded eth-tester chain, on anvil and on any JSON-RPC node. A reverted call or transaction
raises `ContractRevert` carrying the decoded custom error (name and arguments).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.types import Nonce, TxParams, TxReceipt, Wei

try:
    from eth_tester.exceptions import TransactionFailed
except (
    ImportError
):  # pragma: no cover - eth-tester is a dependency, but keep the client usable without it

    class TransactionFailed(Exception):  # type: ignore[no-redef]
        pass


from ledger.chain import devnode
from ledger.chain.artifacts import DecodedError, decode_custom_error, load_artifact
from ledger.chain.transactions import (
    SentTransaction,
    TransactionManager,
    TransactionStore,
    TxPolicy,
)
from ledger.errors import ChainError, ChainIdMismatch, ChainUnavailable

__all__ = ["ChainClient", "ContractRevert", "PendingTx", "node_unreachable"]


def node_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the node did not answer: refused, reset or timed out (web3's HTTP
    provider raises `requests`' errors, which are `OSError`s), or `ChainUnavailable`."""
    seen: BaseException | None = exc
    for _ in range(4):  # the exception and what it was raised from
        if seen is None:
            return False
        if isinstance(seen, ChainUnavailable | OSError | TimeoutError):
            return True
        seen = seen.__cause__
    return False


@dataclass(frozen=True)
class PendingTx:
    """A contract call broadcast and not yet waited for (`ChainClient.submit`)."""

    account: LocalAccount
    sent: SentTransaction
    tx: dict[str, Any]


class ContractRevert(ChainError):
    """A contract call reverted; `error` is the decoded custom error when it is one of ours."""

    code = "CONTRACT_REVERTED"

    def __init__(self, error: DecodedError | None, detail: str = "") -> None:
        self.error = error
        if error is not None:
            message = f"contract reverted with {error.name}{error.args!r}"
        else:
            message = f"contract reverted: {detail or 'no reason'}"
        super().__init__(message)

    @property
    def error_name(self) -> str | None:
        return self.error.name if self.error else None

    @property
    def error_args(self) -> tuple[Any, ...]:
        return self.error.args if self.error else ()


def _revert_data(exc: BaseException) -> bytes | None:
    """Revert data from web3's errors (hex `data`) or eth-tester's (raw bytes in the cause chain)."""
    seen: BaseException | None = exc
    while seen is not None:
        data = getattr(seen, "data", None)
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        if seen.args and isinstance(seen.args[0], bytes):
            return seen.args[0]
        if seen.args and isinstance(seen.args[0], str):
            # eth-tester's eth_call path stringifies the bytes: "execution reverted: b'...'".
            text = seen.args[0].removeprefix("execution reverted: ")
            if text.startswith(("b'", 'b"')):
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    value = None
                if isinstance(value, bytes):
                    return value
        seen = seen.__cause__ or seen.__context__
    return None


def _as_revert(exc: BaseException) -> ContractRevert:
    data = _revert_data(exc)
    decoded = decode_custom_error(data) if data else None
    return ContractRevert(decoded, str(exc))


#: What a revert looks like from web3 on a JSON-RPC node and from the eth-tester provider.
_REVERTS: tuple[type[Exception], ...] = (
    ContractCustomError,
    ContractPanicError,
    ContractLogicError,
    TransactionFailed,
)


class ChainClient:
    """One EVM node and the helpers the ledger needs on it.

    Transactions go through `transactions` (`ledger.chain.transactions.TransactionManager`):
    nonces, capped EIP-1559 fees, replacement of stuck transactions and confirmations, with
    standard JSON-RPC only."""

    def __init__(
        self, w3: Web3, policy: TxPolicy | None = None, store: TransactionStore | None = None
    ) -> None:
        self.w3 = w3
        self._contracts: dict[tuple[str, str], Contract] = {}
        self._chain_id: int | None = None
        self.transactions = TransactionManager(w3, policy, store, chain_id=lambda: self.chain_id)

    @property
    def chain_id(self) -> int:
        """The node's chain id (asked once: a node does not change chains)."""
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def require_chain_id(self, expected: int) -> None:
        """Asks the node its chain id again (not the cached one: the URL may now reach another
        node) and raises `ChainIdMismatch` unless it is `expected`; `ChainUnavailable` if the
        node does not answer."""
        try:
            answered = int(self.w3.eth.chain_id)
        except Exception as exc:
            if node_unreachable(exc):
                raise ChainUnavailable(f"the node does not answer: {exc}"[:300]) from exc
            raise
        if answered != expected:
            raise ChainIdMismatch(
                f"the node answers chain id {answered}, not the deployment's {expected}: it is"
                " another chain; point the gateway at a node of chain"
                f" {expected}"
            )

    @property
    def policy(self) -> TxPolicy:
        return self.transactions.policy

    def contract(self, name: str, address: str) -> Contract:
        """A contract object bound to the committed ABI of `name`."""
        key = (name, address.lower())
        if key not in self._contracts:  # building a web3 contract object costs tens of ms
            abi = load_artifact(name)["abi"]
            self._contracts[key] = self.w3.eth.contract(
                address=Web3.to_checksum_address(address), abi=abi
            )
        return self._contracts[key]

    # ------------------------------------------------------------------ transactions

    def _send(self, account: LocalAccount, tx: dict[str, Any]) -> TxReceipt:
        return self._succeeded(self.transactions.send(account, tx), tx)

    @staticmethod
    def _succeeded(receipt: TxReceipt, tx: dict[str, Any]) -> TxReceipt:
        if receipt["status"] != 1:
            raise ContractRevert(
                None, f"transaction {receipt['transactionHash'].hex()} failed (gas {tx.get('gas')})"
            )
        return receipt

    def _build_params(self, account: LocalAccount, gas: int) -> TxParams:
        # Placeholder fees and nonce keep web3 from asking the node for its own; the transaction
        # manager prices and numbers the transaction when it sends it.
        return {
            "from": account.address,
            "gas": gas,
            "nonce": Nonce(0),
            "chainId": self.chain_id,
            "maxFeePerGas": Wei(1),
            "maxPriorityFeePerGas": Wei(1),
        }

    def transact(
        self, account: LocalAccount, fn: ContractFunction, *, gas: int | None = None
    ) -> TxReceipt:
        """Signs and sends a contract call; a revert raises `ContractRevert` before sending.

        `gas`: a known estimate for this call (skips `eth_estimateGas`; headroom is added)."""
        return self._send(account, self._call_tx(account, fn, gas))

    def _call_tx(
        self, account: LocalAccount, fn: ContractFunction, gas: int | None
    ) -> dict[str, Any]:
        if gas is None:
            try:
                gas = int(fn.estimate_gas({"from": account.address}))
            except _REVERTS as exc:
                raise _as_revert(exc) from exc
        tx = fn.build_transaction(self._build_params(account, self.policy.with_headroom(gas)))
        return {"chainId": self.chain_id, **dict(tx)}

    def submit(
        self, account: LocalAccount, fn: ContractFunction, *, gas: int | None = None
    ) -> PendingTx:
        """`transact` without waiting: the call is estimated (a revert raises `ContractRevert`)
        and broadcast; `settle` waits for it. Many sent first and settled after share blocks."""
        tx = self._call_tx(account, fn, gas)
        return PendingTx(account, self.transactions.submit(account, tx), tx)

    def settle(self, pending: PendingTx) -> TxReceipt:
        """The receipt of a submitted call, confirmed as the policy asks; `ContractRevert` if
        it failed on chain."""
        receipt = self.transactions.wait(pending.account, pending.sent, pending.tx)
        return self._succeeded(receipt, pending.tx)

    def transfer(self, account: LocalAccount, to: str, wei: int) -> TxReceipt:
        """Sends `wei` from `account` to the externally owned account `to` (21,000 gas)."""
        tx = {"to": Web3.to_checksum_address(to), "value": wei, "gas": 21_000}
        return self._send(account, tx)

    def deploy(self, account: LocalAccount, name: str, *args: Any) -> tuple[str, TxReceipt]:
        """Deploys a committed artifact; returns its address and the receipt."""
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        constructor = factory.constructor(*args)
        try:
            gas = int(constructor.estimate_gas({"from": account.address}))
        except _REVERTS as exc:
            raise _as_revert(exc) from exc
        tx = constructor.build_transaction(
            self._build_params(account, self.policy.with_headroom(gas))
        )
        receipt = self._send(account, dict(tx))
        address = receipt["contractAddress"]
        if address is None:
            raise ChainError(f"deployment of {name} returned no address")
        return str(address), receipt

    def call(self, fn: ContractFunction, *, block: int | str = "latest") -> Any:
        """Calls a view (an `eth_call` without `from`: any node takes it); a revert raises
        `ContractRevert`."""
        try:
            return fn.call({}, block_identifier=block)  # type: ignore[arg-type]
        except _REVERTS as exc:
            raise _as_revert(exc) from exc

    def latest_timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    # ------------------------------------------------------------------ dev-chain helpers

    def fund(self, address: str, wei: int) -> None:
        """Dev nodes only (`ledger.chain.devnode.fund`): gas money from the node's account."""
        devnode.fund(self.w3, address, wei)

    def new_funded_account(self, wei: int = 10**21) -> LocalAccount:
        """Dev nodes only: a fresh local account with gas money."""
        account: LocalAccount = Account.create()
        self.fund(account.address, wei)
        return account

    def advance_time(self, seconds: int) -> int:
        """Dev nodes only (`ledger.chain.devnode.advance_time`): moves the chain's clock
        forward and mines a block; returns its timestamp."""
        return devnode.advance_time(self.w3, seconds)
