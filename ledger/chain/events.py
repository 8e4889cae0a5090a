"""Reading the contracts' events fast: one `eth_getLogs` per block range for a set of addresses,
decoded straight from the committed ABIs (indexed arguments from the topics, the rest from the
data with `eth_abi`), with each event's block time.

This is what the registry and ledger state (`ledger.chain.state`) are rebuilt from. Logs are
only ever taken from the addresses asked for, so a look-alike contract's events never count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address

from ledger.chain.artifacts import load_artifact
from ledger.chain.client import ChainClient
from ledger.hashing import keccak256

__all__ = ["DEFAULT_LOG_RANGE", "ChainEvent", "EventDecoder", "read_events"]

#: Blocks per `eth_getLogs` call.
DEFAULT_LOG_RANGE = 50_000


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One decoded event."""

    contract: str  # artifact name
    name: str
    args: dict[str, Any]
    block_number: int
    log_index: int
    transaction_hash: bytes
    block_time: int


def _canonical_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return str(item["type"])


def _normalize(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith("bytes") and not abi_type.endswith("]"):
        return bytes(value)
    return value


def _raw(value: Any) -> bytes:
    return bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)


class EventDecoder:
    """Decoders for every event of the given contracts (artifact name -> address)."""

    def __init__(self, contracts: dict[str, str]) -> None:
        self._by_key: dict[tuple[str, bytes], tuple[str, str, list[dict[str, Any]]]] = {}
        for name, address in contracts.items():
            for item in load_artifact(name)["abi"]:
                if item.get("type") != "event":
                    continue
                types = ",".join(_canonical_type(i) for i in item["inputs"])
                topic = keccak256(f"{item['name']}({types})".encode())
                self._by_key[(address.lower(), topic)] = (name, item["name"], item["inputs"])
        self.addresses = [to_checksum_address(a) for a in contracts.values()]

    def decode(self, entry: Any) -> tuple[str, str, dict[str, Any]] | None:
        """(contract, event name, arguments) of a log (web3's or raw JSON-RPC's), or None."""
        topics = [_raw(t) for t in entry.get("topics") or []]
        if not topics:
            return None
        found = self._by_key.get((str(entry["address"]).lower(), topics[0]))
        if found is None:
            return None
        contract, name, inputs = found
        args: dict[str, Any] = {}
        indexed = [i for i in inputs if i.get("indexed")]
        for item, topic in zip(indexed, topics[1:], strict=False):
            kind = _canonical_type(item)
            if kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("("):
                args[item["name"]] = topic  # dynamic indexed values are hashed
            else:
                args[item["name"]] = _normalize(kind, abi_decode([kind], topic)[0])
        plain = [i for i in inputs if not i.get("indexed")]
        if plain:
            values = abi_decode([_canonical_type(i) for i in plain], _raw(entry["data"]))
            for item, value in zip(plain, values, strict=True):
                args[item["name"]] = _normalize(_canonical_type(item), value)
        return contract, name, args


def read_events(
    client: ChainClient,
    decoder: EventDecoder,
    from_block: int,
    to_block: int,
    *,
    block_range: int = DEFAULT_LOG_RANGE,
    known_times: dict[int, int] | None = None,
) -> list[ChainEvent]:
    """Every event of the decoder's contracts in [from_block, to_block], in chain order."""
    times = known_times if known_times is not None else {}
    events: list[ChainEvent] = []
    start = from_block
    while start <= to_block:
        end = min(start + block_range - 1, to_block)
        logs = client.w3.eth.get_logs(
            {"fromBlock": start, "toBlock": end, "address": decoder.addresses}
        )
        for entry in logs:
            decoded = decoder.decode(entry)
            if decoded is None:
                continue
            number = int(entry["blockNumber"])
            if number not in times:
                times[number] = int(client.w3.eth.get_block(number)["timestamp"])
            contract, name, args = decoded
            events.append(
                ChainEvent(
                    contract,
                    name,
                    args,
                    number,
                    int(entry["logIndex"]),
                    bytes(entry["transactionHash"]),
                    times[number],
                )
            )
        start = end + 1
    events.sort(key=lambda e: (e.block_number, e.log_index))
    return events
