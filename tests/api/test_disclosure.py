"""Selective disclosure of a loan's fee form through the gateway: the digest anchored with the
record is the Merkle root of the form's salted fields (v2, the default when a submission does not
state its format), and a disclosure of some fields verifies against it and the receipt."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from ledger.disclosure import FeeDisclosure
from ledger.disclosure_proofs import form_digest
from ledger.eip712 import loan_record_id
from ledger.records import LoanRecord
from ledger.signing import LocalSigner
from ledger.testing import build_disclosure
from tests.api.conftest import Env, auth, refused

_HIDDEN = "/confirmation"


def _v2_body(env: Env, **fields: Any) -> dict[str, Any]:
    """A consistent submission whose form has fees and states no format (so: v2)."""
    body, _ = env.loan_json(**fields)
    at = datetime.fromtimestamp(body["issued_at"], UTC)
    form = build_disclosure(
        2_000_000,
        12,
        Fraction(1, 100),
        at.date(),
        lender="Funder",
        upfront_fee=20_000,
        confirmed_at=at - timedelta(minutes=5),
    ).as_json()
    del form["format"]
    body["disclosure"] = form
    return body


def _anchored_v2(env: Env) -> str:
    r = env.post_loan(env["p1"].key, _v2_body(env))
    assert r.status_code == 202, r.text
    record_id = str(r.json()["record_id"])
    assert env.confirm(env["bank1"], record_id).status_code == 200
    env.gw.service.anchor_pending()
    assert env.status(record_id)["status"] == "anchored"
    return record_id


def _disclosure(env: Env, record_id: str, fields: str, key: str | None = None) -> Any:
    return env.http.get(
        f"/v1/loans/{record_id}/disclosure",
        params={"fields": fields},
        headers=auth(key or env.regulator_key),
    )


def _receipt(env: Env, record_id: str) -> dict[str, Any]:
    r = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env.regulator_key))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _checks(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


def test_fees_and_apr_disclosed_verify_against_the_anchored_receipt(env: Env) -> None:
    record_id = _anchored_v2(env)
    r = _disclosure(env, record_id, "/fees,/stated_apr_bps", env["p1"].key)
    assert r.status_code == 200, r.text
    disclosure = r.json()
    paths = {f["path"] for f in disclosure["fields"]}
    assert "/stated_apr_bps" in paths and "/fees" in paths and "/fees/0/charges/0/amount" in paths
    assert all(p == "/stated_apr_bps" or p.startswith("/fees") for p in paths)
    text = r.text
    assert _HIDDEN not in text and "reading_seconds" not in text and "schedule" not in text
    receipt = _receipt(env, record_id)
    assert receipt["record"]["disclosure_digest"] == disclosure["disclosure_digest"]

    out = env.http.post(
        "/v1/verify/disclosure", json={"disclosure": disclosure, "receipt": receipt}
    )
    assert out.status_code == 200, out.text
    body = out.json()
    assert body["ok"] and body["anchored"], body
    assert body["fields"]["/fees"] == {"length": 1}
    assert body["fields"]["/fees/0/charges/0/amount"] == 20_000
    assert body["fields"]["/stated_apr_bps"] == receipt["disclosure"]["stated_apr_bps"]
    checks = _checks(body["report"])
    assert checks["disclosure_fields"] == "pass"
    # the receipt's whole v2 form is not tied by a partial disclosure: said, not passed
    assert checks["disclosure"] == "skip"
    alone = env.http.post("/v1/verify/disclosure", json={"disclosure": disclosure})
    assert alone.status_code == 200 and alone.json()["ok"] and not alone.json()["anchored"]


def test_a_disclosure_of_the_whole_form_ties_the_receipts_form(env: Env) -> None:
    record_id = _anchored_v2(env)
    whole = _disclosure(env, record_id, "/").json()
    receipt = _receipt(env, record_id)
    report = env.http.post("/v1/verify", json={"receipt": receipt}).json()
    assert report["ok"] and _checks(report)["disclosure"] == "skip"
    body = env.http.post(
        "/v1/verify/disclosure", json={"disclosure": whole, "receipt": receipt}
    ).json()
    assert body["ok"], body
    assert _checks(body["report"])["disclosure"] == "pass"
    assert set(_checks(body["report"]).values()) <= {"pass", "skip"}


def test_a_changed_value_salt_or_proof_fails_the_named_check(env: Env) -> None:
    record_id = _anchored_v2(env)
    disclosure = _disclosure(env, record_id, "/stated_apr_bps,/principal").json()
    receipt = _receipt(env, record_id)
    edits = [
        lambda d: d["fields"][0].__setitem__("value", 1),
        lambda d: d["fields"][0].__setitem__("salt", "0x" + "00" * 32),
        lambda d: d["fields"][0].__setitem__("path", "/lender"),
        lambda d: d["proof"].__setitem__(0, "0x" + "11" * 32),
    ]
    for edit in edits:
        forged = {**disclosure, "fields": [dict(f) for f in disclosure["fields"]]}
        forged["proof"] = list(disclosure["proof"])
        edit(forged)
        with env.nothing_changes():
            r = env.http.post("/v1/verify/disclosure", json={"disclosure": forged})
        refused(r, "VERIFY_DISCLOSURE_FIELDS")
        assert r.json()["error"]["check"] == "disclosure_fields"
        r = env.http.post("/v1/verify/disclosure", json={"disclosure": forged, "receipt": receipt})
        body = r.json()
        assert r.status_code == 200 and not body["ok"] and body["fields"] is None, body
        failed = [c for c in body["report"]["checks"] if c["status"] == "fail"]
        assert [(c["name"], c["code"]) for c in failed] == [
            ("disclosure_fields", "VERIFY_DISCLOSURE_FIELDS")
        ]


def test_a_disclosure_of_another_record_fails_against_this_receipt(env: Env) -> None:
    first, second = _anchored_v2(env), _anchored_v2(env)
    disclosure = _disclosure(env, first, "/stated_apr_bps").json()
    body = env.http.post(
        "/v1/verify/disclosure", json={"disclosure": disclosure, "receipt": _receipt(env, second)}
    ).json()
    assert not body["ok"] and _checks(body["report"])["disclosure_fields"] == "fail"


def test_who_may_disclose_and_refusals(env: Env) -> None:
    record_id = _anchored_v2(env)
    for party in ("p1", "bank1"):
        assert _disclosure(env, record_id, "/principal", env[party].key).status_code == 200
    with env.nothing_changes():
        for outsider in ("p2", "bank2"):
            refused(
                _disclosure(env, record_id, "/principal", env[outsider].key),
                "RECORD_NOT_FOUND",
                404,
            )
        # an auditor needs a live grant covering the loan
        refused(
            _disclosure(env, record_id, "/principal", env["auditor"].key), "GRANT_REQUIRED", 403
        )
        refused(_disclosure(env, record_id, "/nope"), "DISCLOSURE_UNKNOWN_PATH")
        refused(_disclosure(env, record_id, "/fees/9"), "DISCLOSURE_UNKNOWN_PATH")
        refused(_disclosure(env, record_id, ","), "DISCLOSURE_UNKNOWN_PATH")
        r = env.http.get(f"/v1/loans/{record_id}/disclosure", params={"fields": "/principal"})
        assert r.status_code == 401, r.text


def test_an_auditor_with_a_grant_sees_the_fees_and_the_read_is_logged(env: Env) -> None:
    record_id = _anchored_v2(env)
    now = int(time.time())
    grant = {
        "auditor_id": env["auditor"].id,
        "record_ids": [record_id],
        "valid_from": now - 10,
        "valid_until": now + 3600,
    }
    r = env.http.post("/v1/grants", json=grant, headers=auth(env.regulator_key))
    assert r.status_code in (200, 201), r.text
    r = _disclosure(env, record_id, "/fees,/stated_apr_bps", env["auditor"].key)
    assert r.status_code == 200, r.text
    shown = {field["path"] for field in r.json()["fields"]}
    assert "/stated_apr_bps" in shown and not any(p.startswith("/confirmation") for p in shown)
    log = env.http.get(f"/v1/loans/{record_id}/evidence-log", headers=auth(env.regulator_key))
    reads = [e for e in log.json()["entries"] if e["kind"] == "disclosure_read"]
    assert reads[-1]["actor_id"] == env["auditor"].id
    assert reads[-1]["details"] == {"paths": ["/fees", "/stated_apr_bps"]}


def test_v1_forms_still_verify_and_cannot_be_disclosed(env: Env) -> None:
    body, _ = env.loan_json()
    assert body["disclosure"]["format"] == "fee-disclosure/v1"
    record_id = env.anchored_loan()
    receipt = _receipt(env, record_id)
    form = FeeDisclosure.model_validate(receipt["disclosure"])
    assert receipt["record"]["disclosure_digest"] == "0x" + form.digest().hex()
    report = env.http.post("/v1/verify", json={"receipt": receipt}).json()
    assert report["ok"] and _checks(report)["disclosure"] == "pass"
    refused(_disclosure(env, record_id, "/fees"), "DISCLOSURE_NOT_SELECTIVE", 409)


def test_the_seed_is_sealed_per_record_and_erasure_ends_disclosure(env: Env) -> None:
    record_id = _anchored_v2(env)
    service = env.gw.service
    with service.db.session() as s:
        seed = service.secrets.read(s, record_id).disclosure_seed
    assert seed is not None
    receipt = _receipt(env, record_id)
    form = FeeDisclosure.model_validate(receipt["disclosure"])
    assert "0x" + form_digest(form, seed).hex() == receipt["record"]["disclosure_digest"]
    with service.db.session() as s:
        service.secrets.shred(s, record_id, 1.0)
        s.commit()
    refused(_disclosure(env, record_id, "/principal"), "DISCLOSURE_ERASED", 409)


def test_prepare_and_submit_agree_on_the_v2_digest(env: Env) -> None:
    own = LocalSigner.generate()
    platform = env.register("platform", "Own-key Discloser", signer_address=own.address)
    env.whitelist(env["bank1"], platform)
    body = {k: v for k, v in _v2_body(env).items() if k != "borrower_id"}
    body["borrower_commitment"] = "0x" + secrets.token_bytes(32).hex()
    prepared = env.http.post("/v1/loans/prepare", json=body, headers=auth(platform.key))
    assert prepared.status_code == 200, prepared.text
    record = LoanRecord.model_validate(prepared.json()["record"])
    record_id = prepared.json()["record_id"]
    assert "0x" + loan_record_id(record, env.gw.service.chain.domain).hex() == record_id
    signature = own.sign_digest(bytes.fromhex(record_id[2:]))
    signed = dict(body, platform_signature="0x" + signature.hex())
    r = env.post_loan(platform.key, signed)
    assert r.status_code == 202, r.text
    assert r.json()["record_id"] == record_id
    disclosure = _disclosure(env, record_id, "/stated_apr_bps", platform.key).json()
    assert disclosure["disclosure_digest"] == record.disclosure_digest
