"""Dev nodes only (eth-tester, anvil, hardhat, geth --dev): what a test or a demo needs from a
node's unlocked, pre-funded account and its non-standard clock methods.

Nothing on the product path calls these: a production node has no unlocked account, and a
gateway's chain account comes from a key file. `ledger chain fund` is the command-line door.
"""

from __future__ import annotations

from web3 import Web3
from web3.types import TxParams

from ledger.errors import ConfigurationError

__all__ = ["advance_time", "fund"]

#: what `ledger chain fund` sends by default: 10 ether, a few thousand anchored batches
DEFAULT_FUNDING_WEI = 10**19


def fund(w3: Web3, address: str, wei: int = DEFAULT_FUNDING_WEI) -> str:
    """Sends `wei` to `address` from the node's first unlocked account (`eth_accounts`, signed
    by the node) and waits for it; returns the transaction hash."""
    accounts = w3.eth.accounts
    if not accounts:
        raise ConfigurationError(
            "the node has no unlocked account to fund from (not a dev node?): "
            "send gas money to the account some other way"
        )
    tx: TxParams = {"from": accounts[0], "to": Web3.to_checksum_address(address), "value": wei}  # type: ignore[typeddict-item]
    if w3.eth.get_block("latest").get("baseFeePerGas") is None:  # pre-London: web3 would
        tx["gasPrice"] = w3.eth.gas_price  # offer EIP-1559 fees, which such a node refuses
    tx_hash = w3.eth.send_transaction(tx)
    w3.eth.wait_for_transaction_receipt(tx_hash)
    return "0x" + bytes(tx_hash).hex()


def advance_time(w3: Web3, seconds: int) -> int:
    """Moves the dev chain's clock forward by `seconds` and mines a block (eth-tester's time
    travel, else `evm_setNextBlockTimestamp` + `evm_mine`); returns the new block's time."""
    target = int(w3.eth.get_block("latest")["timestamp"]) + seconds
    tester = getattr(w3.provider, "ethereum_tester", None)
    if tester is not None:
        tester.time_travel(target)
    else:
        w3.provider.make_request("evm_setNextBlockTimestamp", [target])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return int(w3.eth.get_block("latest")["timestamp"])
