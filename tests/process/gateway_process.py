"""The real gateway as a child process (`python -m ledger serve`) on a free loopback port, for
the tests that kill it, starve it or throw hostile bytes at it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from ledger.testing import funded_key_file
from tests import backends

ROOT = Path(__file__).resolve().parents[2]

__all__ = [
    "GatewayProcess",
    "auth",
    "bank_and_platform",
    "free_port",
    "stop_all",
    "submit_and_confirm",
]

_STARTED: list[GatewayProcess] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def bank_and_platform(
    http: httpx.Client, regulator_key: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The regulator registers a bank and a platform, and the bank whitelists the platform; their
    registrations (participant and API key)."""
    bank = http.post(
        "/v1/participants",
        json={"role": "funder", "name": "Bank", "institution_type": "bank"},
        headers=auth(regulator_key),
    ).json()
    platform = http.post(
        "/v1/participants", json={"role": "platform", "name": "P"}, headers=auth(regulator_key)
    ).json()
    listed = http.put(
        f"/v1/whitelist/{platform['participant']['id']}", headers=auth(bank["api_key"])
    )
    assert listed.status_code == 200, listed.text
    return bank, platform


def submit_and_confirm(
    submitter: httpx.Client,
    confirmer: httpx.Client,
    body: dict[str, object],
    platform_key: str,
    funder_key: str,
) -> str | None:
    """A platform submits a loan at one gateway and its funder confirms it at another (or the
    same); the record id once acknowledged (confirmed with a signed entry timestamp), else None.
    """
    r = submitter.post("/v1/loans", json=body, headers=auth(platform_key))
    if r.status_code != 202:
        return None
    c = confirmer.post(f"/v1/loans/{r.json()['record_id']}/confirm", headers=auth(funder_key))
    if c.status_code == 200 and c.json()["entry_timestamp"]:
        return str(c.json()["record_id"])
    return None


_DATABASES: dict[Path, str] = {}


def _backend_args(data_dir: Path, given: tuple[str, ...]) -> tuple[str, list[str]]:
    """The backend's `--chain`/`--db` and key files for a gateway on `data_dir` (the same ones
    when it is restarted), unless the test chose its own; and the database's URL."""
    args: list[str] = []
    if "--chain" not in given and backends.CHAIN == "anvil":
        client = backends.chain_client()
        args += ["--chain", backends.anvil_node().url]
        for option in ("--deployer-key", "--account-key"):
            path = data_dir.parent / f"{data_dir.name}{option}.hex"
            if not path.exists():
                funded_key_file(client, path)
            args += [option, str(path)]
    if "--db" in given:
        return given[given.index("--db") + 1], args
    if backends.DATABASE == "postgresql":
        if data_dir not in _DATABASES:
            url = backends.database_url(data_dir)
            assert url is not None
            _DATABASES[data_dir] = url
        return _DATABASES[data_dir], [*args, "--db", _DATABASES[data_dir]]
    return f"sqlite:///{data_dir / 'ledger.db'}", args


class GatewayProcess:
    """`ledger serve` on the data dir and the backend's chain and database (`tests/backends.py`),
    started and waited for until `/healthz` answers."""

    def __init__(self, data_dir: Path, *extra_args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.db_url, backend_args = _backend_args(data_dir, extra_args)
        extra_args = (*backend_args, *extra_args)
        self.port = free_port()
        self.log = data_dir.parent / f"server-{self.port}.log"
        self.proc = subprocess.Popen(
            [*self.command(data_dir, self.port), *extra_args],
            env=self.environment(env),
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        _STARTED.append(self)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 90
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise AssertionError("gateway did not start")

    @staticmethod
    def command(data_dir: Path, port: int) -> list[str]:
        """`ledger serve` on `data_dir` and `port` (batches every 0.3 s); options follow."""
        return [
            sys.executable,
            "-m",
            "ledger",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--batch-interval",
            "0.3",
        ]

    @staticmethod
    def environment(env: dict[str, str] | None = None) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def regulator_key(self) -> str:
        text = self.log.read_text()
        return text.split("Regulator API key (shown once, store it now): ")[1].split()[0]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def stop_all() -> None:
    """Kill every gateway a test started and did not stop (a failed assertion skips `stop()`)."""
    while _STARTED:
        server = _STARTED.pop()
        if server.alive():
            server.kill()
