"""A throwaway PostgreSQL cluster for the tests (`ledger.devpostgres`), one per xdist worker.

Under CI the binaries must be there (`scripts/test` installs them); elsewhere the tests skip,
saying why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ledger import devpostgres


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if devpostgres.binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries are missing under CI (scripts/test installs them)")
        pytest.skip("PostgreSQL binaries not installed (apt-get install postgresql)")
    with devpostgres.server() as url:
        yield url
