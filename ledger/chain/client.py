"""A small, typed client over web3.py for the ledger's contracts, on any backend.

Transactions are always signed locally (eth-account) and sent raw, so the same code runs on the
embedded eth-tester chain, on anvil and on any JSON-RPC node. A reverted call or transaction
raises `ContractRevert` carrying the decoded custom error (name and arguments).
"""

from __future__ import annotations

import ast
import threading
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.types import Nonce, TxParams, TxReceipt

try:
    from eth_tester.exceptions import TransactionFailed
except (
    ImportError
):  # pragma: no cover - eth-tester is a dependency, but keep the client usable without it

    class TransactionFailed(Exception):  # type: ignore[no-redef]
        pass


from ledger.chain.artifacts import DecodedError, decode_custom_error, load_artifact
from ledger.errors import ChainError

__all__ = ["ChainClient", "ContractRevert"]


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


_CALLER = "0x0000000000000000000000000000000000000000"


class ChainClient:
    """One EVM node and the helpers the ledger needs on it."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self._nonce_lock = threading.Lock()
        self._nonces: dict[str, int] = {}
        self._contracts: dict[tuple[str, str], Contract] = {}
        self._view_caller: str | None = None

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

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

    def _next_nonce(self, address: str) -> int:
        with self._nonce_lock:
            on_chain = int(self.w3.eth.get_transaction_count(address, "pending"))  # type: ignore[arg-type]
            nonce = max(on_chain, self._nonces.get(address, 0))
            self._nonces[address] = nonce + 1
            return nonce

    def _send(self, account: LocalAccount, tx: dict[str, Any]) -> TxReceipt:
        tx.setdefault("chainId", self.chain_id)
        tx["nonce"] = self._next_nonce(account.address)
        signed = account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt["status"] != 1:
            raise ContractRevert(None, f"transaction {tx_hash.hex()} failed (gas {tx.get('gas')})")
        return receipt

    def _fees(self) -> dict[str, int]:
        base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        tip = 1_000_000_000
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def transact(
        self, account: LocalAccount, fn: ContractFunction, *, gas: int | None = None
    ) -> TxReceipt:
        """Signs and sends a contract call; a revert raises `ContractRevert` before sending.

        `gas`: a known estimate for this call (skips `eth_estimateGas`; headroom is added)."""
        if gas is None:
            try:
                gas = int(fn.estimate_gas({"from": account.address}))
            except _REVERTS as exc:
                raise _as_revert(exc) from exc
        params: TxParams = {
            "from": account.address,
            "gas": gas + gas // 5 + 10_000,
            "nonce": Nonce(0),
        }
        params.update(self._fees())  # type: ignore[typeddict-item]
        tx = fn.build_transaction(params)
        return self._send(account, dict(tx))

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
            {"from": account.address, "gas": gas + gas // 5, "nonce": 0, **self._fees()}
        )
        receipt = self._send(account, dict(tx))
        address = receipt["contractAddress"]
        if address is None:
            raise ChainError(f"deployment of {name} returned no address")
        return str(address), receipt

    def call(self, fn: ContractFunction, *, block: int | str = "latest") -> Any:
        """Calls a view; a revert raises `ContractRevert`."""
        try:
            # An explicit `from` spares a node round trip (eth_accounts) per call on some providers.
            return fn.call({"from": self._caller()}, block_identifier=block)  # type: ignore[arg-type]
        except _REVERTS as exc:
            raise _as_revert(exc) from exc

    def view_caller(self) -> str:
        """The `from` of view calls (see `_caller`)."""
        return self._caller()

    def _caller(self) -> str:
        """The `from` of view calls: the node's first account (eth-tester checks that the sender
        can afford the call's gas), else the zero address."""
        if self._view_caller is None:
            accounts = self.w3.eth.accounts
            self._view_caller = str(accounts[0]) if accounts else _CALLER
        return self._view_caller

    # ------------------------------------------------------------------ dev-chain helpers

    def fund(self, address: str, wei: int) -> None:
        """Sends `wei` from the node's first unlocked account (eth-tester, anvil, dev nodes)."""
        funder = self.w3.eth.accounts[0]
        tx_hash = self.w3.eth.send_transaction(
            {"from": funder, "to": Web3.to_checksum_address(address), "value": wei}  # type: ignore[typeddict-item]
        )
        self.w3.eth.wait_for_transaction_receipt(tx_hash)

    def new_funded_account(self, wei: int = 10**21) -> LocalAccount:
        """A fresh local account with gas money (dev chains only)."""
        account: LocalAccount = Account.create()
        self.fund(account.address, wei)
        return account

    def latest_timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_time(self, seconds: int) -> int:
        """Moves the dev chain's clock forward and mines a block; returns its timestamp."""
        provider = self.w3.provider
        tester = getattr(provider, "ethereum_tester", None)
        target = self.latest_timestamp() + seconds
        if tester is not None:
            tester.time_travel(target)
        else:
            self.w3.provider.make_request("evm_setNextBlockTimestamp", [target])  # type: ignore[arg-type]
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        return self.latest_timestamp()
