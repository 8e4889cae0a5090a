"""The embedded chain survives restarts: clean close, and SIGKILL at a random moment."""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3
from web3.types import TxParams, Wei

from ledger.chain.client import ChainClient
from ledger.chain.embedded import CHAIN_ID, DB_FILENAME, EmbeddedChain, open_embedded_chain
from ledger.errors import ChainError, ConfigurationError
from ledger.receipts import Receipt
from ledger.testing import Actors, setup_actors
from ledger.trust import TrustRoot
from ledger.verify import verify_receipt

from .embedded_worker import anchor_one_batch, dump_actors, load_actors

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("embedded_worker.py")

Issued = list[tuple[dict[str, Any], bytes]]  # (receipt JSON, agreement document)


def _verify_all(client: ChainClient, issued: Issued, trust: TrustRoot | None = None) -> None:
    """Every receipt verifies (against `trust` when given: the deployment as first opened)."""
    for receipt, document in issued:
        report = verify_receipt(
            Receipt.model_validate(receipt), client, trust=trust, document=document
        )
        assert report.ok, report


def _anchor(actors: Actors, n: int, size: int = 2) -> Issued:
    return [(json.loads(r), d) for r, d in anchor_one_batch(actors, n, size)]


def _fingerprint(chain: EmbeddedChain) -> dict[str, Any]:
    w3 = chain.w3
    head = w3.eth.get_block("latest")
    dev = w3.eth.accounts[0]
    return {
        "chain_id": w3.eth.chain_id,
        "genesis": w3.eth.get_block(0)["hash"],
        "head": (head["number"], head["hash"], head["timestamp"], head["stateRoot"]),
        "dev_nonce": w3.eth.get_transaction_count(dev),
        "dev_balance": w3.eth.get_balance(dev),
    }


# ------------------------------------------------------------------------------ clean restart


def test_close_and_reopen_keeps_every_receipt_and_carries_on(tmp_path: Path) -> None:
    data = tmp_path / "chain"
    with open_embedded_chain(data) as chain:
        client = ChainClient(chain.w3)
        actors = setup_actors(client)
        issued = _anchor(actors, 0, size=3)
        deploy_tx = HexBytes(
            chain.w3.eth.get_block(actors.deployment.block_number)["transactions"][0]  # type: ignore[arg-type]
        )
        ledger = Web3.to_checksum_address(actors.deployment.ledger)
        ledger_logs = chain.w3.eth.get_logs({"address": ledger, "fromBlock": 0})
        saved = dump_actors(actors)
        trust = TrustRoot.of_deployment(client, actors.deployment)
        before = _fingerprint(chain)
        _verify_all(client, issued, trust)
    assert chain.closed

    with open_embedded_chain(data) as chain:
        client = ChainClient(chain.w3)
        assert _fingerprint(chain) == before
        assert before["chain_id"] == CHAIN_ID
        assert chain.w3.eth.get_transaction_receipt(deploy_tx)["status"] == 1
        assert chain.w3.eth.get_logs({"address": ledger, "fromBlock": 0}) == ledger_logs
        _verify_all(client, issued, trust)

        # New transactions: the dev account's nonce continues, the old deployment still works.
        fresh = client.new_funded_account(10**18)
        assert chain.w3.eth.get_transaction_count(chain.w3.eth.accounts[0]) == (
            before["dev_nonce"] + 1
        )
        assert chain.w3.eth.get_balance(fresh.address) == 10**18
        actors = load_actors(client, saved)
        more = _anchor(actors, 1)
        _verify_all(client, issued + more, trust)
        head = chain.block_number

    with open_embedded_chain(data) as chain:
        assert chain.block_number == head
        _verify_all(ChainClient(chain.w3), issued + more, trust)


def test_reads_and_calls_write_nothing_and_snapshots_persist(tmp_path: Path) -> None:
    with open_embedded_chain(tmp_path / "c") as chain:
        client = ChainClient(chain.w3)
        target = Account.create().address
        client.fund(target, 5)
        snap = chain.snapshot()
        mark = _fingerprint(chain)
        probe: TxParams = {"from": chain.w3.eth.accounts[0], "to": target, "value": Wei(1)}
        chain.w3.eth.estimate_gas(probe)
        chain.w3.eth.call(probe)
        chain.w3.eth.get_block("latest", full_transactions=True)
        assert chain._store._overlay == {}  # nothing unflushed outside a mined block
        client.fund(target, 7)
        client.fund(target, 9)
        assert chain.w3.eth.get_balance(target) == 21
        chain.revert(snap)
        assert _fingerprint(chain) == mark
    with open_embedded_chain(tmp_path / "c") as chain:
        assert _fingerprint(chain) == mark
        assert chain.w3.eth.get_balance(target) == 5
        ChainClient(chain.w3).fund(target, 1)  # the dev nonce is the reverted one again
        assert chain.w3.eth.get_balance(target) == 6


def test_concurrent_requests_are_serialised(tmp_path: Path) -> None:
    with open_embedded_chain(tmp_path / "c") as chain:
        client = ChainClient(chain.w3)
        target = Account.create().address
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(4):
                    client.fund(target, 1)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert chain.w3.eth.get_balance(target) == 16
        assert chain.block_number == 16


# ------------------------------------------------------------------------------ SIGKILL


def _start_worker(data: Path, setup: Path | None, log: Path) -> tuple[subprocess.Popen[str], Any]:
    args = [sys.executable, str(WORKER), str(data)] + ([str(setup)] if setup else [])
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    stderr = log.open("a")
    proc = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
    )
    return proc, stderr


def _reader(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line)
    lines.put(None)


def _take(line: str, setup: Path, issued: Issued) -> bool:
    """Records one complete output line; True if it was a receipt."""
    if not line.endswith("\n"):  # cut by the kill mid-write: never acknowledged
        return False
    message = json.loads(line)
    if "setup" in message:
        setup.write_text(json.dumps(message["setup"]), encoding="utf-8")
        return False
    issued.append((message["receipt"], bytes.fromhex(message["document"])))
    return True


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_acknowledged_receipt(tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    data, setup, log = tmp_path / "chain", tmp_path / "setup.json", tmp_path / "worker.log"
    issued: Issued = []
    started = time.monotonic()
    for round_ in range(3):
        proc, stderr = _start_worker(data, setup if round_ else None, log)
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_reader, args=(proc, lines), daemon=True)
        reader.start()
        try:
            wanted, got = rng.randint(2, 6), 0
            while got < wanted:
                line = lines.get(timeout=30)
                assert line is not None, f"worker died (seed {seed}): {log.read_text()[-2000:]}"
                got += _take(line, setup, issued)
            time.sleep(rng.uniform(0.0, 0.4))  # somewhere inside the next batch, or a commit
            assert proc.poll() is None, f"worker exited early (seed {seed})"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:  # pragma: no cover - a failed assertion above
                proc.kill()
                proc.wait()
            stderr.close()
        reader.join(timeout=10)
        while (line := lines.get()) is not None:  # what was flushed before the kill
            _take(line, setup, issued)

        with open_embedded_chain(data) as chain:
            client = ChainClient(chain.w3)
            last = max(r["anchor"]["block_number"] for r, _ in issued)
            assert chain.block_number >= last
            _verify_all(client, issued)  # every acknowledged receipt, from every round
            actors = load_actors(client, json.loads(setup.read_text(encoding="utf-8")))
            issued += _anchor(actors, 100 + round_)  # and the chain carries on
            client.fund(Account.create().address, 1)
    assert len({r["anchor"]["transaction_hash"] for r, _ in issued}) >= 6
    assert time.monotonic() - started < 60, f"seed {seed}"


# ------------------------------------------------------------------------------ data dir


def test_missing_dir_creates_a_chain_that_reopens_identically(tmp_path: Path) -> None:
    data = tmp_path / "a" / "b"
    with open_embedded_chain(data) as chain:
        assert chain.block_number == 0
        assert chain.w3.eth.chain_id == CHAIN_ID
        accounts = chain.w3.eth.accounts
        assert len(accounts) == 10
        assert all(chain.w3.eth.get_balance(a) == 10**24 for a in accounts)
        genesis = chain.w3.eth.get_block(0)["hash"]
    assert (data / DB_FILENAME).is_file()
    with open_embedded_chain(data) as chain:
        assert chain.w3.eth.get_block(0)["hash"] == genesis
        assert chain.w3.eth.accounts == accounts


def test_interrupted_creation_starts_over(tmp_path: Path) -> None:
    (tmp_path / DB_FILENAME).write_bytes(b"")  # created, killed before the genesis commit
    (tmp_path / "LOCK").write_bytes(b"")
    with open_embedded_chain(tmp_path) as chain:
        assert chain.block_number == 0


def test_garbage_database_is_a_chain_error(tmp_path: Path) -> None:
    (tmp_path / DB_FILENAME).write_bytes(b"not a database" * 100)
    with pytest.raises(ChainError, match="not a usable chain database"):
        open_embedded_chain(tmp_path)


def _tamper(data: Path, sql: str, *params: Any) -> None:
    conn = sqlite3.connect(data / DB_FILENAME)
    with conn:
        conn.execute(sql, params)
    conn.close()


def test_other_format_version_is_a_configuration_error(tmp_path: Path) -> None:
    open_embedded_chain(tmp_path).close()
    _tamper(tmp_path, "UPDATE meta SET v = '999' WHERE k = 'format_version'")
    with pytest.raises(ConfigurationError, match="format '999'"):
        open_embedded_chain(tmp_path)


def test_missing_head_state_is_a_chain_error(tmp_path: Path) -> None:
    with open_embedded_chain(tmp_path) as chain:
        ChainClient(chain.w3).fund(Account.create().address, 1)
        root = bytes(chain.w3.eth.get_block("latest")["stateRoot"])
    _tamper(tmp_path, "DELETE FROM kv WHERE k = ?", root)
    with pytest.raises(ChainError, match="state of head block 1 is missing"):
        open_embedded_chain(tmp_path)


def test_unrelated_directory_or_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigurationError, match="holds no embedded chain"):
        open_embedded_chain(tmp_path)
    with pytest.raises(ConfigurationError, match="not a directory"):
        open_embedded_chain(tmp_path / "notes.txt")


def test_one_opener_at_a_time(tmp_path: Path) -> None:
    first = open_embedded_chain(tmp_path)
    with pytest.raises(ChainError) as info:
        open_embedded_chain(tmp_path)
    assert info.value.code == "CHAIN_IN_USE"
    first.close()
    first.close()  # idempotent
    with pytest.raises(ChainError, match="closed"):
        first.w3.eth.get_block("latest")
    open_embedded_chain(tmp_path).close()
