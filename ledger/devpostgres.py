"""A throwaway PostgreSQL server for tests and benchmarks, from the Debian binaries.

    with devpostgres.server() as url:   # a SQLAlchemy URL (psycopg, Unix socket)
        db = Database(url)

The cluster lives in a temporary directory (owned by the `postgres` user when run as root:
initdb refuses root), listens only on a Unix socket in that directory (on a free port number,
so several can run side by side), runs with `fsync=off` and is stopped (`pg_ctl -m immediate`)
and deleted on exit. `cluster()` yields the running `Cluster` itself, which a fault drill stops,
starts again and reconfigures. `binaries()` says whether the server can be started at all
(`apt-get install postgresql`). Development only: never for data that matters.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Cluster", "binaries", "cluster", "server"]


def binaries() -> Path | None:
    """The directory of `pg_ctl` and `initdb`, or None if PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).resolve().parent if pg_ctl else None


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


class Cluster:
    """A running throwaway cluster (`cluster()`): its URL, and what a fault drill does to it —
    stop it (`pg_ctl stop -m fast|immediate`), start it again on the same socket, run SQL as
    the superuser."""

    def __init__(self, bin_dir: Path, home: Path, port: str, options: str, database: str) -> None:
        self.bin_dir, self.home, self.port, self.options = bin_dir, home, port, options
        self.data = home / "data"
        self.url = f"postgresql+psycopg://postgres@/{database}?host={home}&port={port}"

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            _as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args]),
            check=check,
            capture_output=True,
        )

    def start(self) -> None:
        """Starts the server and waits until it accepts connections."""
        self._pg_ctl("-w", "-l", str(self.home / "log"), "-o", self.options, "start")

    def stop(self, mode: str = "immediate") -> None:
        """`pg_ctl stop -m mode` (`smart`, `fast`, `immediate`), waiting until it is down."""
        self._pg_ctl("-w", "-m", mode, "stop", check=False)

    def sql(self, statement: str, *, database: str = "postgres") -> str:
        """Runs one statement with `psql` as the superuser (outside a transaction block, as
        `ALTER SYSTEM` wants); its output, unaligned."""
        done = subprocess.run(
            _as_postgres(
                [
                    str(self.bin_dir / "psql"),
                    "-h",
                    str(self.home),
                    "-p",
                    self.port,
                    "-U",
                    "postgres",
                    "-d",
                    database,
                    "-X",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    statement,
                ]
            ),
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()


@contextmanager
def cluster(
    *, database: str = "ledger", settings: Sequence[str] = (), root: str | None = None
) -> Iterator[Cluster]:
    """Starts a cluster, creates `database`, yields it (`Cluster`); stops and deletes it on
    exit. `settings`: extra `name=value` server settings (e.g. `shared_buffers=1GB`); `root`:
    the parent directory of the cluster's (default: the system's temporary directory)."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL binaries not installed (apt-get install postgresql)")
    home = Path(tempfile.mkdtemp(prefix="ledger-pg-", dir=root))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    with socket.socket() as probe:  # a free port number: names the socket, so servers coexist
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    options = " ".join(
        [f"-p {port}", f"-k {home}", "-c listen_addresses=''", "-c fsync=off"]
        + [f"-c {setting}" for setting in settings]
    )
    server = Cluster(bin_dir, home, port, options, database)
    try:
        subprocess.run(
            _as_postgres(
                [str(bin_dir / "initdb"), "-D", str(server.data), "-U", "postgres", "-A", "trust"]
            ),
            check=True,
            capture_output=True,
        )
        server.start()
        try:
            server.sql(f'CREATE DATABASE "{database}"')
            yield server
        finally:
            server.stop("immediate")
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def server(
    *, database: str = "ledger", settings: Sequence[str] = (), root: str | None = None
) -> Iterator[str]:
    """Starts a cluster, creates `database`, yields its SQLAlchemy URL; stops it on exit (see
    `cluster`)."""
    with cluster(database=database, settings=settings, root=root) as started:
        yield started.url
