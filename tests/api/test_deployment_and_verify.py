"""`GET /v1/deployment` gives the trust root and what own-key participants need; verification
routes always verify against the gateway's own deployment; the trust-root file round-trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.errors import InputError
from ledger.limits import MAX_VERIFY_BATCH
from ledger.trust import TRUST_ROOT_FILE, TrustRoot, load_trust_root
from tests.api.conftest import Env, auth, error_code


def test_deployment_serves_the_trust_root_without_a_key(env: Env) -> None:
    r = env.http.get("/v1/deployment")
    assert r.status_code == 200, r.text
    body = r.json()
    service = env.gw.service
    trust = TrustRoot.model_validate(body["trust_root"])
    assert trust == service.trust_root and trust.is_full
    assert (
        trust.ledger == service.deployment.ledger and trust.registry == service.deployment.registry
    )
    assert trust.genesis_hash == "0x" + bytes(service.client.w3.eth.get_block(0)["hash"]).hex()
    assert body["eip712_domain"] == {
        "name": "LoanEvidenceLedger",
        "version": "1",
        "chainId": service.deployment.chain_id,
        "verifyingContract": service.deployment.ledger,
    }
    assert body["contracts"]["registry"] == service.deployment.registry
    assert body["gateway"]["participant_id"] == service.gateway_id
    # the same file is in the data dir, for operators to publish
    saved = load_trust_root(env.gw.settings.data_dir / TRUST_ROOT_FILE)
    assert saved == trust


def test_verify_batch_reports_each_item_and_refuses_oversized_batches(env: Env) -> None:
    record_id = env.anchored_loan()
    receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env.regulator_key)).json()
    tampered = json.loads(json.dumps(receipt))
    tampered["anchor"]["batch_size"] += 1
    r = env.http.post("/v1/verify/batch", json={"receipts": [receipt, tampered, {"format": "x"}]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["passed"], out["failed"], out["invalid"]) == (1, 1, 1)
    assert out["by_check"]["anchor"]["failed"] == 1
    assert out["results"][2]["error"]["code"] == "VERIFY_FORMAT"
    with env.nothing_changes():
        big = env.http.post(
            "/v1/verify/batch", json={"receipts": [receipt] * (MAX_VERIFY_BATCH + 1)}
        )
        assert big.status_code == 422 and error_code(big) == "INVALID_INPUT"


def test_trust_root_files_round_trip_and_bad_ones_are_refused(tmp_path: Path) -> None:
    simple = TrustRoot.pinned_ledger(7, "0x" + "ab" * 20)
    assert not simple.is_full and simple.registry is None
    path = simple.save(tmp_path / "t.json")
    assert load_trust_root(path) == simple
    assert simple.domain.chain_id == 7
    assert simple.domain.verifying_contract.lower() == "0x" + "ab" * 20
    for text in (
        "{",
        "[]",
        json.dumps({"chain_id": 7}),
        json.dumps({**simple.model_dump(), "x": 1}),
    ):
        path.write_text(text)
        with pytest.raises(InputError) as info:
            load_trust_root(path)
        assert info.value.code == "TRUST_ROOT_INVALID"


def test_a_receipt_just_served_verifies_before_the_follower_has_seen_its_block(env: Env) -> None:
    """`ledger serve` follows the chain in the background; a receipt is served as soon as its
    batch is anchored, possibly before the follower's next look. `POST /v1/verify` brings the
    view to the head first (this failed under load before: the anchor was not in the view)."""
    registry = env.gw.service.registry
    registry.facts()  # the view as of now
    registry._background = True  # a follower that has not looked since
    try:
        record_id = env.anchored_loan()
        receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env.regulator_key))
        report = env.http.post("/v1/verify", json={"receipt": receipt.json()}).json()
        assert report["ok"] is True, report
    finally:
        registry._background = False


def test_verify_names_the_signers_and_explains_every_check(env: Env) -> None:
    record_id = env.anchored_loan()
    receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env.regulator_key)).json()
    report = env.http.post("/v1/verify", json={"receipt": receipt}).json()
    assert report["ok"], report
    names = {p.id: p.name for p in env.parties.values()}
    assert [(s["slot"], s["participant_id"]) for s in report["signers"]] == [
        (sig["role"], sig["participant_id"]) for sig in receipt["signatures"]
    ]
    assert all(s["name"] == names[s["participant_id"]] for s in report["signers"])
    r = env.http.get("/v1/verify/checks")  # public, like /v1/verify
    assert r.status_code == 200, r.text
    explained = r.json()
    assert [e["name"] for e in explained if e["name"] != "disclosure_fields"] == [
        c["name"] for c in report["checks"]
    ]  # disclosure_fields: only with a field disclosure (tests/api/test_disclosure.py)
    assert all(e["en"] and e["zh"] for e in explained)
