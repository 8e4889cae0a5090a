"""Every rule and input check answers 422 (or its own status) with its stable code, and a refused
request changes nothing that is stored."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from fractions import Fraction
from typing import Any

import pytest

from ledger.chain.deploy import GenesisPolicy
from ledger.signing import LocalSigner
from tests.api.conftest import Env, auth, error_code, refused

# ---------------------------------------------------------------------- rules (R1-R8)


def test_over_cap_apr(env: Env) -> None:
    body, _ = env.loan_json(monthly_rate=Fraction(3, 100))
    assert body["disclosure"]["stated_apr_bps"] == 3600
    with env.nothing_changes():
        refused(env.post_loan(env["p1"].key, body), "RATE_CAP_EXCEEDED")
        # the same for the consumer-finance funder (24 % too)
        body, _ = env.loan_json(funder=env["cf"], monthly_rate=Fraction(21, 1000))
        assert body["disclosure"]["stated_apr_bps"] > 2400
        refused(env.post_loan(env["p1"].key, body), "RATE_CAP_EXCEEDED")


def test_apr_at_the_cap_is_accepted(env: Env) -> None:
    body, _ = env.loan_json(monthly_rate=Fraction(2, 100))
    assert body["disclosure"]["stated_apr_bps"] == 2400
    assert env.post_loan(env["p1"].key, body).status_code == 202


def test_understated_apr_within_tolerance_does_not_evade_the_cap(env: Env) -> None:
    body, _ = env.loan_json(monthly_rate=Fraction(2008, 100_000))
    assert body["disclosure"]["stated_apr_bps"] == 2410  # computed 24.0961 %
    body["disclosure"]["stated_apr_bps"] = 2400  # within the 12.5 bps tolerance
    with env.nothing_changes():
        r = env.post_loan(env["p1"].key, body)
        assert r.status_code == 422, r.text
        assert error_code(r) == "RATE_CAP_EXCEEDED"


def test_platform_not_whitelisted(env: Env) -> None:
    with env.nothing_changes():
        refused(env.submit(env["p3"]), "PLATFORM_NOT_WHITELISTED")
        # p2 is on bank1's and bank2's lists, not on the consumer-finance funder's
        refused(env.submit(env["p2"], funder=env["cf"]), "PLATFORM_NOT_WHITELISTED")


def test_guarantor_not_whitelisted(env: Env) -> None:
    with env.nothing_changes():
        refused(env.submit(env["p1"], guarantor_id=env["g2"].id), "GUARANTOR_NOT_WHITELISTED")
        # g1 is on the banks' lists, not on the consumer-finance funder's
        refused(
            env.submit(env["p1"], funder=env["cf"], guarantor_id=env["g1"].id),
            "GUARANTOR_NOT_WHITELISTED",
        )


def test_co_funding_share_below_floor(env: Env) -> None:
    floor = GenesisPolicy().co_funding_floor_bps
    with env.nothing_changes():
        refused(
            env.submit(env["p1"], co_funder_id=env["bank2"].id, co_funder_share_bps=floor - 1),
            "CO_FUNDING_SHARE_BELOW_FLOOR",
        )
        refused(env.submit(env["p1"], co_funder_share_bps=floor), "CO_FUNDING_INVALID")
    r = env.submit(env["p1"], co_funder_id=env["bank2"].id, co_funder_share_bps=floor)
    assert r.status_code == 202, r.text


def test_suspended_funder_and_platform(env: Env) -> None:
    funder = env.register("funder", "Suspended Bank", "bank")
    platform = env.register("platform", "Suspended Platform")
    env.whitelist(funder, platform)
    env.set_status(funder, "suspended")
    with env.nothing_changes():
        refused(env.submit(platform, funder=funder), "PARTICIPANT_NOT_ACTIVE")
        # a suspended funder cannot change its whitelist either
        refused(
            env.http.put(f"/v1/whitelist/{env['p2'].id}", headers=auth(funder.key)),
            "FUNDER_NOT_ACTIVE",
        )
    env.set_status(funder, "active")
    assert env.submit(platform, funder=funder).status_code == 202

    env.set_status(platform, "suspended")
    with env.nothing_changes():
        refused(env.submit(platform, funder=funder), "PARTICIPANT_NOT_ACTIVE")
    env.set_status(platform, "active")
    assert env.submit(platform, funder=funder).status_code == 202


def test_funder_suspended_between_submission_and_confirmation(env: Env) -> None:
    """A suspension is not a verdict on the loan: the confirmation is refused while it lasts,
    the record stays awaiting the funder, unchanged, and the same confirmation succeeds once the
    funder is reinstated."""
    funder = env.register("funder", "Late Suspended Bank", "bank")
    env.whitelist(funder, env["p1"])
    record_id = env.submit(env["p1"], funder=funder).json()["record_id"]

    env.set_status(funder, "suspended")
    env.gw.service.anchor_pending()  # start from an empty queue (other tests leave theirs)
    batches = env.batch_count()
    with env.nothing_changes():
        refused(env.confirm(funder, record_id), "PARTICIPANT_NOT_ACTIVE")
        r = env.http.post(
            "/v1/loans/confirm-batch", json={"record_ids": [record_id]}, headers=auth(funder.key)
        )
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 0, r.json()
    env.gw.service.anchor_pending()
    assert env.batch_count() == batches
    assert env.status(record_id)["status"] == "awaiting_funder"

    env.set_status(funder, "active")
    confirmed = env.confirm(funder, record_id)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "queued"
    env.gw.service.anchor_pending()
    assert env.status(record_id)["status"] == "anchored"


def test_wrong_roles(env: Env) -> None:
    with env.nothing_changes():
        refused(env.submit(env["p1"], funder=env["p2"]), "PARTICIPANT_WRONG_ROLE")
        refused(env.submit(env["p1"], funder=env["g1"]), "PARTICIPANT_WRONG_ROLE")
        refused(env.submit(env["p1"], guarantor_id=env["bank2"].id), "PARTICIPANT_WRONG_ROLE")
        refused(
            env.submit(env["p1"], co_funder_id=env["g1"].id, co_funder_share_bps=5000),
            "PARTICIPANT_WRONG_ROLE",
        )
        refused(env.submit(env["p1"], funder=env["auditor"]), "PARTICIPANT_WRONG_ROLE")


def test_unknown_funder(env: Env) -> None:
    with env.nothing_changes():
        r = env.submit(env["p1"], funder=987_654)
        assert r.status_code == 422, r.text
        assert error_code(r) in ("PARTICIPANT_NOT_ACTIVE", "PARTICIPANT_UNKNOWN")


def test_legacy_after_cutoff(env: Env) -> None:
    with env.nothing_changes():
        refused(env.submit(env["p1"], legacy=True), "LEGACY_AFTER_CUTOFF")


def test_legacy_stock_loan_before_cutoff_is_anchored_above_the_cap(env: Env) -> None:
    issued = GenesisPolicy().legacy_cutoff - 90 * 86_400
    # stock predates the whitelists, so it comes only through a partner the funder lists today:
    # a platform it never listed cannot bring in loans dated before the cutoff
    with env.nothing_changes():
        refused(
            env.submit(env["p3"], legacy=True, issued_at=issued, monthly_rate=Fraction(3, 100)),
            "PLATFORM_NOT_WHITELISTED",
        )
    clearing = env.register("platform", "Stock clearing platform")
    env.whitelist(env["bank1"], clearing)  # listed now, long after the loan was issued
    record_id = env.anchored_loan(
        clearing, env["bank1"], legacy=True, issued_at=issued, monthly_rate=Fraction(3, 100)
    )
    view = env.status(record_id)
    assert view["status"] == "anchored" and view["legacy"] is True and view["apr_bps"] == 3600
    receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(clearing.key)).json()
    assert env.http.post("/v1/verify", json={"receipt": receipt}).json()["ok"] is True


def test_stricter_co_funder_cap_binds(env: Env) -> None:
    """Both lenders' caps bind: a co-funder whose cap is lower refuses the loan, at submission
    or at the latest when the contract checks the fully signed record; it never reaches the chain."""
    reg = auth(env.regulator_key)
    co_funder = env.register("funder", "Strict Other Co", "other")
    env.whitelist(co_funder, env["p1"])
    assert (
        env.http.put("/v1/policy/rate-caps/other", json={"cap_bps": 1000}, headers=reg).status_code
        == 200
    )
    try:
        batches = env.batch_count()
        r = env.submit(env["p1"], co_funder_id=co_funder.id, co_funder_share_bps=5000)
        if r.status_code == 202:
            r = env.confirm(env["bank1"], r.json()["record_id"])
        refused(r, "RATE_CAP_EXCEEDED")
        env.gw.service.anchor_pending()
        assert env.batch_count() == batches
    finally:
        r = env.http.put("/v1/policy/rate-caps/other", json={"cap_bps": 2400}, headers=reg)
        assert r.status_code == 200


# ---------------------------------------------------------------------- the fee disclosure (R5)


def test_disclosure_rate_mismatch(env: Env) -> None:
    body, _ = env.loan_json()
    stated = body["disclosure"]["stated_apr_bps"]
    with env.nothing_changes():
        for delta in (-100, -20, 20, 300):
            b = json.loads(json.dumps(body))
            b["disclosure"]["stated_apr_bps"] = stated + delta
            refused(env.post_loan(env["p1"].key, b), "DISCLOSURE_RATE_MISMATCH")
        # a fee left off the schedule's cost: the form's own numbers do not give its APR
        b = json.loads(json.dumps(body))
        b["disclosure"]["fees"] = [
            {
                "name": "service fee",
                "category": "service",
                "timing": "upfront",
                "collector": "Platform",
                "charges": [{"on": b["disclosure"]["disbursed_on"], "amount": 100_000}],
            }
        ]
        refused(env.post_loan(env["p1"].key, b), "DISCLOSURE_RATE_MISMATCH")
    # within the 1/8-point tolerance the stated rate stands
    b = json.loads(json.dumps(body))
    b["disclosure"]["stated_apr_bps"] = stated + 5
    assert env.post_loan(env["p1"].key, b).status_code == 202


def test_disclosure_reading_time_short(env: Env) -> None:
    body, _ = env.loan_json()
    body["disclosure"]["confirmation"]["reading_seconds"] = 3
    with env.nothing_changes():
        refused(env.post_loan(env["p1"].key, body), "DISCLOSURE_READING_TIME_SHORT")


def test_disclosure_confirmed_after_signing(env: Env) -> None:
    with env.nothing_changes():
        refused(
            env.submit(env["p1"], confirmed_before=timedelta(minutes=-5)),
            "DISCLOSURE_CONFIRMED_AFTER_SIGNING",
        )


def test_uploaded_document_not_matching_agreement_digest(env: Env) -> None:
    body, doc = env.loan_json()
    with env.nothing_changes():
        refused(
            env.post_loan(env["p1"].key, body, document=doc + b" tampered"),
            "DOCUMENT_DIGEST_MISMATCH",
        )
    r = env.post_loan(env["p1"].key, body, document=doc)
    assert r.status_code == 202, r.text


# ---------------------------------------------------------------------- non-custodial signatures


def _sign(signer: LocalSigner, digest: bytes) -> str:
    return "0x" + signer.sign_digest(digest).hex()


def test_forged_non_custodial_platform_signature(env: Env) -> None:
    own = LocalSigner.generate()
    platform = env.register("platform", "Own-key Platform", signer_address=own.address)
    env.whitelist(env["bank1"], platform)
    body, _ = env.loan_json()
    with env.nothing_changes():
        refused(env.post_loan(platform.key, body), "SIGNATURE_MISSING")
        # a signed submission must fix the record: its own commitment and issue time
        body = {k: v for k, v in body.items() if k != "borrower_id"}
        body["borrower_commitment"] = "0x" + secrets.token_bytes(32).hex()
        body["issued_at"] = env.now()
        forged = dict(body, platform_signature=_sign(own, secrets.token_bytes(32)))
        refused(env.post_loan(platform.key, forged), "SIGNATURE_INVALID")
        other = LocalSigner.generate()
        forged = dict(body, platform_signature=_sign(other, secrets.token_bytes(32)))
        refused(env.post_loan(platform.key, forged), "SIGNATURE_INVALID")
        # a custodial platform's submission with a signature that is not its key's
        forged = dict(body, platform_signature=_sign(other, secrets.token_bytes(32)))
        refused(env.post_loan(env["p1"].key, forged), "SIGNATURE_INVALID")
        # a funder signature given up front is verified too
        forged = dict(body, funder_signature=_sign(other, secrets.token_bytes(32)))
        refused(env.post_loan(env["p1"].key, forged), "SIGNATURE_INVALID")


def test_non_custodial_platform_prepares_signs_and_submits(env: Env) -> None:
    """A platform keeping its own key fixes the record (its own borrower commitment and issue
    time), learns the id to sign from /prepare, signs, and submits; forgeries are refused."""
    own = LocalSigner.generate()
    platform = env.register("platform", "Own-key Platform 2", signer_address=own.address)
    env.whitelist(env["bank1"], platform)
    body, _ = env.loan_json()
    # without a fixed record there is nothing to sign: the error says how to get one
    r = env.post_loan(platform.key, body)
    assert r.status_code == 422 and error_code(r) == "SIGNATURE_MISSING"
    assert "/v1/loans/prepare" in r.json()["error"]["message"]
    fixed = {k: v for k, v in body.items() if k != "borrower_id"}
    fixed["borrower_commitment"] = "0x" + secrets.token_bytes(32).hex()
    fixed["issued_at"] = env.now()
    prepared = env.http.post("/v1/loans/prepare", json=fixed, headers=auth(platform.key))
    assert prepared.status_code == 200, prepared.text
    record_id = prepared.json()["record_id"]
    assert prepared.json()["typed_data"]["primaryType"] == "LoanRecord"
    forged = dict(
        fixed, platform_signature=_sign(LocalSigner.generate(), bytes.fromhex(record_id[2:]))
    )
    refused(env.post_loan(platform.key, forged), "SIGNATURE_INVALID")
    signed = dict(fixed, platform_signature=_sign(own, bytes.fromhex(record_id[2:])))
    r = env.post_loan(platform.key, signed)
    assert r.status_code == 202, r.text
    assert r.json()["record_id"] == record_id


def test_non_custodial_funder_signs_and_forgeries_are_refused(env: Env) -> None:
    own = LocalSigner.generate()
    funder = env.register("funder", "Own-key Bank", "bank", signer_address=own.address)
    # the gateway holds no key for it: whitelisting is the funder's own transaction
    with env.nothing_changes():
        refused(
            env.http.put(f"/v1/whitelist/{env['p1'].id}", headers=auth(funder.key)),
            "NON_CUSTODIAL",
            403,
        )
    service = env.gw.service
    env.whitelist_own_key(own, env["p1"])
    r = env.submit(env["p1"], funder=funder)
    assert r.status_code == 202, r.text
    record_id = r.json()["record_id"]
    digest = bytes.fromhex(record_id[2:])
    path = f"/v1/loans/{record_id}/confirm"

    with env.nothing_changes():
        refused(env.http.post(path, headers=auth(funder.key)), "SIGNATURE_MISSING")
        for wrong in (
            _sign(own, secrets.token_bytes(32)),  # its key, another digest
            _sign(LocalSigner.generate(), digest),  # the digest, another key
        ):
            refused(
                env.http.post(path, json={"signature": wrong}, headers=auth(funder.key)),
                "SIGNATURE_INVALID",
            )
        refused(
            env.http.post(path, json={"signature": "0x1234"}, headers=auth(funder.key)),
            "INVALID_INPUT",
        )

    r = env.http.post(path, json={"signature": _sign(own, digest)}, headers=auth(funder.key))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued"
    service.anchor_pending()
    receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(funder.key)).json()
    funder_sig = next(s for s in receipt["signatures"] if s["role"] == "funder")
    assert funder_sig["signer"].lower() == own.address.lower()
    assert env.http.post("/v1/verify", json={"receipt": receipt}).json()["ok"] is True


# ---------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    "raw",
    [b"{bad json", b"", b"[]", b"null", b'"a string"', b"\xff\xfe\x00", b'{"loans": 1}'],
)
def test_malformed_loan_json(env: Env, raw: bytes) -> None:
    with env.nothing_changes():
        r = env.http.post(
            "/v1/loans",
            content=raw,
            headers={**auth(env["p1"].key), "Content-Type": "application/json"},
        )
        refused(r, "INVALID_UTF8" if raw.startswith(b"\xff") else "INVALID_INPUT")


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/participants", "POST"),
        ("/v1/loans/batch", "POST"),
        ("/v1/loans/confirm-batch", "POST"),
        ("/v1/policy/lpr", "PUT"),
    ],
)
def test_malformed_json_on_other_routes(env: Env, path: str, method: str) -> None:
    key = env.regulator_key if "policy" in path or "participants" in path else None
    key = key or (env["bank1"].key if "confirm" in path else env["p1"].key)
    with env.nothing_changes():
        r = env.http.request(
            method,
            path,
            content=b"{bad json",
            headers={**auth(key), "Content-Type": "application/json"},
        )
        refused(r, "INVALID_INPUT")


@pytest.mark.parametrize("raw", [b"{bad json", b"{}", b'{"receipt": {}, "extra": 1}'])
def test_malformed_verify_request(env: Env, raw: bytes) -> None:
    r = env.http.post("/v1/verify", content=raw, headers={"Content-Type": "application/json"})
    refused(r, "INVALID_INPUT")


def test_verify_multipart_without_receipt_or_with_bad_json(env: Env) -> None:
    r = env.http.post("/v1/verify", files={"document": ("a.pdf", b"x")})
    refused(r, "INVALID_INPUT")
    r = env.http.post("/v1/verify", files={"receipt": (None, "{not json")})
    refused(r, "INVALID_INPUT")


def test_verify_garbage_receipt(env: Env) -> None:
    """A receipt that is not one cannot be checked link by link: 422 naming the `format` check."""
    r = env.http.post("/v1/verify", json={"receipt": {"format": "nope"}})
    refused(r, "VERIFY_FORMAT")
    assert r.json()["error"]["check"] == "format"


def _patch(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(body))
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


@pytest.mark.parametrize(
    ("path", "value", "code"),
    [
        ("unexpected", 1, "INVALID_INPUT"),  # unknown top-level field
        ("disclosure.unexpected", "x", "INVALID_INPUT"),  # unknown field inside the form
        ("disclosure.confirmation.unexpected", "x", "INVALID_INPUT"),
        ("disclosure.principal", -2_000_000, "VALUE_OUT_OF_RANGE"),  # negative amounts
        ("disclosure.principal", 0, "VALUE_OUT_OF_RANGE"),
        ("disclosure.schedule.0.principal", -1, "VALUE_OUT_OF_RANGE"),
        ("disclosure.schedule.0.interest", -5, "VALUE_OUT_OF_RANGE"),
        ("disclosure.stated_apr_bps", -1, "VALUE_OUT_OF_RANGE"),
        ("funder_id", -1, "VALUE_OUT_OF_RANGE"),
        ("funder_id", 0, "VALUE_OUT_OF_RANGE"),
        ("guarantor_id", -3, "VALUE_OUT_OF_RANGE"),
        ("co_funder_share_bps", -1, "VALUE_OUT_OF_RANGE"),
        ("co_funder_share_bps", 10_000, "VALUE_OUT_OF_RANGE"),
        ("term_days", 0, "VALUE_OUT_OF_RANGE"),
        ("issued_at", -1, "TIME_OUT_OF_RANGE"),
        ("agreement_sha256", "not-a-digest", "INVALID_INPUT"),
        ("agreement_sha256", "ab" * 31, "INVALID_INPUT"),
        ("borrower_id", "", "INVALID_INPUT"),
        ("anchoring", "sometimes", "INVALID_INPUT"),
        ("platform_signature", "0xdeadbeef", "INVALID_INPUT"),
        ("disclosure.currency", "USD", "INVALID_INPUT"),
        ("disclosure.no_other_charges", False, "INVALID_INPUT"),
        (
            "disclosure.confirmation.confirmed_at",
            "2026-01-01T00:00:00",
            "INVALID_INPUT",
        ),  # no time zone
        ("disclosure.stated_apr_bps", 1200.5, "INVALID_INPUT"),
    ],
)
def test_invalid_fields(env: Env, path: str, value: Any, code: str) -> None:
    body, _ = env.loan_json()
    with env.nothing_changes():
        refused(env.post_loan(env["p1"].key, _patch(body, path, value)), code)


def test_schedule_not_repaying_the_principal(env: Env) -> None:
    body, _ = env.loan_json()
    body = _patch(
        body, "disclosure.schedule.0.principal", body["disclosure"]["schedule"][0]["principal"] + 1
    )
    with env.nothing_changes():
        refused(env.post_loan(env["p1"].key, body), "INVALID_INPUT")


def test_multipart_without_submission_field(env: Env) -> None:
    with env.nothing_changes():
        r = env.http.post(
            "/v1/loans",
            files={"agreement": ("a.pdf", b"%PDF", "application/pdf")},
            headers=auth(env["p1"].key),
        )
        refused(r, "INVALID_INPUT")
        r = env.http.post(
            "/v1/loans",
            files={"submission": (None, "{broken"), "agreement": ("a.pdf", b"%PDF")},
            headers=auth(env["p1"].key),
        )
        refused(r, "INVALID_INPUT")


@pytest.mark.parametrize(
    "body",
    [
        {"role": "gateway", "name": "x"},
        {"role": "funder", "name": "x", "institution_type": "pawnshop"},
        {"role": "platform", "name": ""},
        {"role": "platform", "name": "x", "signer_address": "0x1234"},
        {"role": "platform", "name": "x", "extra": True},
        {"name": "x"},
    ],
)
def test_invalid_participants(env: Env, body: dict[str, Any]) -> None:
    with env.nothing_changes():
        r = env.http.post("/v1/participants", json=body, headers=auth(env.regulator_key))
        refused(r, "INVALID_INPUT")


def test_funder_needs_an_institution_type(env: Env) -> None:
    with env.nothing_changes():
        r = env.http.post(
            "/v1/participants",
            json={"role": "funder", "name": "No Type"},
            headers=auth(env.regulator_key),
        )
        refused(r, "INSTITUTION_TYPE_REQUIRED")


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("PUT", "/v1/policy/rate-caps/bank", {"cap_bps": 0}, "VALUE_OUT_OF_RANGE"),
        ("PUT", "/v1/policy/rate-caps/bank", {"cap_bps": -5}, "VALUE_OUT_OF_RANGE"),
        ("PUT", "/v1/policy/rate-caps/bank", {"cap_bps": 2400, "extra": 1}, "INVALID_INPUT"),
        ("PUT", "/v1/policy/rate-caps/pawnshop", {"cap_bps": 2400}, "INVALID_INPUT"),
        ("PUT", "/v1/policy/lpr", {"lpr_bps": 0}, "VALUE_OUT_OF_RANGE"),
        ("PUT", "/v1/policy/lpr", {}, "INVALID_INPUT"),
        ("PUT", "/v1/participants/2/status", {"status": "deleted"}, "INVALID_INPUT"),
        ("PUT", "/v1/participants/abc/status", {"status": "active"}, "INVALID_INPUT"),
    ],
)
def test_invalid_policy_and_status_changes(
    env: Env, method: str, path: str, body: dict[str, Any], code: str
) -> None:
    with env.nothing_changes():
        r = env.http.request(method, path, json=body, headers=auth(env.regulator_key))
        refused(r, code)


def test_policy_changes_refused_by_the_contract(env: Env) -> None:
    reg = auth(env.regulator_key)
    with env.nothing_changes():
        for r in (
            env.http.put("/v1/policy/rate-caps/none", json={"cap_bps": 2400}, headers=reg),
            env.http.put(
                "/v1/policy/rate-caps/bank",
                json={"cap_bps": 2400, "effective_from": 1},
                headers=reg,
            ),  # backdated
            env.http.put(
                "/v1/participants/99999/status", json={"status": "suspended"}, headers=reg
            ),
        ):
            assert 400 <= r.status_code < 500, r.text
            error_code(r)


def test_whitelist_changes_refused(env: Env) -> None:
    funder = env.register("funder", "WL Errors Bank", "bank")
    platform = env.register("platform", "WL Errors Platform")
    key = auth(funder.key)
    env.whitelist(funder, platform)
    with env.nothing_changes():
        refused(
            env.http.put(f"/v1/whitelist/{platform.id}", headers=key), "WHITELIST_ALREADY_LISTED"
        )
        refused(
            env.http.delete(f"/v1/whitelist/{env['p3'].id}", headers=key), "WHITELIST_NOT_LISTED"
        )
        refused(
            env.http.put(
                f"/v1/whitelist/{env['p3'].id}",
                json={"effective_from": env.now() - 60},
                headers=key,
            ),
            "WHITELIST_BACKDATED",
        )
        refused(  # before 2000: out of range before the chain is asked
            env.http.put(f"/v1/whitelist/{env['p3'].id}", json={"effective_from": 1}, headers=key),
            "TIME_OUT_OF_RANGE",
        )
        refused(
            env.http.put(f"/v1/whitelist/{env['bank2'].id}", headers=key),
            "WHITELIST_INVALID_PARTNER",
        )
        refused(
            env.http.put(f"/v1/whitelist/{env['p3'].id}", json={"effective_from": -1}, headers=key),
            "TIME_OUT_OF_RANGE",
        )
        refused(
            env.http.delete(f"/v1/whitelist/{platform.id}?effective_until=-1", headers=key),
            "TIME_OUT_OF_RANGE",
        )


def test_reject_needs_a_reason(env: Env) -> None:
    record_id = env.submit(env["p1"]).json()["record_id"]
    with env.nothing_changes():
        for body in ({}, {"reason": ""}, {"reason": "x" * 1001}, {"reason": "ok", "extra": 1}):
            r = env.http.post(
                f"/v1/loans/{record_id}/reject", json=body, headers=auth(env["bank1"].key)
            )
            refused(r, "TEXT_TOO_LONG" if len(body.get("reason", "")) > 1000 else "INVALID_INPUT")


def test_empty_batches_are_refused(env: Env) -> None:
    with env.nothing_changes():
        refused(
            env.http.post("/v1/loans/batch", json={"loans": []}, headers=auth(env["p1"].key)),
            "INVALID_INPUT",
        )
        refused(
            env.http.post(
                "/v1/loans/confirm-batch", json={"record_ids": []}, headers=auth(env["bank1"].key)
            ),
            "INVALID_INPUT",
        )


def test_batch_with_one_invalid_item_is_refused_whole(env: Env) -> None:
    good, _ = env.loan_json()
    bad = _patch(good, "disclosure.principal", -1)
    with env.nothing_changes():
        r = env.http.post(
            "/v1/loans/batch", json={"loans": [good, bad]}, headers=auth(env["p1"].key)
        )
        refused(r, "VALUE_OUT_OF_RANGE")


def test_agreement_digest_case_and_prefix_are_normalized(env: Env) -> None:
    doc = b"%PDF normalized " + secrets.token_bytes(8)
    digest = hashlib.sha256(doc).hexdigest()
    body, _ = env.loan_json(document=doc, agreement_sha256="0x" + digest.upper())
    r = env.post_loan(env["p1"].key, body, document=doc)
    assert r.status_code == 202, r.text
    # the same agreement in its lower-case form is the same loan
    again = dict(body, agreement_sha256=digest)
    r2 = env.post_loan(env["p1"].key, again)
    assert r2.status_code == 202 and r2.json()["record_id"] == r.json()["record_id"]
    assert r2.json()["duplicate"] is True


def test_issued_at_in_the_future(env: Env) -> None:
    future = env.now() + 30 * 86_400
    body, _ = env.loan_json(issued_at=future)
    with env.nothing_changes():
        r = env.post_loan(env["p1"].key, body)
        assert r.status_code == 422, r.text
