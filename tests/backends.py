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
import os
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from web3 import EthereumTesterProvider, Web3

from ledger import devpostgres
from ledger.chain.anvil import AnvilNode
from ledger.chain.client import ChainClient

__all__ = [
    "BACKEND",
    "CHAIN",
    "DATABASE",
    "PostgresCluster",
    "chain_client",
    "database_url",
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


class PostgresCluster:
    """The worker's throwaway server (`ledger.devpostgres`), with a new database per gateway."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self.url = self._stack.enter_context(devpostgres.server())

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
        self._stack.close()


_services: dict[str, object] = {}


#: for tests that start their own anvil and PostgreSQL whatever the backend: they run in the
#: default (embedded+sqlite) run only, not again in the anvil+postgresql one
own_services_only = pytest.mark.skipif(
    BACKEND != "embedded+sqlite",
    reason="starts its own anvil and PostgreSQL: runs once, in the embedded+sqlite run",
)


def postgres_cluster() -> PostgresCluster | None:
    """The worker's cluster (started on first use), or None without the binaries."""
    if "postgres" not in _services:
        if devpostgres.binaries() is None:
            return None
        _services["postgres"] = PostgresCluster()
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
