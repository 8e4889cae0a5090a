"""Every party signs with its own key or the gateway's custodial one (issue 13, item 1).

Own-key parties read what they sign from `GET /v1/loans/{id}/signing` (the full record, its id,
its EIP-712 typed data, the fee disclosure form) and sign it with a standard wallet library:
ethers v6 `Wallet.signTypedData`, run by node (`tests/js/sign.mjs`); the gateway never sees the
key. `POST /v1/loans/{id}/sign` adds a party's signature (the funder's is its approval, as
`/confirm`); the signatures come in any order and the last one settles the record.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.canonical import canonical_json
from ledger.signing import LocalSigner
from tests.api.conftest import Env, Party, auth, refused

JS_SIGNER = Path(__file__).resolve().parents[1] / "js" / "sign.mjs"
REPO = Path(__file__).resolve().parents[2]


def wallet_sign(own: LocalSigner, typed_data: dict[str, Any]) -> str:
    """The signature ethers v6 makes of the typed data with this key (as a wallet would)."""
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "ethers").is_dir():
        pytest.fail("node and the npm package ethers are needed (./scripts/bootstrap)")
    result = subprocess.run(
        [node, str(JS_SIGNER)],
        input=json.dumps({"private_key": "0x" + own.private_key.hex(), "typed_data": typed_data}),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    out = json.loads(result.stdout)
    assert out["address"].lower() == own.address.lower()
    return str(out["signature"])


def signing(env: Env, party: Party, record_id: str) -> dict[str, Any]:
    r = env.http.get(f"/v1/loans/{record_id}/signing", headers=auth(party.key))
    assert r.status_code == 200, r.text
    return dict(r.json())


def sign(env: Env, party: Party, record_id: str, signature: str | None = None) -> httpx.Response:
    body = {"signature": signature} if signature else None
    return env.http.post(f"/v1/loans/{record_id}/sign", json=body, headers=auth(party.key))


def sign_with_wallet(env: Env, party: Party, own: LocalSigner, record_id: str) -> dict[str, Any]:
    """The party reads what it signs, signs it with ethers and sends the signature."""
    view = signing(env, party, record_id)
    r = sign(env, party, record_id, wallet_sign(own, view["typed_data"]))
    assert r.status_code == 200, r.text
    return dict(r.json())


def missing(view: dict[str, Any]) -> list[tuple[int, str]]:
    return [(m["participant_id"], m["slot"]) for m in view["missing"]]


def anchored_and_verified(env: Env, record_id: str, **signers: LocalSigner) -> dict[str, Any]:
    """Anchors the queue; the record's receipt verifies, with each own-key slot signed by the
    party's own address."""
    env.gw.service.anchor_pending()
    assert env.status(record_id)["status"] == "anchored"
    r = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env.regulator_key))
    assert r.status_code == 200, r.text
    receipt = r.json()
    by_slot = {s["role"]: s["signer"].lower() for s in receipt["signatures"]}
    for slot, own in signers.items():
        assert by_slot[slot] == own.address.lower(), (slot, by_slot)
    report = env.http.post("/v1/verify", json={"receipt": receipt})
    assert report.status_code == 200, report.text
    assert report.json()["ok"] is True, report.json()
    return dict(receipt)


@pytest.fixture(scope="module")
def own_guarantor(env: Env) -> tuple[Party, LocalSigner]:
    """A guarantor keeping its own key, on bank1's whitelist."""
    party, own = env.register_own_key("credit_enhancer", "Own-key Guarantor")
    env.whitelist(env["bank1"], party)
    return party, own


@pytest.fixture(scope="module")
def own_co_funder(env: Env) -> tuple[Party, LocalSigner]:
    """A bank keeping its own key that lists p1 itself (a co-funder's whitelist binds too)."""
    party, own = env.register_own_key("funder", "Own-key Co-funder", "bank")
    env.whitelist_own_key(own, env["p1"])
    return party, own


# ---------------------------------------------------------------------- the issue's path


@pytest.mark.node
def test_issue_13_own_key_guarantor_then_funder_no_5xx(
    env: Env, own_guarantor: tuple[Party, LocalSigner]
) -> None:
    """The issue's reproduction: the guarantor's /confirm is the funder's route (403), the
    funder's confirmation used to fail (a 500, then a rejection for a missing signature) and the
    record waited for ever. Now the approval is kept, the record waits for the guarantor with
    what is missing listed, and the guarantor's own signature settles it."""
    guarantor, own = own_guarantor
    record_id = env.submit(env["p1"], guarantor_id=guarantor.id).json()["record_id"]
    with env.nothing_changes():
        refused(
            env.http.post(f"/v1/loans/{record_id}/confirm", headers=auth(guarantor.key)),
            "ROLE_FORBIDDEN",
            403,
        )
    confirmed = env.confirm(env["bank1"], record_id)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "awaiting_signatures"
    assert confirmed.json()["entry_timestamp"] is None
    assert env.status(record_id)["status"] == "awaiting_signatures"
    # nothing is anchored while a signature is missing; a repeat approval changes nothing
    env.gw.service.anchor_pending()
    with env.nothing_changes():
        again = env.confirm(env["bank1"], record_id)
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert again.json()["status"] == "awaiting_signatures"
    view = signing(env, env["bank1"], record_id)
    assert missing(view) == [(guarantor.id, "guarantor")]
    assert view["your_slots"] == ["funder"]
    assert [(s["slot"], s["signed"]) for s in view["signatures"]] == [
        ("platform", True),
        ("funder", True),
        ("guarantor", False),
    ]
    # the listing filters on the new status too
    r = env.http.get(
        "/v1/loans", params={"status": "awaiting_signatures"}, headers=auth(guarantor.key)
    )
    assert r.status_code == 200 and record_id in {i["record_id"] for i in r.json()["items"]}

    settled = sign_with_wallet(env, guarantor, own, record_id)
    assert settled["status"] == "queued" and settled["missing"] == []
    assert settled["entry_timestamp"] is not None
    assert settled["your_slots"] == ["guarantor"]
    anchored_and_verified(env, record_id, guarantor=own)


# ---------------------------------------------------------------------- each own-key party


@pytest.mark.node
def test_own_key_guarantor_signs_before_the_funder(
    env: Env, own_guarantor: tuple[Party, LocalSigner]
) -> None:
    guarantor, own = own_guarantor
    record_id = env.submit(env["p1"], guarantor_id=guarantor.id).json()["record_id"]
    view = signing(env, guarantor, record_id)
    assert view["status"] == "awaiting_funder"
    assert missing(view) == [(env["bank1"].id, "funder"), (guarantor.id, "guarantor")]
    # what it signs: the record, whose id the typed data's digest is, and the form
    assert view["typed_data"]["primaryType"] == "LoanRecord"
    assert view["typed_data"]["message"]["guarantorId"] == guarantor.id
    assert view["record"]["guarantor_id"] == guarantor.id
    form_digest = "0x" + hashlib.sha256(canonical_json(view["disclosure"])).hexdigest()
    assert form_digest == view["record"]["disclosure_digest"]

    signed = sign_with_wallet(env, guarantor, own, record_id)
    assert signed["status"] == "awaiting_funder"
    assert missing(signed) == [(env["bank1"].id, "funder")]
    # a repeat of the same signature changes nothing
    guarantor_signature = signed["signatures"][2]["signature"]
    with env.nothing_changes():
        r = sign(env, guarantor, record_id, guarantor_signature)
        assert r.status_code == 200 and r.json()["status"] == "awaiting_funder"
    confirmed = env.confirm(env["bank1"], record_id)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "queued"
    anchored_and_verified(env, record_id, guarantor=own)


@pytest.mark.node
@pytest.mark.parametrize("co_funder_first", [True, False], ids=["co-funder-first", "funder-first"])
def test_own_key_co_funder(
    env: Env, own_co_funder: tuple[Party, LocalSigner], co_funder_first: bool
) -> None:
    co_funder, own = own_co_funder
    record_id = env.submit(env["p1"], co_funder_id=co_funder.id, co_funder_share_bps=4000).json()[
        "record_id"
    ]
    # /confirm is the funder's approval: the co-funder is told where it signs (was a 404)
    with env.nothing_changes():
        r = env.http.post(f"/v1/loans/{record_id}/confirm", headers=auth(co_funder.key))
        refused(r, "NOT_THE_FUNDER", 403)
        assert f"/v1/loans/{record_id}/sign" in r.json()["error"]["message"]
        # without its signature the gateway cannot sign for it
        refused(sign(env, co_funder, record_id), "SIGNATURE_MISSING")
    if co_funder_first:
        assert sign_with_wallet(env, co_funder, own, record_id)["status"] == "awaiting_funder"
        assert env.confirm(env["bank1"], record_id).json()["status"] == "queued"
    else:
        assert env.confirm(env["bank1"], record_id).json()["status"] == "awaiting_signatures"
        view = signing(env, co_funder, record_id)
        assert view["your_slots"] == ["co_funder"]
        assert missing(view) == [(co_funder.id, "co_funder")]
        assert sign_with_wallet(env, co_funder, own, record_id)["status"] == "queued"
    anchored_and_verified(env, record_id, co_funder=own)


@pytest.mark.node
def test_own_key_funder_sees_what_it_signs_and_approves_with_a_wallet(env: Env) -> None:
    """The own-key funder reads the full record and typed data (GET /v1/loans/{id} is a summary)
    and signs with ethers; /confirm and /sign take its signature alike."""
    funder, own = env.register_own_key("funder", "Own-key Wallet Bank", "bank")
    env.whitelist_own_key(own, env["p1"])
    for route in ("confirm", "sign"):
        record_id = env.submit(env["p1"], funder=funder).json()["record_id"]
        view = signing(env, funder, record_id)
        assert view["record_id"] == record_id and view["your_slots"] == ["funder"]
        assert (
            view["typed_data"]["domain"] == env.http.get("/v1/deployment").json()["eip712_domain"]
        )
        assert [s["custodial"] for s in view["signatures"]] == [True, False]
        with env.nothing_changes():
            refused(env.confirm(funder, record_id), "SIGNATURE_MISSING")
        signature = wallet_sign(own, view["typed_data"])
        r = env.http.post(
            f"/v1/loans/{record_id}/{route}",
            json={"signature": signature},
            headers=auth(funder.key),
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "queued"
        anchored_and_verified(env, record_id, funder=own)


@pytest.mark.node
def test_every_party_own_key_per_record(env: Env) -> None:
    """Platform, funder, guarantor and co-funder all keep their keys; the platform signs the
    prepared record with ethers too; per-record anchoring sends the record as the last
    signature comes in, whatever order the others signed in."""
    platform, platform_key = env.register_own_key("platform", "Own-key Platform W")
    funder, funder_key = env.register_own_key("funder", "Own-key Bank W", "bank")
    co_funder, co_key = env.register_own_key("funder", "Own-key Co-bank W", "bank")
    guarantor, guarantor_key = env.register_own_key("credit_enhancer", "Own-key Guarantor W")
    env.whitelist_own_key(funder_key, platform, guarantor)
    env.whitelist_own_key(co_key, platform, guarantor)
    body, _ = env.loan_json(
        funder=funder,
        guarantor_id=guarantor.id,
        co_funder_id=co_funder.id,
        co_funder_share_bps=3000,
        anchoring="per-record",
    )
    body = {k: v for k, v in body.items() if k != "borrower_id"}
    body["borrower_commitment"] = "0x" + "5a" * 32
    prepared = env.http.post("/v1/loans/prepare", json=body, headers=auth(platform.key))
    assert prepared.status_code == 200, prepared.text
    body["platform_signature"] = wallet_sign(platform_key, prepared.json()["typed_data"])
    r = env.post_loan(platform.key, body)
    assert r.status_code == 202, r.text
    record_id = r.json()["record_id"]
    assert record_id == prepared.json()["record_id"]
    view = signing(env, platform, record_id)
    assert view["your_slots"] == ["platform"]
    assert [slot for _, slot in missing(view)] == ["funder", "guarantor", "co_funder"]

    assert sign_with_wallet(env, guarantor, guarantor_key, record_id)["status"] == (
        "awaiting_funder"
    )
    assert sign_with_wallet(env, funder, funder_key, record_id)["status"] == "awaiting_signatures"
    last = sign_with_wallet(env, co_funder, co_key, record_id)
    assert last["status"] == "anchored", last
    anchored_and_verified(
        env,
        record_id,
        platform=platform_key,
        funder=funder_key,
        guarantor=guarantor_key,
        co_funder=co_key,
    )


def test_custodial_parties_are_signed_at_submission(env: Env) -> None:
    """Custodial guarantor and co-funder: the gateway signs for them when the loan comes in;
    the funder's approval (here through /sign) settles it; their own /sign is a repeat."""
    record_id = env.submit(
        env["p1"], guarantor_id=env["g1"].id, co_funder_id=env["bank2"].id, co_funder_share_bps=4000
    ).json()["record_id"]
    view = signing(env, env["g1"], record_id)
    assert view["status"] == "awaiting_funder"
    assert missing(view) == [(env["bank1"].id, "funder")]
    assert all(s["custodial"] for s in view["signatures"])
    with env.nothing_changes():
        for party in ("g1", "bank2", "p1"):
            r = sign(env, env[party], record_id)
            assert r.status_code == 200 and r.json()["status"] == "awaiting_funder", r.text
    r = sign(env, env["bank1"], record_id)
    assert r.status_code == 200 and r.json()["status"] == "queued", r.text
    anchored_and_verified(env, record_id)
    with env.nothing_changes():
        r = sign(env, env["g1"], record_id)
        assert r.status_code == 200 and r.json()["status"] == "anchored"


# ---------------------------------------------------------------------- refusals


@pytest.mark.node
def test_refused_signatures_store_nothing(
    env: Env, own_guarantor: tuple[Party, LocalSigner]
) -> None:
    guarantor, own = own_guarantor
    record_id = env.submit(env["p1"], guarantor_id=guarantor.id).json()["record_id"]
    other_id = env.submit(env["p1"], guarantor_id=guarantor.id).json()["record_id"]
    typed = signing(env, guarantor, record_id)["typed_data"]
    with env.nothing_changes():
        for bad in (
            wallet_sign(LocalSigner.generate(), typed),  # another key
            wallet_sign(own, signing(env, guarantor, other_id)["typed_data"]),  # another record
        ):
            refused(sign(env, guarantor, record_id, bad), "SIGNATURE_INVALID")
        refused(sign(env, guarantor, record_id, "0x" + "00" * 65), "SIGNATURE_INVALID")
        refused(sign(env, guarantor, record_id, "0x1234"), "INVALID_INPUT")
        refused(sign(env, guarantor, record_id), "SIGNATURE_MISSING")
        # parties of other loans, and roles that sign no loan
        for stranger in ("g2", "bank2", "p2"):
            refused(sign(env, env[stranger], record_id), "RECORD_NOT_FOUND", 404)
            r = env.http.get(f"/v1/loans/{record_id}/signing", headers=auth(env[stranger].key))
            refused(r, "RECORD_NOT_FOUND", 404)
        for reader in ("regulator", "auditor"):
            refused(sign(env, env[reader], record_id), "ROLE_FORBIDDEN", 403)
            assert signing(env, env[reader], record_id)["your_slots"] == []
        refused(sign(env, guarantor, "0x" + "cd" * 32), "RECORD_NOT_FOUND", 404)

    # a funder may still refuse a loan it approved while it waits for the guarantor
    assert env.confirm(env["bank1"], record_id).json()["status"] == "awaiting_signatures"
    r = env.http.post(
        f"/v1/loans/{record_id}/reject",
        json={"reason": "guarantor gone"},
        headers=auth(env["bank1"].key),
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    with env.nothing_changes():
        refused(
            sign(env, guarantor, record_id, wallet_sign(own, typed)), "NOT_AWAITING_SIGNATURE", 409
        )
    view = signing(env, guarantor, record_id)
    assert view["status"] == "rejected" and view["missing"] == []
    assert view["rejection"]["code"] == "FUNDER_REJECTED"


@pytest.mark.node
def test_suspended_guarantor_signing_last_is_refused_then_accepted(env: Env) -> None:
    """The last signature runs every rule: a suspended party refuses it (nothing stored, the
    record waits) until the party is reinstated; the same signature is then accepted."""
    guarantor, own = env.register_own_key("credit_enhancer", "Own-key Guarantor S")
    env.whitelist(env["bank1"], guarantor)
    record_id = env.submit(env["p1"], guarantor_id=guarantor.id).json()["record_id"]
    assert env.confirm(env["bank1"], record_id).json()["status"] == "awaiting_signatures"
    signature = wallet_sign(own, signing(env, guarantor, record_id)["typed_data"])

    env.set_status(guarantor, "suspended")
    with env.nothing_changes():
        refused(sign(env, guarantor, record_id, signature), "PARTICIPANT_NOT_ACTIVE")
    assert env.status(record_id)["status"] == "awaiting_signatures"
    env.set_status(guarantor, "active")
    r = sign(env, guarantor, record_id, signature)
    assert r.status_code == 200 and r.json()["status"] == "queued", r.text
    anchored_and_verified(env, record_id, guarantor=own)


def test_confirm_batch_keeps_approvals_awaiting_other_signatures(
    env: Env, own_guarantor: tuple[Party, LocalSigner]
) -> None:
    guarantor, _ = own_guarantor
    waiting = env.submit(env["p1"], guarantor_id=guarantor.id).json()["record_id"]
    plain = env.submit(env["p1"]).json()["record_id"]
    r = env.http.post(
        "/v1/loans/confirm-batch",
        json={"record_ids": [waiting, plain]},
        headers=auth(env["bank1"].key),
    )
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["awaiting_signatures", "queued"]
    env.gw.service.anchor_pending()
    assert [env.status(i)["status"] for i in (waiting, plain)] == [
        "awaiting_signatures",
        "anchored",
    ]
