"""Every route of the gateway, happy path, over HTTP (FastAPI TestClient)."""

from __future__ import annotations

import hashlib
import json
import re
from fractions import Fraction

from eth_account import Account

from ledger.enums import InstitutionType
from tests.api.conftest import Env, auth, error_code

# ---------------------------------------------------------------------- participants & policy


def test_register_list_and_change_status(env: Env) -> None:
    r = env.http.post(
        "/v1/participants",
        json={"role": "funder", "name": "Trust Co", "institution_type": "trust"},
        headers=auth(env.regulator_key),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"participant", "api_key"}
    participant = body["participant"]
    assert participant["role"] == "funder"
    assert participant["institution_type"] == "trust"
    assert participant["name"] == "Trust Co"
    assert participant["status"] == "active"
    assert participant["custodial"] is True
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", participant["signer_address"])
    assert isinstance(body["api_key"], str) and len(body["api_key"]) >= 20
    pid = participant["id"]

    # the new key authenticates at once
    listed = env.http.get("/v1/participants", headers=auth(body["api_key"]))
    assert listed.status_code == 200
    by_id = {p["id"]: p for p in listed.json()}
    assert by_id[pid] == participant
    assert by_id[1]["role"] == "regulator"
    assert {env[n].id for n in ("bank1", "p1", "g1", "auditor")} <= set(by_id)

    r = env.http.put(
        f"/v1/participants/{pid}/status",
        json={"status": "suspended"},
        headers=auth(env.regulator_key),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"id": pid, "status": "suspended"}
    listed = env.http.get("/v1/participants", headers=auth(env.regulator_key)).json()
    assert {p["id"]: p["status"] for p in listed}[pid] == "suspended"
    with env.gw.service.chain_lock:
        epoch = env.gw.service.chain.registry.functions.currentEpoch(pid).call()
    assert int(epoch[2]) != 1  # not ACTIVE on chain either

    r = env.http.put(
        f"/v1/participants/{pid}/status", json={"status": "active"}, headers=auth(env.regulator_key)
    )
    assert r.status_code == 200, r.text
    listed = env.http.get("/v1/participants", headers=auth(env.regulator_key)).json()
    assert {p["id"]: p["status"] for p in listed}[pid] == "active"


def test_register_non_custodial_participant(env: Env) -> None:
    address = Account.create().address  # EIP-55 checksummed
    r = env.http.post(
        "/v1/participants",
        json={"role": "auditor", "name": "Own-key auditor", "signer_address": address},
        headers=auth(env.regulator_key),
    )
    assert r.status_code == 201, r.text
    participant = r.json()["participant"]
    assert participant["custodial"] is False
    assert participant["signer_address"].lower() == address.lower()


def test_register_with_lower_case_signer_address(env: Env) -> None:
    address = Account.create().address.lower()
    r = env.http.post(
        "/v1/participants",
        json={"role": "auditor", "name": "Lower-case auditor", "signer_address": address},
        headers=auth(env.regulator_key),
    )
    assert r.status_code == 201, (r.status_code, r.text)
    assert r.json()["participant"]["signer_address"].lower() == address


def test_rate_cap_change_applies_to_new_loans(env: Env) -> None:
    """PUT /v1/policy/rate-caps/{type}: a lower cap refuses a loan the old cap allowed; the
    regulator puts it back and the same loan passes. Only this test uses small_loan funders."""
    funder = env.register("funder", "Small Loan Co", "small_loan")
    env.whitelist(funder, env["p1"])
    reg = auth(env.regulator_key)
    registry = env.gw.service.chain.registry.functions

    r = env.http.put("/v1/policy/rate-caps/small_loan", json={"cap_bps": 1000}, headers=reg)
    assert r.status_code == 200, r.text
    assert r.json() == {"institution_type": "small_loan", "cap_bps": 1000, "effective_from": 0}
    with env.gw.service.chain_lock:
        found, cap = registry.rateCapAt(
            InstitutionType.SMALL_LOAN, env.now()
        ).call()  # InstitutionType.SMALL_LOAN
    assert (found, cap) == (True, 1000)
    with env.nothing_changes():
        r = env.submit(env["p1"], funder=funder)  # 12 % a month-rate loan: APR 1200 bps > 1000
        assert r.status_code == 422, r.text
        assert error_code(r) == "RATE_CAP_EXCEEDED"

    r = env.http.put("/v1/policy/rate-caps/small_loan", json={"cap_bps": 2400}, headers=reg)
    assert r.status_code == 200, r.text
    r = env.submit(env["p1"], funder=funder)
    assert r.status_code == 202, r.text


def test_set_rate_cap_with_future_effective_date(env: Env) -> None:
    future = env.now() + 10 * 86_400
    r = env.http.put(
        "/v1/policy/rate-caps/trust",
        json={"cap_bps": 2000, "effective_from": future},
        headers=auth(env.regulator_key),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"institution_type": "trust", "cap_bps": 2000, "effective_from": future}
    registry = env.gw.service.chain.registry.functions
    with env.gw.service.chain_lock:
        assert tuple(registry.rateCapAt(InstitutionType.TRUST, env.now()).call()) == (True, 2400)
        assert tuple(registry.rateCapAt(InstitutionType.TRUST, future).call()) == (True, 2000)


def test_set_lpr(env: Env) -> None:
    r = env.http.put("/v1/policy/lpr", json={"lpr_bps": 310}, headers=auth(env.regulator_key))
    assert r.status_code == 200, r.text
    assert r.json() == {"lpr_bps": 310, "effective_from": 0}
    with env.gw.service.chain_lock:
        assert env.gw.service.chain.registry.functions.lprAt(env.now()).call() == 310
    r = env.http.put("/v1/policy/lpr", json={"lpr_bps": 300}, headers=auth(env.regulator_key))
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------------- whitelists


def test_whitelist_add_history_and_remove(env: Env) -> None:
    funder = env.register("funder", "WL Bank", "bank")
    platform = env.register("platform", "WL Platform")
    key = auth(funder.key)

    r = env.http.put(f"/v1/whitelist/{platform.id}", headers=key)
    assert r.status_code == 200, r.text
    assert r.json() == {"funder_id": funder.id, "partner_id": platform.id, "effective_from": 0}
    listed = env.http.get(f"/v1/whitelists?funder_id={funder.id}", headers=key)
    assert listed.status_code == 200
    (entry,) = listed.json()
    assert entry["funder_id"] == funder.id and entry["partner_id"] == platform.id
    assert entry["partner_role"] == "platform"
    (period,) = entry["periods"]
    assert period["valid_until"] is None and period["valid_from"] <= env.now()

    assert env.submit(platform, funder=funder).status_code == 202  # whitelisted: accepted

    env.gw.service.client.advance_time(5)
    r = env.http.delete(f"/v1/whitelist/{platform.id}", headers=key)
    assert r.status_code == 200, r.text
    assert r.json() == {"funder_id": funder.id, "partner_id": platform.id, "effective_until": 0}
    (entry,) = env.http.get(f"/v1/whitelists?funder_id={funder.id}", headers=key).json()
    (period,) = entry["periods"]
    assert period["valid_until"] is not None and period["valid_until"] > period["valid_from"]

    with env.nothing_changes():
        r = env.submit(platform, funder=funder)
        assert r.status_code == 422
        assert error_code(r) == "PLATFORM_NOT_WHITELISTED"

    # listed again later: a second period in the history
    env.gw.service.client.advance_time(5)
    assert env.http.put(f"/v1/whitelist/{platform.id}", headers=key).status_code == 200
    (entry,) = env.http.get(f"/v1/whitelists?funder_id={funder.id}", headers=key).json()
    assert len(entry["periods"]) == 2
    assert entry["periods"][1]["valid_until"] is None


def test_whitelists_of_the_cast(env: Env) -> None:
    r = env.http.get("/v1/whitelists", headers=auth(env["auditor"].key))
    assert r.status_code == 200
    pairs = {(w["funder_id"], w["partner_id"]) for w in r.json()}
    for funder, partner in [("bank1", "p1"), ("bank1", "p2"), ("bank1", "g1"), ("bank2", "p1")]:
        assert (env[funder].id, env[partner].id) in pairs
    assert not {p for p in pairs if p[1] in (env["p3"].id, env["g2"].id)}
    guarantor_rows = [w for w in r.json() if w["partner_id"] == env["g1"].id]
    assert guarantor_rows and guarantor_rows[0]["partner_role"] == "credit_enhancer"


def test_whitelist_with_effective_from_in_the_future(env: Env) -> None:
    funder = env.register("funder", "Future Bank", "bank")
    platform = env.register("platform", "Future Platform")
    start = env.now() + 3600
    r = env.http.put(
        f"/v1/whitelist/{platform.id}", json={"effective_from": start}, headers=auth(funder.key)
    )
    assert r.status_code == 200, r.text
    assert r.json()["effective_from"] == start
    (entry,) = env.http.get(
        f"/v1/whitelists?funder_id={funder.id}", headers=auth(funder.key)
    ).json()
    assert entry["periods"][0]["valid_from"] == start
    with env.nothing_changes():
        r = env.submit(platform, funder=funder)  # issued now, before the period starts
        assert r.status_code == 422 and error_code(r) == "PLATFORM_NOT_WHITELISTED"


# ---------------------------------------------------------------------- loans


def test_submit_json_confirm_anchor_status_and_receipt(env: Env) -> None:
    body, _ = env.loan_json(source_system="core-banking")
    r = env.post_loan(env["p1"].key, body)
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["status"] == "awaiting_funder"
    assert out["duplicate"] is False and out["entry_timestamp"] is None
    record_id = out["record_id"]
    assert re.fullmatch(r"0x[0-9a-f]{64}", record_id)

    view = env.status(record_id, env["p1"].key)
    assert view["status"] == "awaiting_funder"
    assert view["platform_id"] == env["p1"].id and view["funder_id"] == env["bank1"].id
    assert view["principal"] == 2_000_000
    assert view["apr_bps"] == body["disclosure"]["stated_apr_bps"]
    assert view["issued_at"] == body["issued_at"]
    assert view["institution_type"] == "bank"
    assert view["entry_timestamp"] is None and view["transaction_hash"] is None
    assert "borrower_id" not in json.dumps(view)
    r = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env["p1"].key))
    assert r.status_code == 409 and error_code(r) == "NOT_ANCHORED"

    r = env.confirm(env["bank1"], record_id)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "queued" and out["record_id"] == record_id
    promise = out["entry_timestamp"]
    assert promise is not None
    view = env.status(record_id)
    assert view["status"] == "queued"
    assert view["entry_timestamp"] == promise

    batches = env.batch_count()
    assert env.gw.service.anchor_pending() >= 1
    assert env.batch_count() == batches + 1
    view = env.status(record_id)
    assert view["status"] == "anchored" and view["anchoring"] == "batch"
    assert view["batch_root"] and view["transaction_hash"] and view["block_number"]

    r = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env["p1"].key))
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert receipt["record_id"] == record_id
    assert receipt["anchor"]["mode"] == "batch"
    assert receipt["anchor"]["root"] == view["batch_root"]
    assert receipt["record"]["agreement_digest"] == "0x" + body["agreement_sha256"]
    assert receipt["provenance"]["source_system"] == "core-banking"
    assert [s["role"] for s in receipt["signatures"]] == ["platform", "funder"]
    assert "110101199003070000" not in json.dumps(receipt)  # only the commitment is kept

    v = env.http.post("/v1/verify", json={"receipt": receipt})
    assert v.status_code == 200, v.text
    assert v.json()["ok"] is True, v.json()


def test_submit_multipart_with_agreement_file(env: Env) -> None:
    body, doc = env.loan_json(document=b"%PDF-1.7 multipart agreement \x00\xff" * 50)
    r = env.post_loan(env["p1"].key, body, document=doc)
    assert r.status_code == 202, r.text
    record_id = r.json()["record_id"]
    assert env.confirm(env["bank1"], record_id).json()["status"] == "queued"
    env.gw.service.anchor_pending()
    receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env["p1"].key)).json()
    assert receipt["document"]["sha256"] == "0x" + hashlib.sha256(doc).hexdigest()
    assert receipt["document"]["size"] == len(doc)
    assert receipt["document"]["media_type"] == "application/pdf"
    assert receipt["unsigned"]["document_location"]

    # POST /v1/verify, multipart with the document itself
    v = env.http.post(
        "/v1/verify",
        files={"receipt": (None, json.dumps(receipt)), "document": ("a.pdf", doc)},
    )
    assert v.status_code == 200, v.text
    report = v.json()
    assert report["ok"] is True, report
    assert report["record_id"] == record_id
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["document"]["status"] == "pass"

    # the same with a tampered document: the report names `document` as failing
    tampered = doc[:-1] + bytes([doc[-1] ^ 1])
    v = env.http.post(
        "/v1/verify",
        files={"receipt": (None, json.dumps(receipt)), "document": ("a.pdf", tampered)},
    )
    assert v.status_code == 200, v.text
    report = v.json()
    assert report["ok"] is False
    failing = [c for c in report["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failing] == ["document"]
    assert failing[0]["code"] == "VERIFY_DOCUMENT_MISMATCH"


def test_verify_json_with_document_digest(env: Env) -> None:
    body, doc = env.loan_json()
    r = env.post_loan(env["p1"].key, body)
    record_id = r.json()["record_id"]
    env.confirm(env["bank1"], record_id)
    env.gw.service.anchor_pending()
    receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env["p1"].key)).json()

    good = env.http.post(
        "/v1/verify", json={"receipt": receipt, "document_sha256": hashlib.sha256(doc).hexdigest()}
    )
    assert good.status_code == 200 and good.json()["ok"] is True, good.json()
    checks = {c["name"]: c["status"] for c in good.json()["checks"]}
    assert checks["document"] == "pass"
    for name in ("format", "record_id", "signatures", "leaf", "proof", "anchor", "rate_cap"):
        assert checks[name] == "pass", (name, checks)

    bad = env.http.post("/v1/verify", json={"receipt": receipt, "document_sha256": "00" * 32})
    assert bad.status_code == 200
    report = bad.json()
    assert report["ok"] is False
    failing = [c for c in report["checks"] if c["status"] == "fail"]
    assert [(c["name"], c["code"]) for c in failing] == [("document", "VERIFY_DOCUMENT_MISMATCH")]

    # a receipt edited after the fact fails on its own link
    forged = json.loads(json.dumps(receipt))
    forged["record"]["principal"] = forged["record"]["principal"] + 1
    report = env.http.post("/v1/verify", json={"receipt": forged}).json()
    assert report["ok"] is False
    assert "record_id" in {c["name"] for c in report["checks"] if c["status"] == "fail"}


def test_batch_submission_and_confirm_batch(env: Env) -> None:
    good1, _ = env.loan_json()
    good2, _ = env.loan_json(funder=env["bank2"], principal=500_000, months=6)
    over_cap, _ = env.loan_json(monthly_rate=Fraction(3, 100))
    before = env.db_state()
    r = env.http.post(
        "/v1/loans/batch", json={"loans": [good1, over_cap, good2]}, headers=auth(env["p1"].key)
    )
    assert r.status_code == 202, r.text
    out = r.json()
    assert (out["accepted"], out["rejected"]) == (2, 1)
    results = out["results"]
    assert [x["index"] for x in results] == [0, 1, 2]
    assert results[1]["error"]["code"] == "RATE_CAP_EXCEEDED"
    assert results[0]["status"] == results[2]["status"] == "awaiting_funder"
    after = env.db_state()
    assert len(after["submissions"]) == len(before["submissions"]) + 2

    ids1 = [results[0]["record_id"]]
    unknown = "0x" + "ab" * 32
    r = env.http.post(
        "/v1/loans/confirm-batch",
        json={"record_ids": [*ids1, unknown, results[2]["record_id"]]},
        headers=auth(env["bank1"].key),
    )
    assert r.status_code == 200, r.text
    out = r.json()
    # bank1 funds only the first one: bank2's loan is not found for bank1, as is the unknown id
    assert (out["accepted"], out["rejected"]) == (1, 2)
    assert out["results"][0] == {"record_id": ids1[0], "status": "queued"}
    assert out["results"][1]["error"]["code"] == "RECORD_NOT_FOUND"
    assert out["results"][2]["error"]["code"] == "RECORD_NOT_FOUND"
    assert env.status(results[2]["record_id"])["status"] == "awaiting_funder"

    r = env.http.post(
        "/v1/loans/confirm-batch",
        json={"record_ids": [results[2]["record_id"]]},
        headers=auth(env["bank2"].key),
    )
    assert r.json()["accepted"] == 1
    env.gw.service.anchor_pending()
    assert env.status(ids1[0])["status"] == env.status(results[2]["record_id"])["status"]
    assert env.status(ids1[0])["status"] == "anchored"


def test_guarantor_and_co_funder_loan(env: Env) -> None:
    record_id = env.anchored_loan(
        guarantor_id=env["g1"].id, co_funder_id=env["bank2"].id, co_funder_share_bps=3000
    )
    view = env.status(record_id)
    assert view["status"] == "anchored"
    assert view["guarantor_id"] == env["g1"].id and view["co_funder_id"] == env["bank2"].id
    receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env["g1"].key)).json()
    assert [s["role"] for s in receipt["signatures"]] == [
        "platform",
        "funder",
        "guarantor",
        "co_funder",
    ]
    assert env.http.post("/v1/verify", json={"receipt": receipt}).json()["ok"] is True


def test_reject_by_funder(env: Env) -> None:
    r = env.submit(env["p1"])
    record_id = r.json()["record_id"]
    r = env.http.post(
        f"/v1/loans/{record_id}/reject",
        json={"reason": "borrower failed KYC"},
        headers=auth(env["bank1"].key),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "record_id": record_id,
        "status": "rejected",
        "duplicate": False,
        "entry_timestamp": None,
    }
    view = env.status(record_id, env["p1"].key)
    assert view["status"] == "rejected"
    assert view["rejection"] == {"code": "FUNDER_REJECTED", "reason": "borrower failed KYC"}

    # it cannot be confirmed afterwards: it stays rejected and never reaches the chain
    batches = env.batch_count()
    r = env.confirm(env["bank1"], record_id)
    assert r.status_code in (200, 409), r.text
    if r.status_code == 200:
        assert r.json()["status"] == "rejected" and r.json()["entry_timestamp"] is None
    else:
        assert error_code(r) == "NOT_AWAITING_FUNDER"
    env.gw.service.anchor_pending()
    assert env.batch_count() == batches
    view = env.status(record_id)
    assert view["status"] == "rejected" and view["transaction_hash"] is None
    r = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env["p1"].key))
    assert r.status_code == 409 and error_code(r) == "NOT_ANCHORED"

    # nor rejected twice
    r = env.http.post(
        f"/v1/loans/{record_id}/reject", json={"reason": "again"}, headers=auth(env["bank1"].key)
    )
    assert r.status_code == 409 and error_code(r) == "NOT_AWAITING_FUNDER"
    assert env.status(record_id)["rejection"]["reason"] == "borrower failed KYC"


def test_cannot_reject_a_queued_loan(env: Env) -> None:
    record_id = env.queued_loan()
    with env.nothing_changes():
        r = env.http.post(
            f"/v1/loans/{record_id}/reject", json={"reason": "late"}, headers=auth(env["bank1"].key)
        )
        assert r.status_code == 409 and error_code(r) == "NOT_AWAITING_FUNDER"


def test_record_id_is_case_insensitive(env: Env) -> None:
    record_id = env.submit(env["p1"]).json()["record_id"]
    upper = "0x" + record_id[2:].upper()
    assert env.status(upper, env["p1"].key)["record_id"] == record_id
    r = env.confirm(env["bank1"], upper)
    assert r.status_code == 200 and r.json()["record_id"] == record_id


# ---------------------------------------------------------------------- operations


def test_healthz(env: Env) -> None:
    env.gw.service.anchor_pending()  # nothing stale in the queue
    r = env.http.get("/healthz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True
    assert body["checks"]["chain"]["ok"] is True
    assert body["checks"]["chain"]["chain_id"] == env.gw.service.client.chain_id
    assert body["checks"]["database"] == {"ok": True, "read_only": False}
    assert body["checks"]["batcher"]["ok"] is True
    assert body["checks"]["batcher"]["queue_depth"] == 0
    assert isinstance(body["time"], int)


def test_metrics(env: Env) -> None:
    env.queued_loan()  # one in the queue
    r = env.http.post("/v1/loans", content=b"{not json", headers=auth(env["p1"].key))
    assert r.status_code == 422
    text = env.http.get("/metrics")
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    body = text.text
    samples = {
        line.split(" ")[0]: float(line.split(" ")[-1])
        for line in body.splitlines()
        if line and not line.startswith("#")
    }
    assert samples["ledger_submissions_total"] >= 1
    assert samples["ledger_queue_depth"] >= 1
    assert "ledger_batches_total" in samples
    assert "ledger_batch_size_count" in samples and "ledger_batch_size_sum" in samples
    assert 'ledger_batch_size_bucket{le="+Inf"}' in samples
    assert "ledger_anchor_latency_seconds_count" in samples
    assert 'ledger_anchor_latency_seconds_bucket{le="+Inf"}' in samples
    assert samples['ledger_errors_total{code="INVALID_INPUT"}'] >= 1
    env.gw.service.anchor_pending()
    after = env.http.get("/metrics").text
    depth = next(
        float(line.split(" ")[-1])
        for line in after.splitlines()
        if line.startswith("ledger_queue_depth ")
    )
    assert depth == 0


EXPECTED_ROUTES = {
    ("post", "/v1/participants"),
    ("get", "/v1/participants"),
    ("put", "/v1/participants/{participant_id}/status"),
    ("put", "/v1/policy/rate-caps/{institution_type}"),
    ("put", "/v1/policy/lpr"),
    ("put", "/v1/whitelist/{partner_id}"),
    ("delete", "/v1/whitelist/{partner_id}"),
    ("get", "/v1/whitelists"),
    ("post", "/v1/loans"),
    ("post", "/v1/loans/batch"),
    ("post", "/v1/loans/confirm-batch"),
    ("post", "/v1/loans/{record_id}/confirm"),
    ("post", "/v1/loans/{record_id}/reject"),
    ("get", "/v1/loans/{record_id}/signing"),
    ("post", "/v1/loans/{record_id}/sign"),
    ("get", "/v1/loans/{record_id}"),
    ("get", "/v1/loans/{record_id}/receipt"),
    ("get", "/v1/loans/{record_id}/evidence"),
    ("post", "/v1/verify"),
    ("get", "/v1/loans/{record_id}/disclosure"),
    ("post", "/v1/verify/disclosure"),
    ("get", "/healthz"),
    ("get", "/metrics"),
}


def test_openapi_documents_every_route(env: Env) -> None:
    r = env.http.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    documented = {
        (method, path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    }
    assert documented >= EXPECTED_ROUTES
    # every route of the app is documented, with a summary
    app_routes = {
        (method.lower(), route.path)
        for route in env.http.app.routes  # type: ignore[attr-defined]
        for method in getattr(route, "methods", ()) or ()
        if getattr(route, "include_in_schema", False)
    }
    assert app_routes <= documented
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert op.get("summary"), (method, path)
    # the hand-written request bodies are there
    assert "application/json" in spec["paths"]["/v1/loans"]["post"]["requestBody"]["content"]
    assert "application/json" in spec["paths"]["/v1/verify"]["post"]["requestBody"]["content"]
    # bearer auth is declared on authenticated routes
    assert any(
        s.get("type") == "http" and s.get("scheme") == "bearer"
        for s in spec["components"]["securitySchemes"].values()
    )


def test_docs_page(env: Env) -> None:
    r = env.http.get("/docs")
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]
    assert "/openapi.json" in r.text


def test_unknown_route_uses_the_error_shape(env: Env) -> None:
    r = env.http.get("/v1/nothing-here")
    assert r.status_code == 404 and error_code(r) == "NOT_FOUND"
    r = env.http.patch("/v1/participants", headers=auth(env.regulator_key))
    assert r.status_code == 405 and error_code(r) == "METHOD_NOT_ALLOWED"
