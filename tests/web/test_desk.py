"""Participant desks in a real browser against a real gateway: a funder sees the loans awaiting
its approval with their terms, approves one and rejects another with a reason; the platform sees
both outcomes and downloads the approved loan's receipt, which verifies. An own-key guarantor
signs in the page with its keystore file."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from ledger.testing import loan_submission
from tests.process.gateway_process import GatewayProcess, auth, bank_and_platform
from tests.web.conftest import RecordedPage

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"  # a throwaway test keystore's


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

    def guaranteed_loan(self, name: str, signer: str) -> tuple[dict[str, Any], str]:
        """A guarantor keeping its own key (`signer`), listed by the bank, and a loan it
        guarantees that the bank has approved: it awaits the guarantor's signature alone."""
        guarantor = self.http.post(
            "/v1/participants",
            json={"role": "credit_enhancer", "name": name, "signer_address": signer},
            headers=auth(self.server.regulator_key()),
        ).json()
        gid = guarantor["participant"]["id"]
        listed = self.http.put(f"/v1/whitelist/{gid}", headers=auth(self.bank["api_key"]))
        assert listed.status_code == 200, listed.text
        now = int(self.http.get("/healthz").json()["time"])
        body, _ = loan_submission(self.bank["participant"]["id"], now, guarantor_id=gid)
        r = self.http.post("/v1/loans", json=body, headers=auth(self.platform["api_key"]))
        assert r.status_code == 202, r.text
        record_id = str(r.json()["record_id"])
        c = self.http.post(f"/v1/loans/{record_id}/confirm", headers=auth(self.bank["api_key"]))
        assert c.status_code == 200, c.text
        return guarantor, record_id

    def anchored_receipt(self, record_id: str) -> dict[str, Any]:
        """The record's receipt, once anchored (waited for up to 60 s)."""
        deadline = time.time() + 60
        while self.status(record_id)["status"] != "anchored" and time.time() < deadline:
            time.sleep(0.3)
        r = self.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(self.platform["api_key"]))
        return dict(r.json())

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


def test_an_own_key_guarantor_signs_in_the_page_with_a_keystore_file(
    page: RecordedPage, desks: Desks, tmp_path: Path
) -> None:
    """The guarantor keeps its own key: the gateway never sees it. The page unlocks the
    keystore file with ethers, signs the record's EIP-712 data, and sends only the signature;
    the record, approved by the funder first, is then anchored and verifies."""
    own = Account.create()
    keystore = tmp_path / "guarantor-keystore.json"
    keystore.write_text(json.dumps(Account.encrypt(own.key, PASSWORD, iterations=2**12)))
    guarantor, record_id = desks.guaranteed_loan("Guarantor G", own.address)
    assert desks.status(record_id)["status"] == "awaiting_signatures"

    _login(page, desks, guarantor["api_key"])
    card = page.page.locator(f"#to-sign article[data-record='{record_id}']")
    assert "Guarantor" in card.inner_text()
    assert card.locator("button.sign-custodial").count() == 0  # its key is not the gateway's
    card.locator("input.keystore").set_input_files(str(keystore))
    card.locator("input.password").fill("wrong password")
    card.locator("button.sign-keystore").click()
    page.page.wait_for_selector(f"#to-sign article[data-record='{record_id}'][data-outcome=error]")
    assert desks.status(record_id)["status"] == "awaiting_signatures"  # nothing was sent
    card.locator("input.password").fill(PASSWORD)
    card.locator("button.sign-keystore").click()
    page.page.wait_for_selector(
        f"#to-sign article[data-record='{record_id}'][data-outcome]:not([data-outcome=error])",
        timeout=60_000,
    )
    assert card.get_attribute("data-outcome") in ("queued", "anchored"), card.inner_text()
    page.screenshot("desk-guarantor-signed")
    assert not page.foreign(desks.server.base), page.requests
    # the key never left the browser: no request carried it, nor the keystore
    ciphertext = json.loads(keystore.read_text())["crypto"]["ciphertext"]
    assert not any(own.key.hex().removeprefix("0x") in b or ciphertext in b for b in page.bodies)
    assert any('"signature"' in b for b in page.bodies)
    receipt = desks.anchored_receipt(record_id)
    signed = {s["role"]: s["signer"] for s in receipt["signatures"]}
    assert signed["guarantor"].lower() == own.address.lower()
    report = desks.http.post("/v1/verify", json={"receipt": receipt}).json()
    assert report["ok"], report


def test_an_own_key_guarantor_signs_with_an_injected_browser_wallet(
    page: RecordedPage, desks: Desks
) -> None:
    """A browser wallet (EIP-1193 `window.ethereum`, as MetaMask injects it) holds the key: the
    page asks it for `eth_signTypedData_v4` through ethers' BrowserProvider. The wallet here is
    the smallest EIP-1193 provider, an ethers Wallet in the page answering the calls a dapp
    makes, with a throwaway key."""
    own = Account.create()
    guarantor, record_id = desks.guaranteed_loan("Guarantor W", own.address)

    page.page.add_init_script(WALLET_JS.replace("__KEY__", own.key.hex()))
    _login(page, desks, guarantor["api_key"])
    card = page.page.locator(f"#to-sign article[data-record='{record_id}']")
    card.locator("button.sign-wallet").click()
    page.page.wait_for_selector(
        f"#to-sign article[data-record='{record_id}'][data-outcome]", timeout=60_000
    )
    assert card.get_attribute("data-outcome") in ("queued", "anchored"), card.inner_text()
    receipt = desks.anchored_receipt(record_id)
    signed = {s["role"]: s["signer"] for s in receipt["signatures"]}
    assert signed["guarantor"].lower() == own.address.lower()
    assert desks.http.post("/v1/verify", json={"receipt": receipt}).json()["ok"]


WALLET_JS = """
window.ethereum = {
  async request({ method, params }) {
    const { Wallet } = await import("/static/vendor/ethers.js");
    const wallet = new Wallet("__KEY__");
    if (method === "eth_requestAccounts" || method === "eth_accounts") return [wallet.address];
    if (method === "eth_chainId") return "0x1";
    if (method === "eth_signTypedData_v4") {
      const data = JSON.parse(params[1]);
      const { EIP712Domain, ...types } = data.types;
      return wallet.signTypedData(data.domain, types, data.message);
    }
    throw Object.assign(new Error(`unsupported: ${method}`), { code: 4200 });
  },
  on() {},
  removeListener() {},
};
"""
