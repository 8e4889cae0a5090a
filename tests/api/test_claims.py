"""Claims on queued records (several gateways on one database): a live claim of another
gateway is skipped, an expired one is taken over, and a restarted gateway releases its own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from ledger.store import SubmissionRow
from tests.api.conftest import Env, make_env, make_gateway


@pytest.fixture
def own_env(tmp_path: Path) -> Iterator[Env]:
    gw = make_gateway(tmp_path / "gw")
    try:
        yield make_env(gw)
    finally:
        gw.close()


def _claim(env: Env, record_id: str, by: int, for_seconds: float) -> None:
    with env.gw.service.db.session() as s:
        s.execute(
            update(SubmissionRow)
            .where(SubmissionRow.record_id == record_id)
            .values(claimed_by=by, claimed_until=time.time() + for_seconds)
        )


def test_claims_decide_which_gateway_anchors(own_env: Env) -> None:
    env = own_env
    sequencer = env.gw.service.sequencer
    record_id = env.queued_loan()
    _claim(env, record_id, by=999, for_seconds=600)  # another gateway, alive
    assert sequencer.anchor_pending() == 0
    _claim(env, record_id, by=999, for_seconds=-1)  # its lease ran out
    assert sequencer.anchor_pending() == 1
    assert env.status(record_id)["status"] == "anchored"


def test_a_restarted_gateway_releases_its_own_claims(own_env: Env) -> None:
    env = own_env
    sequencer = env.gw.service.sequencer
    record_id = env.queued_loan()
    _claim(env, record_id, by=env.gw.service.gateway_id, for_seconds=600)  # died holding it
    assert sequencer.anchor_pending() == 0
    sequencer.resume()  # what a gateway does when it opens
    assert sequencer.anchor_pending() == 1
    assert env.status(record_id)["status"] == "anchored"
