"""The suite runs on the backend `LEDGER_TEST_BACKEND` names (see `tests/backends.py`)."""

from __future__ import annotations

from tests import backends
from tests.api.conftest import Env


def test_the_suite_runs_on_the_backend_it_names(env: Env) -> None:
    service = env.gw.service
    assert service.db.engine.dialect.name == backends.DATABASE
    in_process = service.client.transactions.in_process
    assert in_process == (backends.CHAIN == "embedded")
    if backends.CHAIN == "anvil":
        assert service.client.chain_id == 31337
