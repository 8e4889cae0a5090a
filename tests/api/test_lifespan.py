"""The app's own batcher thread, started and stopped by the ASGI lifespan."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.conftest import auth, make_env, make_gateway


def test_background_batcher_anchors_queued_records() -> None:
    with tempfile.TemporaryDirectory(prefix="api-lifespan-") as tmp:
        gw = make_gateway(Path(tmp))
        try:
            env = make_env(gw, cast=False, run_background=True)
            http: TestClient = env.http
            with http:  # runs the lifespan: the batcher thread starts here, stops on exit
                env.parties["bank1"] = env.register("funder", "Bank", "bank")
                env.parties["p1"] = env.register("platform", "Platform")
                env.whitelist(env["bank1"], env["p1"])
                batches = env.batch_count()
                record_id = env.queued_loan()
                deadline = time.monotonic() + 10
                status = env.status(record_id)["status"]
                while status != "anchored" and time.monotonic() < deadline:
                    time.sleep(0.1)
                    status = env.status(record_id)["status"]
                assert status == "anchored"
                assert env.batch_count() == batches + 1
                receipt = http.get(
                    f"/v1/loans/{record_id}/receipt", headers=auth(env["p1"].key)
                ).json()
                report = http.post("/v1/verify", json={"receipt": receipt}).json()
                assert report["ok"] is True, report
                health = http.get("/healthz")
                assert health.status_code == 200, health.text
                assert health.json()["checks"]["batcher"]["queue_depth"] == 0
            # the batcher stopped with the app: a record queued now stays queued
            later = env.queued_loan()
            time.sleep(3 * gw.settings.batch_interval)
            assert env.status(later)["status"] == "queued"
        finally:
            gw.close()
