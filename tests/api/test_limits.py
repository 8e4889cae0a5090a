"""Size limits: uploads against `max_upload_bytes` (a gateway of their own with a small limit),
and batches of more than 10,000 records."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.service import MAX_BATCH_SUBMISSION
from tests.api.conftest import Env, auth, error_code, make_env, make_gateway

LIMIT = 16 * 1024


@pytest.fixture(scope="module")
def small() -> Iterator[Env]:
    with tempfile.TemporaryDirectory(prefix="api-limits-") as tmp:
        gw = make_gateway(Path(tmp), max_upload_bytes=LIMIT, max_json_bytes=LIMIT)
        try:
            env = make_env(gw, cast=False)
            env.parties["bank1"] = env.register("funder", "Bank", "bank")
            env.parties["p1"] = env.register("platform", "Platform")
            env.whitelist(env["bank1"], env["p1"])
            yield env
        finally:
            gw.close()


def _errors(env: Env, code: str) -> float:
    for line in env.http.get("/metrics").text.splitlines():
        if line.startswith(f'ledger_errors_total{{code="{code}"}}'):
            return float(line.split(" ")[-1])
    return 0.0


def test_agreement_over_the_limit_is_413(small: Env) -> None:
    body, doc = small.loan_json(document=b"%PDF" + b"x" * (4 * LIMIT))
    counted = _errors(small, "PAYLOAD_TOO_LARGE")
    with small.nothing_changes():
        r = small.post_loan(small["p1"].key, body, document=doc)
        assert r.status_code == 413, r.text
        assert error_code(r) == "PAYLOAD_TOO_LARGE"
    assert _errors(small, "PAYLOAD_TOO_LARGE") == counted + 1


def test_agreement_at_the_limit_is_accepted(small: Env) -> None:
    body, doc = small.loan_json(document=b"%PDF" + b"y" * (LIMIT - 4))
    assert len(doc) == LIMIT
    r = small.post_loan(small["p1"].key, body, document=doc)
    assert r.status_code == 202, r.text
    record_id = r.json()["record_id"]
    small.confirm(small["bank1"], record_id)
    small.gw.service.anchor_pending()
    receipt = small.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(small["p1"].key))
    assert receipt.json()["document"]["size"] == LIMIT


def test_body_over_the_limit_is_refused_before_it_is_read(small: Env) -> None:
    """Content-Length above the JSON limit: 413 on any route, authenticated or not."""
    big = b'{"x": "' + b"z" * (LIMIT + 1) + b'"}'
    with small.nothing_changes():
        for path, key in (
            ("/v1/loans", small["p1"].key),
            ("/v1/loans/batch", small["p1"].key),
            ("/v1/participants", small.regulator_key),
            ("/v1/verify", None),
        ):
            r = small.http.post(
                path, content=big, headers={**auth(key), "Content-Type": "application/json"}
            )
            assert r.status_code == 413, (path, r.text)
            assert error_code(r) == "PAYLOAD_TOO_LARGE"


def test_verify_document_over_the_limit_is_413(small: Env) -> None:
    r = small.http.post(
        "/v1/verify",
        files={"receipt": (None, "{}"), "document": ("big.pdf", b"q" * (LIMIT + 1))},
    )
    assert r.status_code == 413, r.text
    assert error_code(r) == "PAYLOAD_TOO_LARGE"


def test_chunked_body_over_the_limit_is_413(small: Env) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"x": "'
        for _ in range(24):
            yield b"z" * 100 * 1024  # 2.4 MB in all, no Content-Length
        yield b'"}'

    with small.nothing_changes():
        r = small.http.post(
            "/v1/loans",
            content=chunks(),
            headers={**auth(small["p1"].key), "Content-Type": "application/json"},
        )
        assert r.request.headers.get("transfer-encoding") == "chunked"
        assert r.status_code == 413, r.text
        assert error_code(r) == "PAYLOAD_TOO_LARGE"


def test_oversized_submission_field_is_413(small: Env) -> None:
    body, doc = small.loan_json()
    text = json.dumps(body) + " " * (2 * LIMIT)  # still valid JSON
    with small.nothing_changes():
        r = small.http.post(
            "/v1/loans",
            files={"submission": (None, text), "agreement": ("a.pdf", doc)},
            headers=auth(small["p1"].key),
        )
        assert r.status_code == 413, r.text
        assert error_code(r) == "PAYLOAD_TOO_LARGE"


# ---------------------------------------------------------------------- batches of 10,000+


def test_loan_batch_over_10000_is_refused(env: Env) -> None:
    body, _ = env.loan_json()
    with env.nothing_changes():
        r = env.http.post(
            "/v1/loans/batch",
            json={"loans": [body] * (MAX_BATCH_SUBMISSION + 1)},
            headers=auth(env["p1"].key),
        )
        assert r.status_code == 422, r.text[:500]
        assert error_code(r) in ("BATCH_TOO_LARGE", "INVALID_INPUT")
        assert "10000" in r.json()["error"]["message"].replace(",", "")


def test_confirm_batch_over_10000_is_refused(env: Env) -> None:
    record_id = env.submit(env["p1"]).json()["record_id"]
    with env.nothing_changes():
        r = env.http.post(
            "/v1/loans/confirm-batch",
            json={"record_ids": [record_id] * (MAX_BATCH_SUBMISSION + 1)},
            headers=auth(env["bank1"].key),
        )
        assert r.status_code == 422, r.text[:500]
        assert error_code(r) in ("BATCH_TOO_LARGE", "INVALID_INPUT")
    assert env.status(record_id)["status"] == "awaiting_funder"
