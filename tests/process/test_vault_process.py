"""The document vault in the real gateway process (`ledger serve` on a stock anvil, SQLite):
a 200 MB agreement is uploaded and downloaded with the gateway's memory bounded far below the
file's size; after erasure the document cannot be recovered from the database files, while the
receipt still verifies; no clear text of the document or the borrower's id number is in the
database file, the gateway's output or the chain."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from web3 import Web3

from ledger.chain.anvil import AnvilNode
from ledger.chain.client import ChainClient
from ledger.errors import DocumentErased
from ledger.store import Database
from ledger.testing import funded_key_file, loan_submission
from ledger.vault import document_stream
from tests import backends
from tests.process.gateway_process import GatewayProcess, auth, bank_and_platform

pytestmark = pytest.mark.slow

SIZE = 200 * 1024 * 1024
MiB = 1024 * 1024
BORROWER_ID = "11010119900307" + str(secrets.randbelow(9000) + 1000)


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


class PeakRss:
    """Samples a process's resident set every 20 ms while in use; `peak` in bytes."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _status_kib(self.pid, "VmRSS") * 1024)
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _status_kib(self.pid, "VmRSS") * 1024)


def _agreement(path: Path, marker: bytes) -> str:
    """A 200 MB file: the marker at the start, then random bytes; its sha256 (0x hex)."""
    h = hashlib.sha256()
    with path.open("wb") as f:
        first = marker + os.urandom(MiB - len(marker))
        for index in range(SIZE // MiB):
            block = first if index == 0 else os.urandom(MiB)
            f.write(block)
            h.update(block)
    return "0x" + h.hexdigest()


def _sample(path: Path) -> bytes:
    """64 bytes from the middle of the file (random: found only where the clear text is)."""
    with path.open("rb") as f:
        f.seek(SIZE // 2)
        return f.read(64)


def _chain_bytes(url: str) -> bytes:
    """Every transaction input and every log (topics and data) on the node."""
    w3 = Web3(Web3.HTTPProvider(url))
    out = bytearray()
    for number in range(w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            out += bytes(tx["input"])  # type: ignore[index]
    for log in w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest"}):
        out += bytes(log["data"]) + b"".join(bytes(t) for t in log["topics"])
    return bytes(out)


@pytest.fixture(scope="module")
def gateway(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("vault")
    client = ChainClient(Web3(Web3.HTTPProvider(anvil.url)))
    keys = {name: tmp / f"{name}.key" for name in ("deployer", "account")}
    for path in keys.values():
        funded_key_file(client, path)
    master = secrets.token_bytes(32)
    db = tmp / "gw" / "ledger.db"
    server = GatewayProcess(
        tmp / "gw",
        "--chain",
        anvil.url,
        "--db",
        f"sqlite:///{db}",
        "--deployer-key",
        str(keys["deployer"]),
        "--account-key",
        str(keys["account"]),
        env={"LEDGER_MASTER_KEY": master.hex()},
    )
    try:
        yield server, master, db, tmp, anvil.url
    finally:
        server.stop()


@backends.own_services_only
def test_a_200_mb_agreement_in_bounded_memory_then_shredded(
    gateway: Any, figures: Callable[[str], None]
) -> None:
    server, master, db_path, tmp, chain_url = gateway
    marker = b"%PDF-1.7 CLEAR-AGREEMENT-" + secrets.token_hex(16).encode()
    path = tmp / "agreement.pdf"
    digest = _agreement(path, marker)
    pid = server.proc.pid
    with httpx.Client(base_url=server.base, timeout=600) as http:
        regulator = server.regulator_key()
        bank, platform = bank_and_platform(http, regulator)
        now = int(http.get("/healthz").json()["time"])
        body, _ = loan_submission(bank["participant"]["id"], now, borrower_id=BORROWER_ID)
        body["agreement_sha256"] = digest[2:]
        baseline = _status_kib(pid, "VmRSS") * 1024
        started = time.monotonic()
        with PeakRss(pid) as up, path.open("rb") as f:
            r = http.post(
                "/v1/loans",
                files={
                    "submission": (None, json.dumps(body)),
                    "agreement": ("agreement.pdf", f, "application/pdf"),
                },
                headers=auth(platform["api_key"]),
            )
        upload_s = time.monotonic() - started
        assert r.status_code == 202, r.text
        record_id = r.json()["record_id"]
        c = http.post(f"/v1/loans/{record_id}/confirm", headers=auth(bank["api_key"]))
        assert c.status_code == 200, c.text
        h = hashlib.sha256()
        started = time.monotonic()
        with (
            PeakRss(pid) as down,
            http.stream(
                "GET", f"/v1/loans/{record_id}/document", headers=auth(platform["api_key"])
            ) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-length"] == str(SIZE)
            assert response.headers["x-document-sha256"] == digest
            received = 0
            for chunk in response.iter_bytes(MiB):
                h.update(chunk)
                received += len(chunk)
        download_s = time.monotonic() - started
        assert received == SIZE and "0x" + h.hexdigest() == digest
        hwm = _status_kib(pid, "VmHWM") * 1024
        figures(
            f"vault 200 MB [{backends.BACKEND}]: gateway RSS {baseline / MiB:.0f} MiB before,"
            f" peak {up.peak / MiB:.0f} MiB during upload ({upload_s:.1f} s),"
            f" {down.peak / MiB:.0f} MiB during download ({download_s:.1f} s);"
            f" VmHWM {hwm / MiB:.0f} MiB"
        )
        assert up.peak - baseline < 64 * MiB, (baseline, up.peak)
        assert down.peak - baseline < 64 * MiB, (baseline, down.peak)
        assert hwm < baseline + 64 * MiB

        # anchored: the receipt verifies; then the regulator orders the erasure
        deadline = time.time() + 60
        while (
            http.get(f"/v1/loans/{record_id}", headers=auth(regulator)).json()["status"]
            != "anchored"
        ):
            assert time.time() < deadline, "not anchored"
            time.sleep(0.5)
        receipt = http.get(f"/v1/loans/{record_id}/receipt", headers=auth(regulator)).json()
        assert http.post("/v1/verify", json={"receipt": receipt}).json()["ok"] is True
        sample = _sample(path)
        stored = db_path.read_bytes() + (
            Path(f"{db_path}-wal").read_bytes() if Path(f"{db_path}-wal").exists() else b""
        )
        assert marker not in stored and sample not in stored  # encrypted at rest
        erased = http.post(
            f"/v1/loans/{record_id}/erasure",
            json={"reason": "borrower's request", "reference": "REQ-1"},
            headers=auth(regulator),
        )
        assert erased.status_code == 200, erased.text
        gone = http.get(f"/v1/loans/{record_id}/document", headers=auth(platform["api_key"]))
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "DOCUMENT_ERASED"
        again = http.post("/v1/verify", json={"receipt": receipt}).json()
        assert again["ok"] is True, again
    db = Database(f"sqlite:///{db_path}")
    try:
        with pytest.raises(DocumentErased):
            document_stream(db, digest, master)
    finally:
        db.engine.dispose()
    server.stop()  # checkpoints the WAL: everything is in the files scanned now
    files = db_path.read_bytes() + (
        Path(f"{db_path}-wal").read_bytes() if Path(f"{db_path}-wal").exists() else b""
    )
    output = server.log.read_bytes()
    chain = _chain_bytes(chain_url)
    # the scan read something: the contracts' deployment code and the batch's anchoring
    root = bytes.fromhex(receipt["anchor"]["root"][2:])
    assert len(chain) > 10_000 and root in chain
    for where, data in (("database", files), ("gateway output", output), ("chain", chain)):
        assert marker not in data, where
        assert sample not in data, where
        assert BORROWER_ID.encode() not in data, where
        assert BORROWER_ID.encode().hex().encode() not in data, where
