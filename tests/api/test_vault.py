"""The document vault over HTTP: who reads a loan's agreement (parties, regulator, auditors with
a live grant), the grant lifecycle, the evidence log, and erasure by crypto-shredding."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from ledger.errors import DocumentErased
from ledger.store import DocumentChunkRow, DocumentRow, RecordSecretRow
from ledger.vault import CHUNK_SIZE, document_stream, erasure_of, evidence_log_of
from tests.api.conftest import Env, Party, auth, refused


def _loan_with_document(
    env: Env, document: bytes, platform: str = "p1", funder: str = "bank1", **fields: Any
) -> str:
    body, _ = env.loan_json(funder=env[funder], document=document, **fields)
    r = env.post_loan(env[platform].key, body, document)
    assert r.status_code == 202, r.text
    record_id = str(r.json()["record_id"])
    c = env.confirm(env[funder], record_id)
    assert c.status_code == 200, c.text
    return record_id


@pytest.fixture(scope="module")
def doc_loan(env: Env) -> tuple[str, bytes]:
    """p1 -> bank1, guarantor g1, co-funder bank2, with a 2.5-chunk agreement; anchored."""
    document = b"%PDF-1.7 " + secrets.token_bytes(CHUNK_SIZE * 2 + CHUNK_SIZE // 2)
    record_id = _loan_with_document(
        env,
        document,
        guarantor_id=env["g1"].id,
        co_funder_id=env["bank2"].id,
        co_funder_share_bps=4000,
    )
    env.gw.service.anchor_pending()
    return record_id, document


def _grant(env: Env, grantor: Party, record_ids: list[str], **window: int) -> Any:
    now = int(time.time())
    body = {
        "auditor_id": env["auditor"].id,
        "record_ids": record_ids,
        "valid_from": window.get("valid_from", now - 10),
        "valid_until": window.get("valid_until", now + 3600),
    }
    return env.http.post("/v1/grants", json=body, headers=auth(grantor.key))


READERS = {"regulator": True, "p1": True, "bank1": True, "bank2": True, "g1": True}
OTHERS = ["p2", "p3", "cf", "g2"]


@pytest.mark.parametrize("who", [*READERS, *OTHERS])
def test_who_reads_the_document(env: Env, doc_loan: tuple[str, bytes], who: str) -> None:
    record_id, document = doc_loan
    r = env.http.get(f"/v1/loans/{record_id}/document", headers=auth(env[who].key))
    if who in READERS:
        assert r.status_code == 200, r.text
        assert r.content == document
        assert r.headers["content-type"] == "application/pdf"
        assert r.headers["content-length"] == str(len(document))
        assert r.headers["x-document-sha256"] == "0x" + hashlib.sha256(document).hexdigest()
    else:
        refused(r, "DOCUMENT_FORBIDDEN", 403)


def test_documents_are_stored_as_chunks_and_unknown_or_missing_ones_are_404(
    env: Env, doc_loan: tuple[str, bytes]
) -> None:
    _, document = doc_loan
    digest = "0x" + hashlib.sha256(document).hexdigest()
    with env.gw.service.db.session() as s:
        row = s.get(DocumentRow, digest)
        assert row is not None and row.ciphertext is None and row.chunk_count == 3
        chunks = s.scalars(
            select(DocumentChunkRow.ciphertext).where(DocumentChunkRow.sha256 == digest)
        ).all()
        assert len(chunks) == 3 and all(document[9:100] not in c for c in chunks)
    key = auth(env.regulator_key)
    refused(env.http.get(f"/v1/loans/0x{'ab' * 32}/document", headers=key), "RECORD_NOT_FOUND", 404)
    plain = env.queued_loan()  # JSON only: no document
    refused(env.http.get(f"/v1/loans/{plain}/document", headers=key), "DOCUMENT_NOT_FOUND", 404)
    refused(env.http.get("/v1/loans/0x12/document", headers=key), "INVALID_INPUT", 422)


def test_an_auditor_reads_only_with_a_live_grant_covering_the_loan(
    env: Env, doc_loan: tuple[str, bytes]
) -> None:
    record_id, document = doc_loan
    auditor = auth(env["auditor"].key)
    url = f"/v1/loans/{record_id}/document"
    refused(env.http.get(url, headers=auditor), "GRANT_REQUIRED", 403)
    other = env.queued_loan()
    g = _grant(env, env["bank1"], [other])  # live, but for another loan
    assert g.status_code == 201, g.text
    refused(env.http.get(url, headers=auditor), "GRANT_REQUIRED", 403)
    later = _grant(env, env["bank1"], [record_id], valid_from=int(time.time()) + 3000)
    assert later.status_code == 201, later.text
    refused(env.http.get(url, headers=auditor), "GRANT_REQUIRED", 403)  # not yet valid
    short = _grant(env, env["bank1"], [record_id], valid_until=int(time.time()) + 2)
    assert short.status_code == 201, short.text
    r = env.http.get(url, headers=auditor)
    assert r.status_code == 200 and r.content == document
    time.sleep(2.2)
    refused(env.http.get(url, headers=auditor), "GRANT_REQUIRED", 403)  # expired
    live = _grant(env, env.parties["regulator"], [record_id]).json()
    assert env.http.get(url, headers=auditor).status_code == 200
    gone = env.http.delete(f"/v1/grants/{live['id']}", headers=auth(env.regulator_key))
    assert gone.status_code == 200 and gone.json()["revoked_at"] is not None
    refused(env.http.get(url, headers=auditor), "GRANT_REQUIRED", 403)  # revoked


def test_grant_lifecycle_and_refusals(env: Env, doc_loan: tuple[str, bytes]) -> None:
    record_id, _ = doc_loan
    foreign = env.queued_loan(env["p1"], env["cf"])
    with env.nothing_changes():
        refused(_grant(env, env["p1"], [record_id]), "ROLE_FORBIDDEN", 403)
        refused(_grant(env, env["auditor"], [record_id]), "ROLE_FORBIDDEN", 403)
        refused(_grant(env, env["bank1"], [foreign]), "GRANT_LOAN_FOREIGN", 403)
        refused(_grant(env, env["bank1"], [f"0x{'cd' * 32}"]), "RECORD_NOT_FOUND", 404)
        now = int(time.time())
        refused(
            _grant(env, env["bank1"], [record_id], valid_from=now + 10, valid_until=now + 5),
            "GRANT_WINDOW_INVALID",
        )
        refused(_grant(env, env["bank1"], []), "INVALID_INPUT")
        refused(_grant(env, env["bank1"], [record_id], valid_until=10), "TIME_OUT_OF_RANGE")
        bad = {"auditor_id": env["p2"].id, "record_ids": [record_id]}
        r = env.http.post(
            "/v1/grants",
            json={**bad, "valid_from": now, "valid_until": now + 60},
            headers=auth(env["bank1"].key),
        )
        refused(r, "GRANTEE_NOT_AUDITOR")
    made = _grant(env, env["bank2"], [record_id])  # the co-funder may grant too
    assert made.status_code == 201, made.text
    grant = made.json()
    assert grant["grantor_id"] == env["bank2"].id and grant["record_ids"] == [record_id]
    mine = env.http.get("/v1/grants", headers=auth(env["bank2"].key)).json()["grants"]
    assert grant["id"] in [g["id"] for g in mine]
    theirs = env.http.get("/v1/grants", headers=auth(env["auditor"].key)).json()["grants"]
    assert grant["id"] in [g["id"] for g in theirs]
    others = env.http.get("/v1/grants", headers=auth(env["bank1"].key)).json()["grants"]
    assert grant["id"] not in [g["id"] for g in others]
    refused(env.http.get("/v1/grants", headers=auth(env["p1"].key)), "ROLE_FORBIDDEN", 403)
    url = f"/v1/grants/{grant['id']}"
    refused(env.http.delete(url, headers=auth(env["bank1"].key)), "GRANT_NOT_YOURS", 403)
    assert env.http.delete(url, headers=auth(env["bank2"].key)).status_code == 200
    refused(env.http.delete(url, headers=auth(env["bank2"].key)), "GRANT_ALREADY_REVOKED", 409)
    refused(
        env.http.delete("/v1/grants/999999", headers=auth(env["bank2"].key)), "GRANT_NOT_FOUND", 404
    )
    with env.gw.service.db.session() as s:
        kinds = [(e.kind, e.actor_id) for e in evidence_log_of(s, record_id)]
    assert ("grant_created", env["bank2"].id) in kinds
    assert ("grant_revoked", env["bank2"].id) in kinds


def test_reads_are_logged_without_personal_data(env: Env, doc_loan: tuple[str, bytes]) -> None:
    record_id, document = doc_loan
    before = len(
        env.http.get(f"/v1/loans/{record_id}/evidence-log", headers=auth(env.regulator_key)).json()[
            "entries"
        ]
    )
    assert (
        env.http.get(f"/v1/loans/{record_id}/document", headers=auth(env["g1"].key)).status_code
        == 200
    )
    log = env.http.get(f"/v1/loans/{record_id}/evidence-log", headers=auth(env["p1"].key))
    assert log.status_code == 200, log.text
    entries = log.json()["entries"]
    assert len(entries) == before + 1
    last = entries[-1]
    assert (last["kind"], last["actor_id"], last["actor_role"]) == (
        "document_read",
        env["g1"].id,
        "credit_enhancer",
    )
    assert last["details"] == {"sha256": "0x" + hashlib.sha256(document).hexdigest()}
    assert last["entry_digest"].startswith("0x") and len(last["entry_digest"]) == 66
    assert "110101199003070000" not in log.text
    refused(
        env.http.get(f"/v1/loans/{record_id}/evidence-log", headers=auth(env["p2"].key)),
        "RECORD_NOT_FOUND",
        404,
    )


def _erasure(env: Env, who: str, record_id: str) -> Any:
    body = {"reason": "borrower asked (PIPL art. 47)", "reference": "REQ-2026-0042"}
    return env.http.post(f"/v1/loans/{record_id}/erasure", json=body, headers=auth(env[who].key))


def test_erasure_requested_approved_and_shredded(env: Env) -> None:
    document = b"%PDF-1.7 shred me " + secrets.token_bytes(CHUNK_SIZE + 10)
    record_id = _loan_with_document(env, document)
    env.gw.service.anchor_pending()
    digest = "0x" + hashlib.sha256(document).hexdigest()
    approve = f"/v1/loans/{record_id}/erasure/approval"
    with env.nothing_changes():
        refused(
            env.http.post(approve, headers=auth(env["bank1"].key)), "ERASURE_NOT_REQUESTED", 409
        )
        refused(_erasure(env, "p2", record_id), "ERASURE_FORBIDDEN", 403)
        refused(_erasure(env, "bank1", record_id), "ERASURE_FORBIDDEN", 403)
    asked = _erasure(env, "p1", record_id)
    assert asked.status_code == 200, asked.text
    assert asked.json()["erasure"]["executed_at"] is None
    refused(_erasure(env, "p1", record_id), "ERASURE_ALREADY_REQUESTED", 409)
    refused(env.http.post(approve, headers=auth(env["p1"].key)), "ERASURE_FORBIDDEN", 403)
    # still readable until the funder approves
    assert (
        env.http.get(f"/v1/loans/{record_id}/document", headers=auth(env["p1"].key)).status_code
        == 200
    )
    done = env.http.post(approve, headers=auth(env["bank1"].key))
    assert done.status_code == 200, done.text
    erasure = done.json()["erasure"]
    assert erasure["requested_by"] == env["p1"].id and erasure["approved_by"] == env["bank1"].id
    assert erasure["executed_at"] is not None and erasure["reference"] == "REQ-2026-0042"
    refused(env.http.post(approve, headers=auth(env["bank1"].key)), "ERASURE_ALREADY_EXECUTED", 409)
    refused(_erasure(env, "regulator", record_id), "ERASURE_ALREADY_EXECUTED", 409)
    refused(
        env.http.get(f"/v1/loans/{record_id}/document", headers=auth(env["p1"].key)),
        "DOCUMENT_ERASED",
        410,
    )
    shown = env.http.get(f"/v1/loans/{record_id}/erasure", headers=auth(env["bank1"].key))
    assert shown.json()["erasure"] == erasure
    assert env.status(record_id)["erasure"] == erasure
    assert env.status(record_id)["status"] == "anchored"
    with env.gw.service.db.session() as s:
        row = s.get(DocumentRow, digest)
        assert row is not None and row.wrapped_key is None and row.shredded_at is not None
        count = (
            select(func.count())
            .select_from(DocumentChunkRow)
            .where(DocumentChunkRow.sha256 == digest)
        )
        assert s.execute(count).scalar_one() == 0
        secrets_row = s.get(RecordSecretRow, record_id)
        assert secrets_row is not None and secrets_row.shredded_at is not None
        assert secrets_row.borrower_salt is None and secrets_row.disclosure_seed is None
        assert erasure_of(s, record_id) is not None
        kinds = [e.kind for e in evidence_log_of(s, record_id)]
    assert kinds[-3:] == ["erasure_requested", "document_read", "erasure_executed"]
    with pytest.raises(DocumentErased):
        document_stream(env.gw.service.db, digest, env.gw.service.custody.master_key)
    receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env.regulator_key))
    report = env.http.post("/v1/verify", json={"receipt": receipt.json()}).json()
    assert report["ok"] is True, report
    # the served receipt says the document was erased, when and on whose request (a hint no
    # signature covers: the report lists it as unverified); its signed parts are unchanged
    unsigned = receipt.json()["unsigned"]
    assert unsigned["document_location"] is None
    assert unsigned["document_erased"] == {
        "erased_at": erasure["executed_at"],
        "requested_by": env["p1"].id,
        "approved_by": env["bank1"].id,
        "ordered_by": None,
    }
    assert "unsigned.document_erased.erased_at" in report["unverified"]
    many = env.http.post(
        "/v1/loans/receipts", json={"record_ids": [record_id]}, headers=auth(env["p1"].key)
    )
    assert many.status_code == 200, many.text
    assert record_id in many.text and '"document_erased"' in many.text


def test_the_regulator_orders_erasure_at_once(env: Env) -> None:
    document = b"%PDF-1.7 ordered " + secrets.token_bytes(64)
    record_id = _loan_with_document(env, document, platform="p2")
    r = _erasure(env, "regulator", record_id)
    assert r.status_code == 200, r.text
    erasure = r.json()["erasure"]
    assert erasure["ordered_by"] == 1 and erasure["executed_at"] is not None
    refused(
        env.http.get(f"/v1/loans/{record_id}/document", headers=auth(env["p2"].key)),
        "DOCUMENT_ERASED",
        410,
    )
    refused(_erasure(env, "p2", record_id), "ERASURE_ALREADY_EXECUTED", 409)


def test_every_vault_code_is_in_the_table_with_its_status() -> None:
    import re
    from pathlib import Path

    from ledger.codes import VAULT_CODES

    raised = set()
    for path in Path("ledger/vault").glob("*.py"):
        raised |= set(re.findall(r'code="([A-Z_]+)"', path.read_text()))
    raised -= {"INVALID_INPUT", "TEXT_TOO_LONG", "ROLE_FORBIDDEN", "RECORD_NOT_FOUND"}
    raised -= {"DOCUMENT_DIGEST_MISMATCH"}  # intake's code, for a file changed while stored
    raised |= {"DOCUMENT_ERASED"}  # the class default of DocumentErased
    assert raised == set(VAULT_CODES)


def test_an_entry_digest_is_keccak_of_its_rfc8785_json(
    env: Env, doc_loan: tuple[str, bytes]
) -> None:
    from ledger.canonical import canonical_json
    from ledger.merkle import to_hex
    from ledger.merkle.keccak import keccak256

    record_id, _ = doc_loan
    with env.gw.service.db.session() as s:
        entries = evidence_log_of(s, record_id)
    assert entries
    for e in entries:
        body = {
            "v": 1,
            "kind": e.kind,
            "record_id": e.record_id,
            "actor_id": e.actor_id,
            "actor_role": e.actor_role,
            "at": e.at,
            "details": e.details,
        }
        assert e.entry_digest == to_hex(keccak256(canonical_json(body)))


def test_the_evidence_log_is_anchored_on_chain_with_proofs(
    env: Env, doc_loan: tuple[str, bytes]
) -> None:
    """Every entry ends up in a batch anchored with anchorEvidenceLog; its leaf (entry id,
    digest) proves against the root the contract holds, with OpenZeppelin's processProof."""
    from ledger.merkle import StandardMerkleTree, process_proof

    record_id, _ = doc_loan
    service = env.gw.service
    assert (
        env.http.get(f"/v1/loans/{record_id}/document", headers=auth(env["p1"].key)).status_code
        == 200
    )
    assert service.anchor_evidence_log() > 0
    assert service.anchor_evidence_log() == 0  # nothing left, nothing sent twice
    log = env.http.get(f"/v1/loans/{record_id}/evidence-log", headers=auth(env.regulator_key))
    entries = log.json()["entries"]
    assert entries and all(e["anchor"] is not None for e in entries), log.text
    encoding = ["uint256", "bytes32"]
    for e in entries:
        anchor = e["anchor"]
        leaf = StandardMerkleTree.of(
            [[anchor["entry_id"], bytes.fromhex(e["entry_digest"][2:])]], encoding
        ).leaf_hash([anchor["entry_id"], bytes.fromhex(e["entry_digest"][2:])])
        root = bytes.fromhex(anchor["root"][2:])
        assert process_proof(leaf, [bytes.fromhex(p[2:]) for p in anchor["proof"]]) == root
        with service.chain_lock:
            on_chain = service.chain.ledger.functions.evidenceLog(root).call()
        assert on_chain[0] == service.identity.participant_id
        assert (on_chain[2], on_chain[1]) == (anchor["block_number"], anchor["block_time"])
    # a tampered entry does not prove
    first = entries[0]
    forged = bytes.fromhex(first["entry_digest"][2:])[::-1]
    leaf = StandardMerkleTree.of([[first["anchor"]["entry_id"], forged]], encoding).leaf_hash(
        [first["anchor"]["entry_id"], forged]
    )
    proof = [bytes.fromhex(p[2:]) for p in first["anchor"]["proof"]]
    assert process_proof(leaf, proof) != bytes.fromhex(first["anchor"]["root"][2:])
