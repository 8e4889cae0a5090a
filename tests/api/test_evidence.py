"""`GET /v1/loans/{id}/evidence`: who may export a record's evidence package, what it holds, that
it verifies against the chain and that tampering is named; the certificate's PDF renders its
Chinese."""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import zipfile
from html import escape
from typing import Any

import pypdfium2
import pytest

from ledger.evidence import PACKAGE_CHECKS, read_package, verify_package
from ledger.evidence.certificate import TITLE_ZH
from ledger.evidence.model import MANIFEST
from ledger.evidence.pdf import render_pdf
from ledger.store import DocumentRow
from ledger.vault import evidence_log_of
from ledger.verify import CHECK_NAMES
from ledger.verify.explanations import CHECK_EXPLANATIONS
from tests.api.conftest import Env, auth, refused
from tests.tampering import rezip


@pytest.fixture(scope="module")
def anchored(env: Env) -> tuple[str, bytes]:
    """A record of p1 and bank1, submitted with its agreement, anchored: (record id, document)."""
    body, document = env.loan_json()
    r = env.post_loan(env["p1"].key, body, document)
    assert r.status_code == 202, r.text
    record_id = str(r.json()["record_id"])
    assert env.confirm(env["bank1"], record_id).status_code == 200
    env.gw.service.anchor_pending()
    return record_id, document


def _export(env: Env, record_id: str, key: str) -> Any:
    return env.http.get(f"/v1/loans/{record_id}/evidence", headers=auth(key))


def test_the_parties_and_the_regulator_export_and_others_are_refused(
    env: Env, anchored: tuple[str, bytes]
) -> None:
    record_id, _ = anchored
    for key in (env["p1"].key, env["bank1"].key, env.regulator_key):
        r = _export(env, record_id, key)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/zip"
        assert "attachment" in r.headers["content-disposition"]
    # an auditor exports only with a live grant covering the loan
    refused(_export(env, record_id, env["auditor"].key), "GRANT_REQUIRED", 403)
    now = int(time.time())
    grant = {
        "auditor_id": env["auditor"].id,
        "record_ids": [record_id],
        "valid_from": now - 10,
        "valid_until": now + 3600,
    }
    assert env.http.post("/v1/grants", json=grant, headers=auth(env.regulator_key)).is_success
    assert _export(env, record_id, env["auditor"].key).status_code == 200
    # a party of other loans is told what every loan route tells it: no such record
    refused(_export(env, record_id, env["p2"].key), "RECORD_NOT_FOUND", 404)
    refused(_export(env, record_id, env["bank2"].key), "RECORD_NOT_FOUND", 404)
    refused(_export(env, "0x" + "ab" * 32, env.regulator_key), "RECORD_NOT_FOUND", 404)
    r = env.http.get(f"/v1/loans/{record_id}/evidence")
    assert r.status_code == 401, r.text
    refused(_export(env, "0x1234", env.regulator_key), "INVALID_INPUT", 422)


def test_a_record_not_yet_anchored_has_no_package(env: Env) -> None:
    record_id = env.queued_loan()
    refused(_export(env, record_id, env.regulator_key), "NOT_ANCHORED", 409)
    env.gw.service.anchor_pending()


def test_the_package_holds_everything_and_verifies(env: Env, anchored: tuple[str, bytes]) -> None:
    record_id, document = anchored
    started = time.perf_counter()
    r = _export(env, record_id, env["bank1"].key)
    seconds = time.perf_counter() - started
    assert r.status_code == 200, r.text
    package = read_package(r.content)
    m = package.manifest
    assert m.format == "evidence-package/v1" and m.record_id == record_id
    names = {member.name for member in m.members}
    assert names == {
        "receipt.json",
        "report.json",
        "evidence.json",
        "trust-root.json",
        "certificate.html",
        "certificate.pdf",
        "HOW-TO-VERIFY.txt",
        "vault.json",
        "document/agreement.pdf",
    }
    assert package.files["document/agreement.pdf"] == document
    assert m.document.status == "included" and not m.sections_not_included
    report = json.loads(package.files["report.json"])
    assert report["ok"] and [c["name"] for c in report["checks"]] == list(CHECK_NAMES)
    assert {c["name"]: c["status"] for c in report["checks"]}["document"] == "pass"
    facts = json.loads(package.files["evidence.json"])
    service = env.gw.service
    assert facts["chain"]["chain_id"] == service.deployment.chain_id
    assert facts["trust_root"] == service.trust_root.model_dump(mode="json")
    signers = {s["participant_id"]: s for s in facts["signers"]}
    assert set(signers) == {env["p1"].id, env["bank1"].id}
    for s in signers.values():
        assert s["registered_signer"] == s["signer"] and s["epoch_valid_from"] is not None
    assert signers[env["bank1"].id]["name"] == "BANK1"
    prov = facts["provenance"]
    assert prov["submitted_by"] == env["p1"].id and prov["gateway_id"] == service.gateway_id
    assert prov["borrower_reading_seconds"] > 0 and prov["borrower_confirmation_method"]
    assert facts["history"] == []
    html = package.files["certificate.html"].decode()
    for name in CHECK_NAMES:  # every check, in both languages, from the shared table
        words = CHECK_EXPLANATIONS[name]
        assert escape(words.zh) in html and escape(words.en) in html
    for article in ("第十六条", "第十七条", "第十八条", "verifyInclusion"):
        assert article in html
    verified = verify_package(r.content, service.client)
    assert verified.ok, verified.as_dict()
    with service.db.session() as s:  # the export is in the vault's evidence log
        exports = [e for e in evidence_log_of(s, record_id) if e.kind == "evidence_export"]
    assert exports and exports[-1].actor_id == env["bank1"].id
    assert exports[-1].details["package_sha256"] == "0x" + hashlib.sha256(r.content).hexdigest()
    assert [c.name for c in verified.checks] == list(PACKAGE_CHECKS)
    print(f"package {len(r.content):,} bytes, exported in {seconds:.2f} s")


def test_tampering_is_named(env: Env, anchored: tuple[str, bytes]) -> None:
    record_id, document = anchored
    data = _export(env, record_id, env.regulator_key).content
    client = env.gw.service.client
    forged_doc = rezip(data, {"document/agreement.pdf": document + b"!"})
    failed = verify_package(forged_doc, client).failed
    assert "package_members" in failed and "document" in failed
    receipt = json.loads(read_package(data).files["receipt.json"])
    receipt["record"]["principal"] += 1
    forged_receipt = rezip(data, {"receipt.json": json.dumps(receipt).encode()})
    assert "package_members" in verify_package(forged_receipt, client).failed
    manifest = json.loads(_manifest(data))
    manifest["exported_at"] += 1
    forged_manifest = rezip(data, {MANIFEST: json.dumps(manifest).encode()})
    assert verify_package(forged_manifest, client).failed == ["package_signature"]
    assert verify_package(b"not a zip", client).failed == ["package_format"]


def _manifest(data: bytes) -> bytes:
    return zipfile.ZipFile(io.BytesIO(data)).read(MANIFEST)


def test_an_erased_document_is_said_so_and_the_rest_verifies(env: Env) -> None:
    body, _ = env.loan_json()
    document = b"%PDF-1.7 to be erased"
    body["agreement_sha256"] = hashlib.sha256(document).hexdigest()
    r = env.post_loan(env["p1"].key, body, document)
    assert r.status_code == 202, r.text
    record_id = str(r.json()["record_id"])
    assert env.confirm(env["bank1"], record_id).status_code == 200
    env.gw.service.anchor_pending()
    with env.gw.service.db.session() as s:  # what crypto-shredding leaves of a document
        row = s.get(DocumentRow, "0x" + body["agreement_sha256"])
        assert row is not None
        row.ciphertext, row.wrapped_key, row.shredded_at = None, None, time.time()
    data = _export(env, record_id, env.regulator_key).content
    package = read_package(data)
    assert package.manifest.document.status == "erased"
    assert not any(name.startswith("document/") for name in package.files)
    assert "已依法删除" in package.files["certificate.html"].decode()
    assert verify_package(data, env.gw.service.client).ok


def _ink(pdf: bytes) -> tuple[float, str]:
    """Page 1 as pixels: the share that is not white, and its text."""
    page = pypdfium2.PdfDocument(pdf)[0]
    image = page.render(scale=1).to_pil().convert("L")
    dark = sum(image.histogram()[:200])
    return dark / (image.width * image.height), page.get_textpage().get_text_range()


def test_the_certificate_pdf_renders_its_chinese(env: Env, anchored: tuple[str, bytes]) -> None:
    record_id, _ = anchored
    package = read_package(_export(env, record_id, env.regulator_key).content)
    pdf = package.files["certificate.pdf"]
    assert pdf.startswith(b"%PDF")
    ink, text = _ink(pdf)
    assert ink > 0.03, ink  # a page of text, not a blank one
    assert TITLE_ZH in text and "Evidence Verification Certificate" in text
    html = package.files["certificate.html"].decode()
    latin_only = re.sub(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]", "", html)
    started = time.perf_counter()
    ink_latin, text_latin = _ink(render_pdf(latin_only))
    print(f"certificate PDF rendered in {time.perf_counter() - started:.2f} s")
    assert TITLE_ZH not in text_latin
    assert ink > ink_latin * 1.1, (ink, ink_latin)  # the Chinese glyphs are drawn


def test_a_revocation_is_in_the_history_and_fails_the_status_check(env: Env) -> None:
    record_id = env.anchored_loan()
    r = env.http.post(
        f"/v1/loans/{record_id}/revoke", json={"reason_code": 1}, headers=auth(env.regulator_key)
    )
    assert r.status_code == 200, r.text
    data = _export(env, record_id, env.regulator_key).content
    package = read_package(data)
    history = json.loads(package.files["evidence.json"])["history"]
    assert [(h["event"], h["record_id"], h["reason_code"]) for h in history] == [
        ("revoked", record_id, 1)
    ]
    assert "已撤销" in package.files["certificate.html"].decode()
    assert json.loads(package.files["report.json"])["ok"] is False
    assert verify_package(data, env.gw.service.client).failed == ["status"]


def test_the_package_carries_the_anchored_vault_log_and_the_erasure(env: Env) -> None:
    """Reads, grants and the erasure, each with its anchor on chain; the erased document is
    said so, its receipt still verifies."""
    from ledger.merkle import StandardMerkleTree, process_proof

    body, document = env.loan_json()
    r = env.post_loan(env["p1"].key, body, document)
    assert r.status_code == 202, r.text
    record_id = str(r.json()["record_id"])
    assert env.confirm(env["bank1"], record_id).status_code == 200
    service = env.gw.service
    service.anchor_pending()
    assert env.http.get(f"/v1/loans/{record_id}/document", headers=auth(env["p1"].key)).is_success
    erase = {"reason": "borrower asked (PIPL art. 47)", "reference": "REQ-7"}
    r = env.http.post(f"/v1/loans/{record_id}/erasure", json=erase, headers=auth(env.regulator_key))
    assert r.status_code == 200, r.text
    assert service.anchor_evidence_log() > 0
    data = _export(env, record_id, env.regulator_key).content
    package = read_package(data)
    vault = json.loads(package.files["vault.json"])
    kinds = [e["kind"] for e in vault["evidence_log"]]
    assert kinds[:3] == ["document_read", "erasure_ordered", "erasure_executed"], kinds
    for entry in vault["evidence_log"]:
        anchor = entry["anchor"]
        value = [anchor["entry_id"], bytes.fromhex(entry["entry_digest"][2:])]
        leaf = StandardMerkleTree.of([value], ["uint256", "bytes32"]).leaf_hash(value)
        proof = [bytes.fromhex(p[2:]) for p in anchor["proof"]]
        assert "0x" + process_proof(leaf, proof).hex() == anchor["root"]
    assert vault["erasure"]["ordered_by"] and vault["erasure"]["executed_at"]
    assert vault["erasure"]["reference"] == "REQ-7"
    assert package.manifest.document.status == "erased"
    html = package.files["certificate.html"].decode()
    assert "已删除（销毁密钥）" in html and "REQ-7" in html
    assert verify_package(data, service.client).ok


def test_a_v2_form_is_checked_field_by_field_in_the_package(env: Env) -> None:
    record_id = env.anchored_loan(disclosure={"format": "fee-disclosure/v2"})
    data = _export(env, record_id, env["p1"].key).content
    package = read_package(data)
    assert "disclosure.json" in package.files
    report = json.loads(package.files["report.json"])
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert report["ok"] and statuses["disclosure_fields"] == "pass", statuses
    verified = verify_package(data, env.gw.service.client)
    assert verified.ok and verified.receipt is not None
    assert {c.name: c.status for c in verified.receipt.checks}["disclosure_fields"] == "pass"
