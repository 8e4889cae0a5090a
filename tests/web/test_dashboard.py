"""The regulator's dashboard in a real browser against a real gateway: log in with the
regulator's key; the APR histograms carry the caps; legacy stock, the consumer-finance averages
against 20 %, the whitelists with history and the loan search (with CSV export) show what the API
says; a wrong key is refused; nothing is loaded from another host."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.testing import loan_submission
from tests.process.gateway_process import GatewayProcess, auth, bank_and_platform
from tests.web.conftest import RecordedPage

pytestmark = pytest.mark.slow

LEGACY_ISSUED = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp())


class Market:
    """A bank and a consumer-finance company lending through one platform: 3 bank loans at 12 %,
    2 consumer-finance loans at about 24 % (their average breaks the 20 % policy), and one bank
    loan of legacy stock at 30 %, all anchored."""

    def __init__(self, server: GatewayProcess) -> None:
        self.server = server
        self.regulator = server.regulator_key()
        http = httpx.Client(base_url=server.base, timeout=60)
        self.bank, self.platform = bank_and_platform(http, self.regulator)
        cf = http.post(
            "/v1/participants",
            json={"role": "funder", "name": "CF Co", "institution_type": "consumer_finance"},
            headers=auth(self.regulator),
        ).json()
        self.cf = cf
        listed = http.put(
            f"/v1/whitelist/{self.platform['participant']['id']}", headers=auth(cf["api_key"])
        )
        assert listed.status_code == 200, listed.text
        now = int(http.get("/healthz").json()["time"])
        loans: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for n in range(3):
            body, _ = loan_submission(self.bank["participant"]["id"], now, principal=1_000_000 + n)
            loans.append((body, self.bank))
        for n in range(2):
            body, _ = loan_submission(
                cf["participant"]["id"], now, principal=500_000 + n, monthly_rate=Fraction(2, 100)
            )
            loans.append((body, cf))
        legacy, _ = loan_submission(
            self.bank["participant"]["id"],
            LEGACY_ISSUED,
            principal=3_000_000,
            monthly_rate=Fraction(25, 1000),
            legacy=True,
        )
        loans.append((legacy, self.bank))
        self.record_ids: list[str] = []
        for body, funder in loans:
            r = http.post("/v1/loans", json=body, headers=auth(self.platform["api_key"]))
            assert r.status_code == 202, r.text
            record_id = r.json()["record_id"]
            c = http.post(f"/v1/loans/{record_id}/confirm", headers=auth(funder["api_key"]))
            assert c.status_code == 200, c.text
            self.record_ids.append(record_id)
        deadline = time.time() + 60
        waiting = set(self.record_ids)
        while waiting and time.time() < deadline:
            waiting = {
                r
                for r in waiting
                if http.get(f"/v1/loans/{r}", headers=auth(self.regulator)).json()["status"]
                != "anchored"
            }
            time.sleep(0.3)
        assert not waiting


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    server = GatewayProcess(tmp_path_factory.mktemp("dashboard") / "gw")
    try:
        yield Market(server)
    finally:
        server.stop()


def _login(page: RecordedPage, market: Market, key: str) -> str:
    return page.open_with_key(f"{market.server.base}/dashboard", key)


def test_the_regulator_reads_the_dashboard(
    page: RecordedPage, market: Market, tmp_path: Path
) -> None:
    assert _login(page, market, market.regulator) == "true", page.page.inner_text("#login-error")
    charts = page.page.query_selector_all("svg.histogram")
    assert {c.get_attribute("data-type") for c in charts} == {"bank", "consumer_finance"}
    bank = page.page.query_selector("svg.histogram[data-type=bank]")
    assert bank is not None
    caps = [line.get_attribute("data-cap-bps") for line in bank.query_selector_all("line.cap")]
    assert caps == ["2400"]  # the bank cap, drawn
    counts = sum(int(b.get_attribute("data-count") or 0) for b in bank.query_selector_all("rect"))
    assert counts == 3  # this quarter's bank loans; the legacy one was issued in 2025
    # the legacy loan awaits clearance
    assert "1 loans" in page.page.inner_text("#legacy-summary")
    assert "30,000.00" in page.page.inner_text("#legacy-summary")
    # consumer finance above 20 %: marked as a breach
    breach = page.page.query_selector_all("#cf td.breach")
    assert len(breach) == 1 and "CF Co" in page.page.inner_text("#cf")
    # whitelists with history, by name
    lists = page.page.inner_text("#whitelists")
    assert "Bank" in lists and "CF Co" in lists and "至今" in lists
    # the search: every loan, then the bank's only
    assert len(page.page.query_selector_all("#loans tbody tr")) == len(market.record_ids)
    page.page.select_option("#f-funder", str(market.cf["participant"]["id"]))
    page.page.click("#search button[type=submit]")
    page.page.wait_for_selector("#loans tbody tr:nth-child(2)")
    page.page.wait_for_timeout(300)
    assert len(page.page.query_selector_all("#loans tbody tr")) == 2
    with page.page.expect_download() as download:
        page.page.click("#csv")
    saved = tmp_path / "loans.csv"
    download.value.save_as(saved)
    table = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert len(table) == 2
    page.screenshot("dashboard-regulator")
    assert not page.foreign(market.server.base), page.requests


def test_a_wrong_key_is_refused(page: RecordedPage, market: Market) -> None:
    assert _login(page, market, "lel_not-a-key") == "error"
    assert "UNAUTHENTICATED" in page.page.inner_text("#login-error")
    assert page.page.is_hidden("#board")
    # a funder's key is not the regulator's
    assert _login(page, market, market.bank["api_key"]) == "error"
    assert page.page.is_hidden("#board")
