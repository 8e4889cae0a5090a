"""Fixtures every suite may use: the worker's PostgreSQL cluster (`postgres_url`), a fresh
database in it per test (`fresh_postgres_url`); the services themselves are in
`tests/backends.py`, stopped when the session ends. Under CI the PostgreSQL binaries must be
there (`scripts/test` installs them); elsewhere those tests skip, saying why."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests import backends


@pytest.fixture(scope="session", autouse=True)
def _stop_services() -> Iterator[None]:
    yield
    backends.shutdown()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    cluster = backends.postgres_cluster()
    if cluster is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries are missing under CI (scripts/test installs them)")
        pytest.skip("PostgreSQL binaries not installed (apt-get install postgresql)")
    return cluster.url


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A new, empty database in the cluster, dropped after the test."""
    cluster = backends.postgres_cluster()
    assert cluster is not None
    url = cluster.new_database()
    try:
        yield url
    finally:
        cluster.drop_database(url)


@pytest.fixture
def figures(record_property: Callable[[str, object], None]) -> Callable[[str], None]:
    """`figures(line)`: a drill's figures (requests, 5xx, kills, lost...), printed at the end of
    the run under "drill figures", also with `-q` and from xdist workers."""

    def report(line: str) -> None:
        print(line)
        record_property("figures", line)

    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = [
        str(value)
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if getattr(report, "when", "call") == "call"
        for name, value in getattr(report, "user_properties", [])
        if name == "figures"
    ]
    if lines:
        terminalreporter.section("drill figures")
        for line in lines:
            terminalreporter.write_line(line)
