"""Fixtures of the HTTP API suite.

Each test process builds one gateway (tmp data dir, SQLite, in-memory eth-tester chain) with the
app's background batcher off: tests anchor explicitly with `gw.service.anchor_pending()`. The
standard cast is registered through the API itself:

    regulator  (id 1, the gateway's bootstrap key)
    bank1      funder, bank              whitelist: p1, p2, g1
    bank2      funder, bank              whitelist: p1, p2, g1
    cf         funder, consumer_finance  whitelist: p1
    p1, p2     platforms
    p3         platform on nobody's whitelist
    g1         credit enhancer (guarantor) on bank1's whitelist
    g2         credit enhancer on nobody's whitelist
    auditor    auditor

Tests that change a participant's state (suspension, whitelist removal, rate caps) register
participants of their own with `env.register(...)` so the shared cast never changes.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.app import Gateway, create_app, open_gateway
from gateway.settings import GatewaySettings
from ledger.chain.client import ChainClient
from ledger.signing import LocalSigner
from ledger.store import BatchRow, DocumentRow, ParticipantRow, SubmissionRow
from ledger.testing import GATEWAY_CAST, GATEWAY_WHITELISTS, funded_key_file, loan_submission
from tests import backends


def auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return str(body["error"]["code"])


def refused(r: httpx.Response, code: str, status: int = 422) -> None:
    """The request was refused with this status and stable code."""
    assert r.status_code == status, r.text
    assert error_code(r) == code, r.text


@dataclass
class Party:
    id: int
    key: str
    name: str


@dataclass
class Env:
    """One gateway, its HTTP client and a cast of participants registered over HTTP."""

    gw: Gateway
    http: TestClient
    parties: dict[str, Party] = field(default_factory=dict)

    # ------------------------------------------------------------------ shortcuts

    def __getitem__(self, name: str) -> Party:
        return self.parties[name]

    @property
    def regulator_key(self) -> str:
        assert self.gw.regulator_api_key
        return self.gw.regulator_api_key

    def now(self) -> int:
        with self.gw.service.chain_lock:
            return self.gw.service.client.latest_timestamp()

    def register(
        self,
        role: str,
        name: str,
        institution_type: str = "none",
        signer_address: str | None = None,
    ) -> Party:
        body: dict[str, Any] = {"role": role, "name": name, "institution_type": institution_type}
        if signer_address:
            body["signer_address"] = signer_address
        r = self.http.post("/v1/participants", json=body, headers=auth(self.regulator_key))
        assert r.status_code == 201, r.text
        data = r.json()
        return Party(data["participant"]["id"], data["api_key"], name)

    def whitelist(self, funder: Party, partner: Party) -> None:
        r = self.http.put(f"/v1/whitelist/{partner.id}", headers=auth(funder.key))
        assert r.status_code == 200, r.text

    def set_status(self, party: Party, status: str) -> None:
        """The regulator suspends or reinstates a participant."""
        r = self.http.put(
            f"/v1/participants/{party.id}/status",
            json={"status": status},
            headers=auth(self.regulator_key),
        )
        assert r.status_code == 200, r.text

    def register_own_key(
        self, role: str, name: str, institution_type: str = "none"
    ) -> tuple[Party, LocalSigner]:
        """A participant that keeps its own key (the gateway never sees it), and that key."""
        own = LocalSigner.generate()
        return self.register(role, name, institution_type, signer_address=own.address), own

    def whitelist_own_key(self, own: LocalSigner, *partners: Party) -> None:
        """An own-key funder lists partners itself: its own transactions to the registry, from
        its key (funded here with gas money)."""
        service = self.gw.service
        account = Account.from_key(own.private_key)
        with service.chain_lock:
            service.client.fund(account.address, 10**20)
            for partner in partners:
                service.client.transact(
                    account, service.chain.registry.functions.addToWhitelist(partner.id, 0)
                )

    # ------------------------------------------------------------------ loans

    def loan_json(
        self,
        *,
        funder: Party | int | None = None,
        principal: int = 2_000_000,
        months: int = 12,
        monthly_rate: Fraction = Fraction(1, 100),
        issued_at: int | None = None,
        confirmed_before: timedelta = timedelta(minutes=5),
        document: bytes | None = None,
        disclosure: dict[str, Any] | None = None,
        **fields: Any,
    ) -> tuple[dict[str, Any], bytes]:
        """A consistent submission (fresh agreement, disclosure issued at the chain's time) and
        the agreement's bytes. `disclosure` patches the form's JSON after it is built."""
        funder = self["bank1"] if funder is None else funder
        body, doc = loan_submission(
            funder if isinstance(funder, int) else funder.id,
            self.now() if issued_at is None else issued_at,
            principal=principal,
            months=months,
            monthly_rate=monthly_rate,
            confirmed_before=confirmed_before,
            document=document,
            **fields,
        )
        if disclosure:
            body["disclosure"].update(disclosure)
        return body, doc

    def post_loan(
        self, platform_key: str | None, body: Any, document: bytes | None = None
    ) -> httpx.Response:
        if document is None:
            return self.http.post("/v1/loans", json=body, headers=auth(platform_key))
        return self.http.post(
            "/v1/loans",
            files={
                "submission": (None, json.dumps(body)),
                "agreement": ("agreement.pdf", document, "application/pdf"),
            },
            headers=auth(platform_key),
        )

    def submit(self, platform: Party | str, **overrides: Any) -> httpx.Response:
        key = platform.key if isinstance(platform, Party) else platform
        body, _ = self.loan_json(**overrides)
        return self.post_loan(key, body)

    def confirm(self, funder: Party, record_id: str) -> httpx.Response:
        return self.http.post(f"/v1/loans/{record_id}/confirm", headers=auth(funder.key))

    def queued_loan(
        self, platform: Party | None = None, funder: Party | None = None, **overrides: Any
    ) -> str:
        """Submitted and co-signed: queued for the next batch (or anchored, per-record)."""
        platform = platform or self["p1"]
        funder = funder or self["bank1"]
        r = self.submit(platform, funder=funder, **overrides)
        assert r.status_code == 202, r.text
        record_id = str(r.json()["record_id"])
        c = self.confirm(funder, record_id)
        assert c.status_code == 200, c.text
        assert c.json()["status"] in ("queued", "anchored"), c.json()
        return record_id

    def anchored_loan(
        self, platform: Party | None = None, funder: Party | None = None, **overrides: Any
    ) -> str:
        record_id = self.queued_loan(platform, funder, **overrides)
        self.gw.service.anchor_pending()
        return record_id

    def status(self, record_id: str, key: str | None = None) -> dict[str, Any]:
        r = self.http.get(f"/v1/loans/{record_id}", headers=auth(key or self.regulator_key))
        assert r.status_code == 200, r.text
        return dict(r.json())

    # ------------------------------------------------------------------ stored state

    def db_state(self) -> dict[str, Any]:
        """Everything stored that a refused request must leave alone."""
        with self.gw.service.db.session() as s:
            rows = s.execute(
                select(
                    SubmissionRow.record_id,
                    SubmissionRow.status,
                    SubmissionRow.signatures_json,
                    SubmissionRow.tx_hash,
                )
            ).all()
            return {
                "submissions": sorted(tuple(r) for r in rows),
                "documents": s.execute(select(func.count()).select_from(DocumentRow)).scalar_one(),
                "batches": s.execute(select(func.count()).select_from(BatchRow)).scalar_one(),
                "participants": s.execute(
                    select(func.count()).select_from(ParticipantRow)
                ).scalar_one(),
            }

    @contextmanager
    def nothing_changes(self) -> Iterator[None]:
        """Asserts that the requests inside left every stored row as it was."""
        before = self.db_state()
        yield
        assert self.db_state() == before

    def batch_count(self) -> int:
        with self.gw.service.chain_lock:
            return int(self.gw.service.chain.ledger.functions.batchCount().call())


def make_gateway(data_dir: Path, client: ChainClient | None = None, **settings: Any) -> Gateway:
    """A gateway over `client` (default: the backend's chain, see `tests/backends.py`) and the
    backend's database."""
    client = client or backends.chain_client()
    if "db" not in settings:
        settings["db"] = backends.database_url(data_dir)
    if not client.transactions.in_process:  # a node: funded key files
        for name in ("deployer_key_file", "account_key_file"):
            if name not in settings:
                settings[name] = data_dir / "keys" / f"{name}.hex"
                if not settings[name].exists():
                    funded_key_file(client, settings[name])
    return open_gateway(
        GatewaySettings(data_dir=data_dir, batch_interval=0.2, **settings), client=client
    )


def make_env(gw: Gateway, *, cast: bool = True, **app_options: Any) -> Env:
    app = create_app(gw, run_background=app_options.pop("run_background", False))
    # A server error is a 500 response, as a real client would see it (tests assert on it).
    env = Env(gw, TestClient(app, raise_server_exceptions=False, **app_options))
    if not cast:
        return env
    for name, role, institution in GATEWAY_CAST:
        env.parties[name] = env.register(role, name.upper(), institution)
    env.parties["regulator"] = Party(1, env.regulator_key, "Regulator")
    for funder, partners in GATEWAY_WHITELISTS.items():
        for partner in partners:
            env.whitelist(env[funder], env[partner])
    return env


@pytest.fixture(scope="session")
def env() -> Iterator[Env]:
    with tempfile.TemporaryDirectory(prefix="api-tests-") as tmp:
        gw = make_gateway(Path(tmp))
        try:
            yield make_env(gw)
        finally:
            gw.close()
