"""Participant desks in a real browser against a real gateway: a funder sees the loans awaiting
its approval with their terms, approves one and rejects another with a reason; the platform sees
both outcomes and downloads the approved loan's receipt, which verifies."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledger.testing import loan_submission
from tests.process.gateway_process import GatewayProcess, auth, bank_and_platform
from tests.web.conftest import RecordedPage

pytestmark = pytest.mark.slow


class Desks:
    def __init__(self, server: GatewayProcess) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.base, timeout=60)
        self.bank, self.platform = bank_and_platform(self.http, server.regulator_key())
        now = int(self.http.get("/healthz").json()["time"])
        self.records: list[str] = []
        for n in range(2):
            body, _ = loan_submission(self.bank["participant"]["id"], now, principal=800_000 + n)
            r = self.http.post("/v1/loans", json=body, headers=auth(self.platform["api_key"]))
            assert r.status_code == 202, r.text
            self.records.append(r.json()["record_id"])

    def status(self, record_id: str) -> dict[str, object]:
        r = self.http.get(f"/v1/loans/{record_id}", headers=auth(self.bank["api_key"]))
        return dict(r.json())


@pytest.fixture(scope="module")
def desks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desks]:
    server = GatewayProcess(tmp_path_factory.mktemp("desks") / "gw")
    try:
        yield Desks(server)
    finally:
        server.stop()


def _login(page: RecordedPage, desks: Desks, key: str) -> None:
    ready = page.open_with_key(f"{desks.server.base}/desk", key)
    assert ready == "true", page.page.inner_text("#login-error")


def test_a_funder_approves_one_loan_and_rejects_another(
    page: RecordedPage, desks: Desks, tmp_path: Path
) -> None:
    approved, rejected = desks.records
    _login(page, desks, desks.bank["api_key"])
    assert "Bank" in page.page.inner_text("#who")
    cards = page.page.query_selector_all("#awaiting article.card")
    assert {c.get_attribute("data-record") for c in cards} == set(desks.records)
    first = page.page.locator(f"article[data-record='{approved}']")
    assert "8,000.00" in first.inner_text() and "12.00%" in first.inner_text()
    assert "P (#" in page.page.inner_text("#whitelist")  # the platform, listed until now
    page.screenshot("desk-funder")
    first.locator("button.approve").click()
    page.page.wait_for_selector(f"article[data-record='{approved}'][data-outcome]")
    assert first.get_attribute("data-outcome") in ("queued", "anchored")
    second = page.page.locator(f"article[data-record='{rejected}']")
    second.locator("button.reject").click()  # no reason: refused in the page, nothing sent
    assert "needs a reason" in second.locator(".outcome").inner_text()
    assert desks.status(rejected)["status"] == "awaiting_funder"
    second.locator("input.reason").fill("income not verified")
    second.locator("button.reject").click()
    page.page.wait_for_selector(f"article[data-record='{rejected}'][data-outcome=rejected]")
    assert desks.status(rejected)["status"] == "rejected"
    assert not page.foreign(desks.server.base), page.requests

    # the platform's desk: both outcomes, and the approved loan's receipt
    deadline = time.time() + 60
    while desks.status(approved)["status"] != "anchored" and time.time() < deadline:
        time.sleep(0.3)
    _login(page, desks, desks.platform["api_key"])
    assert page.page.is_hidden("#awaiting-section")
    assert page.page.get_attribute(f"tr[data-record='{rejected}']", "data-status") == "rejected"
    assert "income not verified" in page.page.inner_text(f"tr[data-record='{rejected}']")
    with page.page.expect_download() as download:
        page.page.click(f"button[data-receipt='{approved}']")
    saved = tmp_path / "receipt.json"
    download.value.save_as(saved)
    receipt = json.loads(saved.read_text())
    assert receipt["record_id"] == approved
    report = desks.http.post("/v1/verify", json={"receipt": receipt}).json()
    assert report["ok"], report
    page.screenshot("desk-platform")
