"""The backends the suites run on, chosen by `LEDGER_TEST_BACKEND` (`<chain>+<database>`):

- chain `embedded`: a fresh in-process eth-tester chain per gateway (the default); `anvil`: one
  stock anvil per test worker with a block time of 1 s (real confirmations), on a free
  loopback port, stopped by PID at the end;
- database `sqlite`: a file in the gateway's data dir (the default); `postgresql`: a fresh
  database per gateway in one throwaway cluster per worker, started from Debian's binaries.

As web3.py re-runs one module-testing suite per provider, `scripts/test` runs the gateway's API
and process suites once per combination. The services start on first use.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from web3 import EthereumTesterProvider, Web3

from ledger.chain.anvil import AnvilNode
from ledger.chain.client import ChainClient

__all__ = [
    "BACKEND",
    "CHAIN",
    "DATABASE",
    "PostgresCluster",
    "chain_client",
    "database_url",
    "postgres_bin_dir",
    "shutdown",
]

BACKEND = os.environ.get("LEDGER_TEST_BACKEND", "embedded+sqlite")
CHAIN, _, DATABASE = BACKEND.partition("+")
if CHAIN not in ("embedded", "anvil") or DATABASE not in ("sqlite", "postgresql"):
    raise SystemExit(
        f"LEDGER_TEST_BACKEND={BACKEND!r}: expected (embedded|anvil)+(sqlite|postgresql)"
    )

#: anvil's block time on the anvil backend (seconds)
ANVIL_BLOCK_TIME = 1


def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).resolve().parent if pg_ctl else None


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


class PostgresCluster:
    """A throwaway cluster in a temporary directory owned by `postgres` (initdb refuses root),
    on a Unix socket only (no TCP), fsync off; `stop()` stops it and removes the directory."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
        self.data = self.root / "data"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        with socket.socket() as probe:  # a port number for the socket's name, free per worker
            probe.bind(("127.0.0.1", 0))
            self.port = str(probe.getsockname()[1])
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust")
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.root / "log"),
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses='' -c fsync=off",
            "start",
        )
        self._run("createdb", "-h", str(self.root), "-p", self.port, "-U", "postgres", "ledger")
        self.url = f"postgresql+psycopg://postgres@/ledger?host={self.root}&port={self.port}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(self.bin_dir / tool), *args]), check=True, capture_output=True
        )

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)


_services: dict[str, object] = {}


def postgres_cluster() -> PostgresCluster | None:
    """The worker's cluster (started on first use), or None without the binaries."""
    if "postgres" not in _services:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            return None
        _services["postgres"] = PostgresCluster(bin_dir)
    cluster = _services["postgres"]
    assert isinstance(cluster, PostgresCluster)
    return cluster


def anvil_node() -> AnvilNode:
    """The worker's stock anvil with a block time (started on first use)."""
    if "anvil" not in _services:
        _services["anvil"] = AnvilNode(
            hardfork=None, balance_eth=None, extra_args=["--block-time", str(ANVIL_BLOCK_TIME)]
        ).start()
    node = _services["anvil"]
    assert isinstance(node, AnvilNode)
    return node


def chain_client() -> ChainClient:
    """A client on the backend's chain: a fresh eth-tester chain, or the worker's anvil."""
    if CHAIN == "embedded":
        return ChainClient(Web3(EthereumTesterProvider()))
    return ChainClient(Web3(Web3.HTTPProvider(anvil_node().url, request_kwargs={"timeout": 60})))


def database_url(data_dir: Path) -> str | None:
    """The backend's database for a gateway: None (SQLite in its data dir) or a new PostgreSQL
    database."""
    if DATABASE == "sqlite":
        return None
    cluster = postgres_cluster()
    if cluster is None:
        raise RuntimeError("LEDGER_TEST_BACKEND wants PostgreSQL, whose binaries are missing")
    return cluster.new_database()


def shutdown() -> None:
    """Stops what was started (by PID)."""
    while _services:
        _, service = _services.popitem()
        if isinstance(service, PostgresCluster | AnvilNode):
            service.stop()


atexit.register(shutdown)
