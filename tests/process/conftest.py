"""Every gateway process a test module starts is gone when the module ends, whether its tests
passed or not (a module may share one gateway between its tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.process.gateway_process import stop_all


@pytest.fixture(autouse=True, scope="module")
def _no_stray_gateways() -> Iterator[None]:
    yield
    stop_all()
