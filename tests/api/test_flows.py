"""Idempotency, batching on chain, per-record anchoring and the funder's rejection."""

from __future__ import annotations

import json

from tests.api.conftest import Env, auth, error_code


def test_resubmission_returns_the_same_record(env: Env) -> None:
    body, doc = env.loan_json()
    first = env.post_loan(env["p1"].key, body)
    assert first.status_code == 202 and first.json()["duplicate"] is False
    record_id = first.json()["record_id"]
    before = env.db_state()
    for again in (
        env.post_loan(env["p1"].key, body),
        env.post_loan(env["p1"].key, body, document=doc),  # the same loan, now with its file
        env.http.post("/v1/loans/batch", json={"loans": [body]}, headers=auth(env["p1"].key)),
    ):
        assert again.status_code == 202, again.text
        out = again.json()
        out = out["results"][0] if "results" in out else out
        assert out["record_id"] == record_id
        assert out["duplicate"] is True
        assert out["status"] == "awaiting_funder"
    assert [s[0] for s in env.db_state()["submissions"]] == [s[0] for s in before["submissions"]]

    # once queued, a resubmission answers with the queued record and its entry timestamp
    confirmed = env.confirm(env["bank1"], record_id).json()
    again = env.post_loan(env["p1"].key, body).json()
    assert again["record_id"] == record_id and again["duplicate"] is True
    assert again["status"] == "queued"
    assert again["entry_timestamp"] == confirmed["entry_timestamp"]
    env.gw.service.anchor_pending()
    again = env.post_loan(env["p1"].key, body).json()
    assert again["status"] == "anchored" and again["record_id"] == record_id


def test_retry_without_issue_time_is_the_same_loan(env: Env) -> None:
    """A client that lets the gateway pick the issue time and retries later (after new blocks)
    gets its first record back, not a second one."""
    body, _ = env.loan_json()
    del body["issued_at"]
    first = env.post_loan(env["p1"].key, body).json()
    env.gw.service.client.advance_time(30)
    again = env.post_loan(env["p1"].key, body)
    assert again.status_code == 202
    assert again.json()["record_id"] == first["record_id"]
    assert again.json()["duplicate"] is True


def test_same_agreement_by_other_parties_is_another_record(env: Env) -> None:
    body, _ = env.loan_json()
    a = env.post_loan(env["p1"].key, body).json()
    b = env.post_loan(env["p2"].key, body).json()  # another platform
    c = env.post_loan(env["p1"].key, dict(body, funder_id=env["bank2"].id)).json()
    assert len({a["record_id"], b["record_id"], c["record_id"]}) == 3
    assert not (a["duplicate"] or b["duplicate"] or c["duplicate"])


def test_the_same_loan_twice_in_one_batch(env: Env) -> None:
    body, _ = env.loan_json()
    before = len(env.db_state()["submissions"])
    r = env.http.post("/v1/loans/batch", json={"loans": [body, body]}, headers=auth(env["p1"].key))
    assert r.status_code == 202, r.text
    first, second = r.json()["results"]
    assert len(env.db_state()["submissions"]) == before + 1, r.json()
    assert second.get("record_id") == first["record_id"] or second["error"]["code"] == (
        "DUPLICATE_IN_REQUEST"
    )


def test_confirming_twice_anchors_once(env: Env) -> None:
    env.gw.service.anchor_pending()  # start from an empty queue
    record_id = env.submit(env["p1"]).json()["record_id"]
    first = env.confirm(env["bank1"], record_id)
    assert first.status_code == 200 and first.json()["status"] == "queued"
    assert first.json()["duplicate"] is False
    second = env.confirm(env["bank1"], record_id)
    assert second.status_code == 200
    assert second.json()["duplicate"] is True and second.json()["status"] == "queued"
    assert second.json()["entry_timestamp"] == first.json()["entry_timestamp"]
    r = env.http.post(
        "/v1/loans/confirm-batch",
        json={"record_ids": [record_id, record_id]},
        headers=auth(env["bank1"].key),
    )
    assert [x["status"] for x in r.json()["results"]] == ["queued", "queued"]

    batches = env.batch_count()
    assert env.gw.service.anchor_pending() == 1
    assert env.batch_count() == batches + 1
    anchored = env.status(record_id)
    assert anchored["status"] == "anchored"

    third = env.confirm(env["bank1"], record_id)
    assert third.status_code == 200
    assert third.json()["status"] == "anchored" and third.json()["duplicate"] is True
    assert env.gw.service.anchor_pending() == 0
    assert env.batch_count() == batches + 1
    assert env.status(record_id)["transaction_hash"] == anchored["transaction_hash"]


def test_one_batch_on_chain_per_anchor_round(env: Env) -> None:
    env.gw.service.anchor_pending()
    start = env.batch_count()
    metrics_before = env.gw.service.metrics.batches
    rounds = [3, 1, 2]
    roots = set()
    for n, size in enumerate(rounds, start=1):
        ids = [env.queued_loan() for _ in range(size)]
        assert env.gw.service.anchor_pending() == size
        assert env.batch_count() == start + n
        views = [env.status(i) for i in ids]
        assert {v["status"] for v in views} == {"anchored"}
        assert len({v["batch_root"] for v in views}) == 1  # one root per round
        roots.add(views[0]["batch_root"])
        receipts = [
            env.http.get(f"/v1/loans/{i}/receipt", headers=auth(env.regulator_key)).json()
            for i in ids
        ]
        assert {r["anchor"]["batch_size"] for r in receipts} == {size}
    assert len(roots) == len(rounds)
    # an empty queue anchors nothing
    assert env.gw.service.anchor_pending() == 0
    assert env.batch_count() == start + len(rounds)
    assert env.gw.service.metrics.batches == metrics_before + len(rounds)


def test_awaiting_and_rejected_loans_are_not_anchored(env: Env) -> None:
    env.gw.service.anchor_pending()
    awaiting = env.submit(env["p1"]).json()["record_id"]
    start = env.batch_count()
    assert env.gw.service.anchor_pending() == 0
    assert env.batch_count() == start
    assert env.status(awaiting)["status"] == "awaiting_funder"


# ---------------------------------------------------------------------- per-record anchoring


def test_per_record_anchoring(env: Env) -> None:
    env.gw.service.anchor_pending()
    body, doc = env.loan_json(anchoring="per-record")
    r = env.post_loan(env["p1"].key, body, document=doc)
    assert r.status_code == 202 and r.json()["status"] == "awaiting_funder"
    record_id = r.json()["record_id"]
    batches = env.batch_count()

    c = env.confirm(env["bank1"], record_id)
    assert c.status_code == 200, c.text
    assert c.json()["status"] == "anchored"  # at once, no batcher round
    assert c.json()["entry_timestamp"] is not None
    view = env.status(record_id)
    assert view["status"] == "anchored" and view["anchoring"] == "per-record"
    assert view["batch_root"] is None and view["transaction_hash"]
    assert env.batch_count() == batches  # no batch was used
    with env.gw.service.chain_lock:
        state = env.gw.service.chain.ledger.functions.recordState(
            bytes.fromhex(record_id[2:])
        ).call()
    assert state[0] == 1  # RecordStatus.ANCHORED, by anchorLoan

    assert env.gw.service.anchor_pending() == 0
    receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env["p1"].key))
    assert receipt.status_code == 200
    receipt_json = receipt.json()
    assert receipt_json["anchor"]["mode"] == "per-record"
    assert receipt_json["anchor"]["transaction_hash"] == view["transaction_hash"]
    assert not receipt_json["anchor"].get("proof") and not receipt_json["anchor"].get("root")

    v = env.http.post(
        "/v1/verify",
        files={"receipt": (None, json.dumps(receipt_json)), "document": ("a.pdf", doc)},
    )
    report = v.json()
    assert report["ok"] is True, report
    checks = {c["name"]: c["status"] for c in report["checks"]}
    assert checks["anchor"] == "pass" and checks["document"] == "pass"
    assert checks["leaf"] == checks["proof"] == "skip"

    # confirming again does not anchor twice
    again = env.confirm(env["bank1"], record_id)
    assert again.json()["duplicate"] is True and again.json()["status"] == "anchored"
    assert env.status(record_id)["transaction_hash"] == view["transaction_hash"]


def test_mixed_modes_in_one_confirm_batch(env: Env) -> None:
    env.gw.service.anchor_pending()
    batched = env.submit(env["p1"]).json()["record_id"]
    single = env.submit(env["p1"], anchoring="per-record").json()["record_id"]
    r = env.http.post(
        "/v1/loans/confirm-batch",
        json={"record_ids": [batched, single]},
        headers=auth(env["bank1"].key),
    )
    assert r.status_code == 200
    statuses = {x["record_id"]: x["status"] for x in r.json()["results"]}
    assert statuses == {batched: "queued", single: "anchored"}
    start = env.batch_count()
    assert env.gw.service.anchor_pending() == 1
    assert env.batch_count() == start + 1


# ---------------------------------------------------------------------- the funder's refusal


def test_funder_rejection_is_final(env: Env) -> None:
    body, _ = env.loan_json()
    record_id = env.post_loan(env["p1"].key, body).json()["record_id"]
    r = env.http.post(
        f"/v1/loans/{record_id}/reject",
        json={"reason": "exposure limit reached"},
        headers=auth(env["bank1"].key),
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    view = env.status(record_id, env["bank1"].key)
    assert view["status"] == "rejected"
    assert view["rejection"] == {"code": "FUNDER_REJECTED", "reason": "exposure limit reached"}

    before = env.batch_count()
    for attempt in (
        env.confirm(env["bank1"], record_id),
        env.http.post(
            "/v1/loans/confirm-batch",
            json={"record_ids": [record_id]},
            headers=auth(env["bank1"].key),
        ),
    ):
        assert attempt.status_code in (200, 409), attempt.text
        if attempt.status_code == 409:
            assert error_code(attempt) == "NOT_AWAITING_FUNDER"
        else:
            out = attempt.json()
            out = out["results"][0] if "results" in out else out
            assert out.get("status", "rejected") == "rejected"
    env.gw.service.anchor_pending()
    assert env.batch_count() == before
    assert env.status(record_id)["status"] == "rejected"

    # the platform may submit the loan anew: a new record, not the rejected one
    again = env.post_loan(env["p1"].key, body)
    assert again.status_code == 202
    assert again.json()["record_id"] != record_id and again.json()["duplicate"] is False


def test_many_receipts_in_one_request(env: Env) -> None:
    anchored = [env.anchored_loan() for _ in range(3)]
    queued = env.queued_loan()
    unknown = "0x" + "ab" * 32
    asked = [
        anchored[2],
        queued,
        anchored[0],
        unknown,
        anchored[2].upper().replace("0X", "0x"),
        anchored[1],
    ]
    r = env.http.post(
        "/v1/loans/receipts", json={"record_ids": asked}, headers=auth(env.regulator_key)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    one_by_one = [
        env.http.get(f"/v1/loans/{i}/receipt", headers=auth(env.regulator_key)).json()
        for i in (anchored[2], anchored[0], anchored[1])
    ]
    assert body["receipts"] == one_by_one  # in the order asked, a repeated id once
    assert body["missing"] == [
        {"record_id": queued, "code": "NOT_ANCHORED"},
        {"record_id": unknown, "code": "RECORD_NOT_FOUND"},
    ]
    # a platform sees only its own records: another platform's are not found, not told apart
    other = env.http.post(
        "/v1/loans/receipts", json={"record_ids": anchored[:1]}, headers=auth(env["p2"].key)
    )
    assert other.status_code == 200
    assert other.json() == {
        "receipts": [],
        "missing": [{"record_id": anchored[0], "code": "RECORD_NOT_FOUND"}],
    }
    too_many = env.http.post(
        "/v1/loans/receipts",
        json={"record_ids": [unknown] * 1001},
        headers=auth(env.regulator_key),
    )
    assert too_many.status_code == 422
    assert env.http.post("/v1/loans/receipts", json={"record_ids": [unknown]}).status_code == 401
