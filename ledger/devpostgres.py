"""A throwaway PostgreSQL server for tests and benchmarks, from the Debian binaries.

    with devpostgres.server() as url:   # a SQLAlchemy URL (psycopg, Unix socket)
        db = Database(url)

The cluster lives in a temporary directory (owned by the `postgres` user when run as root:
initdb refuses root), listens only on a Unix socket in that directory (on a free port number,
so several can run side by side), runs with `fsync=off` and is stopped (`pg_ctl -m immediate`)
and deleted on exit. `binaries()` says whether the server can be started at all
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

__all__ = ["binaries", "server"]


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


@contextmanager
def server(
    *, database: str = "ledger", settings: Sequence[str] = (), root: str | None = None
) -> Iterator[str]:
    """Starts a cluster, creates `database`, yields its SQLAlchemy URL; stops it on exit.

    `settings`: extra `name=value` server settings (e.g. `shared_buffers=1GB`); `root`: the
    parent directory of the cluster's (default: the system's temporary directory)."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL binaries not installed (apt-get install postgresql)")
    home = Path(tempfile.mkdtemp(prefix="ledger-pg-", dir=root))
    data = home / "data"
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    with socket.socket() as probe:  # a free port number: names the socket, so servers coexist
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    options = " ".join(
        [f"-p {port}", f"-k {home}", "-c listen_addresses=''", "-c fsync=off"]
        + [f"-c {setting}" for setting in settings]
    )
    try:
        subprocess.run(
            _as_postgres(
                [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
            ),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            _as_postgres(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-w",
                    "-l",
                    str(home / "log"),
                    "-o",
                    options,
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        try:
            subprocess.run(
                _as_postgres(
                    [
                        str(bin_dir / "createdb"),
                        "-h",
                        str(home),
                        "-p",
                        port,
                        "-U",
                        "postgres",
                        database,
                    ]
                ),
                check=True,
                capture_output=True,
            )
            yield f"postgresql+psycopg://postgres@/{database}?host={home}&port={port}"
        finally:
            subprocess.run(
                _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                capture_output=True,
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)
