"""Borrower commitments that open before a court (issue 14, item 3): the gateway makes each
commitment under a fresh key and salt of its own, sealed in the vault; the platform (for its
borrower) and the regulator fetch them; anyone checks an identity against the commitment, and
only the right identity, key and salt open it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from ledger.canonical import borrower_commitment
from ledger.cli import app
from ledger.commitments import Opening, check_opening
from ledger.store import RecordSecretRow, SubmissionRow
from tests.api.conftest import Env, auth, refused

ID_NUMBER = "11010519491231002X"


def opening_of(env: Env, record_id: str, key: str) -> dict[str, Any]:
    r = env.http.get(f"/v1/loans/{record_id}/borrower-opening", headers=auth(key))
    assert r.status_code == 200, r.text
    return dict(r.json())


def check(env: Env, commitment: str, **opening: str) -> Any:
    return env.http.post(
        "/v1/verify/commitment", json={"commitment": commitment, "opening": opening}
    )


def test_the_right_identity_key_and_salt_open_the_commitment(env: Env) -> None:
    record_id = env.anchored_loan(borrower_id=ID_NUMBER)
    secret = opening_of(env, record_id, env["p1"].key)
    assert secret == opening_of(env, record_id, env.regulator_key)  # the regulator too
    receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env["p1"].key)).json()
    commitment = receipt["record"]["borrower_commitment"]
    assert secret["commitment"] == commitment and secret["scheme"] == "hmac-sha256/v1"
    right = {"id_type": "resident-id", "id_number": ID_NUMBER, "key": secret["key"]}
    r = check(env, commitment, **right, salt=secret["salt"])
    assert r.status_code == 200 and r.json()["opens"] is True, r.text
    # the identity as people type it: full-width digits, a lower-case check letter, spaces
    typed = "１１０１０５ １９４９１２３１００２x"
    assert check(env, commitment, **{**right, "id_number": typed}, salt=secret["salt"]).json()[
        "opens"
    ]
    flipped_salt = secret["salt"][:-1] + ("0" if secret["salt"][-1] != "0" else "1")
    wrong: list[dict[str, str]] = [
        {**right, "id_number": "110105194912310029", "salt": secret["salt"]},
        {**right, "id_type": "passport", "salt": secret["salt"]},
        {**right, "salt": flipped_salt},
        {**right, "key": "0x" + "11" * 32, "salt": secret["salt"]},
    ]
    for opening in wrong:
        r = check(env, commitment, **opening)
        refused(r, "COMMITMENT_MISMATCH")
        assert r.json()["error"]["check"] == "borrower_commitment"


def test_each_record_has_its_own_key_so_one_opening_reveals_no_other(env: Env) -> None:
    first = env.anchored_loan(borrower_id=ID_NUMBER)
    second = env.anchored_loan(borrower_id=ID_NUMBER)
    a, b = opening_of(env, first, env["p1"].key), opening_of(env, second, env["p1"].key)
    assert a["commitment"] != b["commitment"]
    assert a["key"] != b["key"] and a["salt"] != b["salt"]
    # the first record's key and salt do not open the second record's commitment
    opening = Opening(id_type="resident-id", id_number=ID_NUMBER, key=a["key"], salt=a["salt"])
    check_opening(a["commitment"], opening)
    refused(check(env, b["commitment"], **opening.model_dump()), "COMMITMENT_MISMATCH")


def test_who_may_fetch_an_opening(env: Env) -> None:
    record_id = env.anchored_loan(borrower_id=ID_NUMBER)
    url = f"/v1/loans/{record_id}/borrower-opening"
    refused(env.http.get(url, headers=auth(env["bank1"].key)), "OPENING_FORBIDDEN", 403)
    refused(env.http.get(url, headers=auth(env["p2"].key)), "RECORD_NOT_FOUND", 404)
    refused(env.http.get(url), "UNAUTHENTICATED", 401)
    unknown = "/v1/loans/0x" + "ab" * 32 + "/borrower-opening"
    refused(env.http.get(unknown, headers=auth(env.regulator_key)), "RECORD_NOT_FOUND", 404)


def test_a_commitment_the_platform_made_is_not_held(env: Env) -> None:
    key, salt = b"k" * 32, b"s" * 16
    made = "0x" + borrower_commitment(key, "resident-id", ID_NUMBER, salt).hex()
    body, _ = env.loan_json(borrower_id=None, borrower_commitment=made, issued_at=env.now())
    r = env.post_loan(env["p1"].key, body)
    assert r.status_code == 202, r.text
    record_id = r.json()["record_id"]
    url = f"/v1/loans/{record_id}/borrower-opening"
    refused(env.http.get(url, headers=auth(env["p1"].key)), "OPENING_NOT_HELD", 404)
    # the platform holds its own key and salt and opens it with the same check
    opening = {"id_type": "resident-id", "id_number": ID_NUMBER}
    r = check(env, made, **opening, key="0x" + key.hex(), salt="0x" + salt.hex())
    assert r.status_code == 200, r.text


def test_the_vault_holds_the_secret_sealed_and_erasure_destroys_it(env: Env) -> None:
    record_id = env.anchored_loan(borrower_id=ID_NUMBER)
    secret = opening_of(env, record_id, env["p1"].key)
    service = env.gw.service
    with service.db.session() as s:
        row = s.get(RecordSecretRow, record_id)
        assert row is not None and row.borrower_salt is not None
        sealed = bytes(row.borrower_salt)
        stored = s.execute(
            select(SubmissionRow.record_json, SubmissionRow.provenance_json).where(
                SubmissionRow.record_id == record_id
            )
        ).one()
    for clear in (bytes.fromhex(secret["key"][2:]), bytes.fromhex(secret["salt"][2:])):
        assert clear not in sealed
    assert ID_NUMBER not in "".join(stored) and ID_NUMBER.encode() not in sealed
    with service.db.session() as s:
        service.secrets.shred(s, record_id, time.time())
    url = f"/v1/loans/{record_id}/borrower-opening"
    refused(env.http.get(url, headers=auth(env["p1"].key)), "OPENING_ERASED", 410)
    with service.db.session() as s:
        row = s.get(RecordSecretRow, record_id)
        assert row is not None and row.borrower_salt is None and row.shredded_at is not None


def test_malformed_checks_are_refused(env: Env) -> None:
    commitment = "0x" + "00" * 32
    good = {"id_type": "resident-id", "id_number": ID_NUMBER, "key": "0x" + "11" * 32}
    refused(check(env, commitment, **good, salt="0x12"), "INVALID_INPUT")
    refused(check(env, "0x1234", **good, salt="0x" + "22" * 16), "INVALID_INPUT")
    r = env.http.post(
        "/v1/verify/commitment", content=b"{", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422, r.text


def test_the_cli_checks_an_opening_against_a_receipt(env: Env, tmp_path: Path) -> None:
    record_id = env.anchored_loan(borrower_id=ID_NUMBER)
    secret = opening_of(env, record_id, env["p1"].key)
    receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env["p1"].key))
    path = tmp_path / "receipt.json"
    path.write_text(receipt.text, encoding="utf-8")
    args = ["commitment", "check", str(path), "--key", secret["key"], "--salt", secret["salt"]]
    runner = CliRunner()
    opened = runner.invoke(app, [*args, "--id-number", ID_NUMBER])
    assert opened.exit_code == 0, opened.output
    assert secret["commitment"] in opened.output
    wrong = runner.invoke(app, [*args, "--id-number", "110105194912310029"])
    assert wrong.exit_code == 1 and "COMMITMENT_MISMATCH" in wrong.output
    bad = runner.invoke(app, [*args[:-2], "--salt", "0x12", "--id-number", ID_NUMBER])
    assert bad.exit_code == 2 and "INVALID_INPUT" in bad.output
