"""The public verify page, in a real browser against a real gateway: a valid agreement and its
receipt show green with every check explained; a tampered file or receipt shows red and says what
does not match; the agreement never leaves the browser; nothing is loaded from another host."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.testing import loan_submission
from tests.process.gateway_process import GatewayProcess, auth, bank_and_platform
from tests.web.conftest import RecordedPage

pytestmark = pytest.mark.slow


class Anchored:
    def __init__(self, server: GatewayProcess, files: Path) -> None:
        self.server = server
        http = httpx.Client(base_url=server.base, timeout=60)
        bank, platform = bank_and_platform(http, server.regulator_key())
        self.platform_key = platform["api_key"]
        now = int(http.get("/healthz").json()["time"])
        body, self.document = loan_submission(bank["participant"]["id"], now)
        r = http.post("/v1/loans", json=body, headers=auth(self.platform_key))
        assert r.status_code == 202, r.text
        self.record_id = r.json()["record_id"]
        c = http.post(f"/v1/loans/{self.record_id}/confirm", headers=auth(bank["api_key"]))
        assert c.status_code == 200, c.text
        deadline = time.time() + 60
        while time.time() < deadline:
            status = http.get(f"/v1/loans/{self.record_id}", headers=auth(self.platform_key))
            if status.json()["status"] == "anchored":
                break
            time.sleep(0.3)
        receipt = http.get(f"/v1/loans/{self.record_id}/receipt", headers=auth(self.platform_key))
        assert receipt.status_code == 200, receipt.text
        self.receipt: dict[str, Any] = receipt.json()
        self.agreement = files / "agreement.pdf"
        self.agreement.write_bytes(self.document)
        self.receipt_file = files / "receipt.json"
        self.receipt_file.write_text(json.dumps(self.receipt))


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anchored]:
    root = tmp_path_factory.mktemp("verify-page")
    server = GatewayProcess(root / "gw")
    try:
        yield Anchored(server, root)
    finally:
        server.stop()


def _open(page: RecordedPage, anchored: Anchored) -> None:
    page.page.goto(f"{anchored.server.base}/verify")
    page.page.wait_for_selector("body[data-ready=true]")


def _verdict(page: RecordedPage) -> str:
    page.page.click("#verify")
    page.page.wait_for_selector("#verdict.good, #verdict.bad")
    return page.page.get_attribute("#verdict", "class") or ""


def _statuses(page: RecordedPage) -> dict[str, str]:
    rows = page.page.query_selector_all("#checks tbody tr")
    return {str(r.get_attribute("data-check")): str(r.get_attribute("class")) for r in rows}


def test_a_valid_file_and_receipt_verify_green(page: RecordedPage, anchored: Anchored) -> None:
    _open(page, anchored)
    page.page.set_input_files("#document-file", str(anchored.agreement))
    page.page.set_input_files("#receipt-file", str(anchored.receipt_file))
    assert "good" in _verdict(page)
    statuses = _statuses(page)
    assert len(statuses) == 15 and "fail" not in statuses.values(), statuses
    assert statuses["document"] == "pass"
    text = page.page.inner_text("#result")
    assert "核验通过" in text and "Verified" in text
    assert "Bank" in page.page.inner_text("#signers")  # names as the chain registry has them
    assert anchored.receipt["anchor"]["transaction_hash"] in page.page.inner_text("#anchoring")
    assert "北京时间" in page.page.inner_text("#anchoring")
    # each check carries its explanation in both languages
    document_row = page.page.inner_text("#checks tr[data-check=document]")
    assert "SHA-256" in document_row and "指纹" in document_row
    page.screenshot("verify-valid")
    # the agreement's bytes were never sent: only the receipt and the digest
    assert not page.foreign(anchored.server.base), page.requests
    bodies: list[str] = []
    page.page.on("request", lambda r: bodies.append(r.post_data or ""))
    _verdict(page)
    assert bodies and all(anchored.document.decode("latin-1") not in b for b in bodies)
    assert any(anchored.receipt["document"]["sha256"][2:] in b for b in bodies)


def test_a_tampered_file_shows_red_and_which_fingerprint_differs(
    page: RecordedPage, anchored: Anchored, tmp_path: Path
) -> None:
    changed = tmp_path / "agreement.pdf"
    data = bytearray(anchored.document)
    data[-1] ^= 1
    changed.write_bytes(bytes(data))
    _open(page, anchored)
    page.page.set_input_files("#document-file", str(changed))
    page.page.set_input_files("#receipt-file", str(anchored.receipt_file))
    assert "bad" in _verdict(page)
    statuses = _statuses(page)
    assert statuses["document"] == "fail", statuses
    assert [name for name, s in statuses.items() if s == "fail"] == ["document"]
    assert "不一致" in page.page.inner_text("#fingerprints")
    page.screenshot("verify-tampered-file")


def test_a_tampered_receipt_shows_red_at_the_check_that_catches_it(
    page: RecordedPage, anchored: Anchored, tmp_path: Path
) -> None:
    receipt = json.loads(json.dumps(anchored.receipt))
    receipt["record"]["principal"] += 1  # a term changed after signing
    forged = tmp_path / "receipt.json"
    forged.write_text(json.dumps(receipt))
    _open(page, anchored)
    page.page.set_input_files("#document-file", str(anchored.agreement))
    page.page.set_input_files("#receipt-file", str(forged))
    assert "bad" in _verdict(page)
    assert _statuses(page)["record_id"] == "fail"
    page.screenshot("verify-tampered-receipt")


def test_a_receipt_fetched_by_record_id_with_a_party_key(
    page: RecordedPage, anchored: Anchored
) -> None:
    _open(page, anchored)
    page.page.click("#by-id summary")
    page.page.fill("#record-id", anchored.record_id)
    page.page.fill("#api-key", anchored.platform_key)
    assert "good" in _verdict(page)
    assert _statuses(page)["document"] == "skip"  # no file given: said so, not passed
    page.page.fill("#api-key", "lel_not-a-key")
    page.page.click("#verify")
    page.page.wait_for_selector("#verdict:has-text('无法核验')")
    assert "UNAUTHENTICATED" in page.page.inner_text("#verdict")
    assert not page.foreign(anchored.server.base), page.requests


def test_the_page_loads_nothing_from_another_host_and_says_so(anchored: Anchored) -> None:
    r = httpx.get(f"{anchored.server.base}/verify")
    assert r.status_code == 200
    policy = r.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "http" not in r.text.replace('lang="zh-CN"', "")  # no absolute URL at all
