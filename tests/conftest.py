"""Fixtures every suite may use: the worker's PostgreSQL cluster (`postgres_url`), a fresh
database in it per test (`fresh_postgres_url`); the services themselves are in
`tests/backends.py`, stopped when the session ends. Under CI the PostgreSQL binaries must be
there (`scripts/test` installs them); elsewhere those tests skip, saying why."""

from __future__ import annotations

import os
from collections.abc import Iterator

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
