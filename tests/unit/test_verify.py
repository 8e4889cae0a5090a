"""Receipts verify with the receipt, the document and a node only; every tampering is caught by
the check that owns the tampered link, with its stable code.

The chain, parties and anchored receipts come from `ledger_env` (tests/unit/conftest.py). Tests
that change chain state (retire a record, prove a violation, move the clock) use fresh loans.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import EthereumTesterProvider, Web3
from web3.providers.eth_tester.defaults import API_ENDPOINTS

from ledger.chain.client import ChainClient
from ledger.chain.deploy import GenesisPolicy
from ledger.enums import InstitutionType, Role
from ledger.errors import VerificationError
from ledger.merkle import StandardMerkleTree
from ledger.receipts import LEAF_TYPES, Receipt
from ledger.records import FLAG_LEGACY, Retirement
from ledger.signing import LocalSigner
from ledger.timestamps import GatewayKey
from ledger.verify import CHECK_NAMES, SnapshotChainFacts, VerificationReport, verify_receipt
from ledger.verify.checks import CHECKS_WITH_FIELDS
from ledger.verify.explanations import CHECK_EXPLANATIONS

if TYPE_CHECKING:
    from conftest import LedgerEnv

ROOT = Path(__file__).resolve().parents[2]
PROPERTY = settings(max_examples=25, deadline=None)
#: for failures found late in the check order (each example runs the chain reads before them)
LATE_PROPERTY = settings(max_examples=15, deadline=None)


# ---------------------------------------------------------------------------------------- helpers


def all_receipts(env: LedgerEnv) -> list[Receipt]:
    assert env.per_record_receipt is not None
    return [*env.batch_receipts, env.per_record_receipt]


def tampered(receipt: Receipt, mutate: Callable[[dict[str, Any]], None]) -> Any:
    """The receipt as JSON, changed by `mutate`, parsed back if it is still well-formed (else
    the JSON itself, which verification refuses at `format`)."""
    data = json.loads(receipt.to_json())
    mutate(data)
    try:
        return Receipt.model_validate(data)
    except ValueError:
        return data


def flip_hex(value: str, bit: int) -> str:
    """`value` (0x-hex) with one bit flipped; stays lowercase hex of the same length."""
    raw = bytearray(bytes.fromhex(value[2:]))
    raw[bit // 8] ^= 1 << (bit % 8)
    return "0x" + raw.hex()


def hex_bits(value: str) -> int:
    return (len(value) - 2) * 4


def fails_at(
    env: LedgerEnv,
    receipt: Receipt,
    check: str,
    code: str,
    *,
    document: bytes | None = None,
    client: ChainClient | None = None,
) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify_receipt(
            receipt,
            client or env.client,
            trust=env.trust,
            document=env.document if document is None else document,
            raise_on_failure=True,
        )
    error = info.value
    assert (error.check, error.code) == (check, code), str(error)
    return error


def statuses(report: VerificationReport) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


# ------------------------------------------------------------------------------- happy paths


def test_reports_name_the_signers_as_the_registry_does(ledger_env: LedgerEnv) -> None:
    """Names come from the deployment's registry, read live or from a snapshot alike; the
    receipt's own slots and addresses are reported beside them."""
    env = ledger_env
    d = env.deployment
    snapshot = SnapshotChainFacts.load(env.client, d.registry, d.ledger, d.block_number)
    snapshot.follow(env.client)
    names = {"platform": "Platform P", "funder": "Bank A", "guarantor": "Guarantor G"}
    for receipt in all_receipts(env):
        for facts in (None, snapshot):
            report = verify_receipt(
                receipt, env.client, trust=env.trust, facts=facts, raise_on_failure=False
            )
            assert [(s.slot, s.participant_id, s.signer) for s in report.signers] == [
                (sig.role, sig.participant_id, sig.signer) for sig in receipt.signatures
            ]
            assert {s.slot: s.name for s in report.signers} == {
                sig.role: names[sig.role] for sig in receipt.signatures
            }
            assert report.as_dict()["signers"][0]["name"] == names[receipt.signatures[0].role]


def test_every_check_is_explained_in_english_and_chinese() -> None:
    assert list(CHECK_EXPLANATIONS) == [name for name, _ in CHECKS_WITH_FIELDS]
    for name, explanation in CHECK_EXPLANATIONS.items():
        assert len(explanation.en) > 30, name
        assert any("\u4e00" <= ch <= "\u9fff" for ch in explanation.zh), name


def test_batch_receipts_verify_after_a_json_round_trip(ledger_env: LedgerEnv) -> None:
    assert len(ledger_env.batch_receipts) == 5
    for receipt in ledger_env.batch_receipts:
        parsed = Receipt.model_validate_json(receipt.to_json())
        assert parsed == receipt
        report = verify_receipt(
            parsed,
            ledger_env.client,
            trust=ledger_env.trust,
            document=ledger_env.document,
            raise_on_failure=False,
        )
        assert report.ok, report.as_dict()
        assert [c.name for c in report.checks] == list(CHECK_NAMES)
        assert len(CHECK_NAMES) == 15
        assert set(statuses(report).values()) == {"pass"}  # entry timestamp present, batch mode
        assert report.record_id == receipt.record_id


def test_per_record_receipt_verifies_after_a_json_round_trip(
    ledger_env: LedgerEnv, per_record_receipt: Receipt
) -> None:
    parsed = Receipt.model_validate_json(per_record_receipt.to_json())
    assert parsed == per_record_receipt
    report = verify_receipt(
        parsed,
        ledger_env.client,
        trust=ledger_env.trust,
        document=ledger_env.document,
        raise_on_failure=False,
    )
    assert report.ok, report.as_dict()
    assert [c.name for c in report.checks] == list(CHECK_NAMES)
    expected = dict.fromkeys(CHECK_NAMES, "pass") | {"leaf": "skip", "proof": "skip"}
    assert statuses(report) == expected
    # raising mode returns the same report when nothing fails
    assert verify_receipt(
        parsed, ledger_env.client, trust=ledger_env.trust, document=ledger_env.document
    ).ok


def test_plain_json_dict_is_accepted(ledger_env: LedgerEnv, batch_receipts: list[Receipt]) -> None:
    data = json.loads(batch_receipts[2].to_json())
    assert verify_receipt(
        data, ledger_env.client, trust=ledger_env.trust, document=ledger_env.document
    ).ok


def test_document_digest_instead_of_document(
    ledger_env: LedgerEnv, batch_receipts: list[Receipt]
) -> None:
    receipt = batch_receipts[0]
    digest = receipt.record.agreement_digest
    for given_digest in (digest, digest[2:], digest.upper().replace("0X", "0x")):
        report = verify_receipt(
            receipt, ledger_env.client, trust=ledger_env.trust, document_sha256=given_digest
        )
        assert statuses(report)["document"] == "pass"
    report = verify_receipt(receipt, ledger_env.client, trust=ledger_env.trust)
    assert statuses(report)["document"] == "skip"
    assert report.ok


def test_document_given_as_a_file(
    ledger_env: LedgerEnv, batch_receipts: list[Receipt], tmp_path: Path
) -> None:
    path = tmp_path / "agreement.pdf"
    path.write_bytes(ledger_env.document)
    assert verify_receipt(
        batch_receipts[1], ledger_env.client, trust=ledger_env.trust, document=path
    ).ok
    path.write_bytes(ledger_env.document + b"\n")
    with pytest.raises(VerificationError) as info:
        verify_receipt(batch_receipts[1], ledger_env.client, trust=ledger_env.trust, document=path)
    assert (info.value.check, info.value.code) == ("document", "VERIFY_DOCUMENT_MISMATCH")


def test_receipt_without_form_skips_the_disclosure_check(ledger_env: LedgerEnv) -> None:
    env = ledger_env
    receipt = env.anchor_one(env.new_loan(disclosure=False, stamp=False))
    report = verify_receipt(receipt, env.client, trust=env.trust, document=env.document)
    assert statuses(report) == dict.fromkeys(CHECK_NAMES, "pass") | {
        "disclosure": "skip",
        "leaf": "skip",
        "proof": "skip",
        "entry_timestamp": "skip",
        "provenance": "skip",  # no promise binds it: listed as unverified
    }
    assert {"provenance", "document.size"} <= set(report.unverified)


def test_not_a_receipt_fails_format(ledger_env: LedgerEnv, batch_receipts: list[Receipt]) -> None:
    data = json.loads(batch_receipts[0].to_json())
    data["format"] = "loan-evidence-receipt/v0"
    with pytest.raises(VerificationError) as info:
        verify_receipt(data, ledger_env.client, trust=ledger_env.trust)
    assert (info.value.check, info.value.code) == ("format", "VERIFY_FORMAT")


# ----------------------------------------------------------------------- tampering: properties


@PROPERTY
@given(data=st.data())
def test_any_bit_flip_of_the_document_fails_document(
    ledger_env: LedgerEnv, data: st.DataObject
) -> None:
    receipt = data.draw(st.sampled_from(all_receipts(ledger_env)))
    bit = data.draw(st.integers(0, len(ledger_env.document) * 8 - 1))
    document = bytearray(ledger_env.document)
    document[bit // 8] ^= 1 << (bit % 8)
    fails_at(ledger_env, receipt, "document", "VERIFY_DOCUMENT_MISMATCH", document=bytes(document))


@pytest.mark.parametrize(
    "change",
    [lambda d: d[:-1], lambda d: d + b"\0", lambda d: b"", lambda d: d[1:] + d[:1]],
    ids=["truncated", "extended", "empty", "rotated"],
)
def test_changed_document_fails_document(
    ledger_env: LedgerEnv, batch_receipts: list[Receipt], change: Callable[[bytes], bytes]
) -> None:
    document = change(ledger_env.document)
    fails_at(
        ledger_env, batch_receipts[0], "document", "VERIFY_DOCUMENT_MISMATCH", document=document
    )


DIGEST_FIELDS = ("agreement_digest", "disclosure_digest", "borrower_commitment")
INTEGER_FIELDS = {
    "funder_id": 64,
    "platform_id": 64,
    "guarantor_id": 64,
    "co_funder_id": 64,
    "co_funder_share_bps": 16,
    "principal": 128,
    "apr_bps": 32,
    "term_days": 32,
    "issued_at": 64,
    "flags": 8,
}
# Which check catches a change of each record field first (checks run in CHECK_NAMES order):
# - agreement_digest: the document's SHA-256 no longer equals it -> "document" (2nd check);
# - disclosure_digest: the receipt's form no longer hashes to it -> "disclosure" (3rd);
# - apr_bps and principal: the form's stated APR / principal no longer equals it -> "disclosure" (3rd);
# - every other field is bound only by the parties' EIP-712 digest, which no longer equals the
#   receipt's record id -> "record_id" (4th).
FIELD_CHECK = dict.fromkeys(
    [*DIGEST_FIELDS, *INTEGER_FIELDS], ("record_id", "VERIFY_RECORD_ID")
) | {
    "agreement_digest": ("document", "VERIFY_DOCUMENT_MISMATCH"),
    "disclosure_digest": ("disclosure", "VERIFY_DISCLOSURE"),
    "apr_bps": ("disclosure", "VERIFY_DISCLOSURE"),
    "principal": ("disclosure", "VERIFY_DISCLOSURE"),
}


@PROPERTY
@given(data=st.data())
def test_any_change_of_a_record_field_fails_the_owning_check(
    ledger_env: LedgerEnv, data: st.DataObject
) -> None:
    receipt = data.draw(st.sampled_from(all_receipts(ledger_env)))
    name = data.draw(st.sampled_from(sorted(FIELD_CHECK)))
    old = getattr(receipt.record, name)
    if name in DIGEST_FIELDS:
        new: Any = flip_hex(old, data.draw(st.integers(0, 255)))
    elif data.draw(st.booleans()):
        new = old ^ (1 << data.draw(st.integers(0, INTEGER_FIELDS[name] - 1)))
    else:
        new = data.draw(st.integers(0, 2 ** INTEGER_FIELDS[name] - 1).filter(lambda v: v != old))
    forged = tampered(receipt, lambda d: d["record"].__setitem__(name, new))
    check, code = FIELD_CHECK[name]
    fails_at(ledger_env, forged, check, code)


@pytest.mark.parametrize("name", sorted(FIELD_CHECK))
@pytest.mark.parametrize("receipt_index", [0, 5], ids=["batch", "per-record"])
def test_every_record_field_is_covered(
    ledger_env: LedgerEnv, name: str, receipt_index: int
) -> None:
    # the property above samples fields; this pins each field once (top bit and bottom bit)
    receipt = all_receipts(ledger_env)[receipt_index]
    old = getattr(receipt.record, name)
    for bit in (0, 255 if name in DIGEST_FIELDS else INTEGER_FIELDS[name] - 1):
        new = flip_hex(old, bit) if name in DIGEST_FIELDS else old ^ (1 << bit)
        forged = tampered(receipt, lambda d, new=new: d["record"].__setitem__(name, new))
        fails_at(ledger_env, forged, *FIELD_CHECK[name])


@PROPERTY
@given(data=st.data())
def test_any_bit_flip_of_the_record_id_fails_record_id(
    ledger_env: LedgerEnv, data: st.DataObject
) -> None:
    receipt = data.draw(st.sampled_from(all_receipts(ledger_env)))
    bit = data.draw(st.integers(0, 255))
    forged = tampered(receipt, lambda d: d.__setitem__("record_id", flip_hex(d["record_id"], bit)))
    fails_at(ledger_env, forged, "record_id", "VERIFY_RECORD_ID")


@PROPERTY
@given(data=st.data())
def test_any_bit_flip_of_a_signature_fails_signatures(
    ledger_env: LedgerEnv, data: st.DataObject
) -> None:
    # The signatures check (6th) runs before the leaf check (7th), which would also fail in batch
    # mode (the leaf commits to keccak256(abi.encode(signatures))): "signatures" is reported.
    # Flips of v make it neither 27 nor 28, flips of s may make it high (malleable), flips of r
    # or s otherwise recover another address: all are signature failures.
    receipt = data.draw(st.sampled_from(all_receipts(ledger_env)))
    index = data.draw(st.integers(0, len(receipt.signatures) - 1))
    bit = data.draw(st.integers(0, 65 * 8 - 1))

    def mutate(d: dict[str, Any]) -> None:
        sig = d["signatures"][index]
        sig["signature"] = flip_hex(sig["signature"], bit)

    fails_at(ledger_env, tampered(receipt, mutate), "signatures", "VERIFY_SIGNATURES")


def test_signature_flip_report_shows_signatures_and_leaf(
    ledger_env: LedgerEnv, batch_receipts: list[Receipt]
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["signatures"][1]["signature"] = flip_hex(d["signatures"][1]["signature"], 9)

    report = verify_receipt(
        tampered(batch_receipts[0], mutate),
        ledger_env.client,
        trust=ledger_env.trust,
        document=ledger_env.document,
        raise_on_failure=False,
    )
    failed = [c.name for c in report.checks if c.status == "fail"]
    # the leaf commits to the signatures, so the proof and the promise of that leaf fail too
    assert failed == ["signatures", "leaf", "proof", "entry_timestamp"]
    assert report.first_failure is not None and report.first_failure.code == "VERIFY_SIGNATURES"
    assert not report.ok


@pytest.mark.parametrize(
    ("what", "mutate"),
    [
        ("swapped signature order", lambda d: d["signatures"].reverse()),
        (
            "claimed signer address",
            lambda d: d["signatures"][0].__setitem__("signer", "0x" + "11" * 20),
        ),
        ("participant id", lambda d: d["signatures"][0].__setitem__("participant_id", 999)),
        ("signature dropped", lambda d: d["signatures"].pop()),
    ],
)
def test_signature_list_tampering_fails_signatures(
    ledger_env: LedgerEnv,
    batch_receipts: list[Receipt],
    what: str,
    mutate: Callable[[dict[str, Any]], None],
) -> None:
    fails_at(ledger_env, tampered(batch_receipts[0], mutate), "signatures", "VERIFY_SIGNATURES")


def test_signatures_by_an_unregistered_key_fail_signatures(ledger_env: LedgerEnv) -> None:
    # Signatures that are internally consistent (they recover to the claimed address) but by a
    # key that is not the participant's registered one.
    env = ledger_env
    intruder = LocalSigner.generate()
    loan = env.new_loan(guarantor=False, signers={env.bank_id: env.bank, env.platform_id: intruder})
    batch = env.chain.anchor_batch(env.gateway_account, [loan])
    error = fails_at(env, env.chain.batch_receipts(batch)[0], "signatures", "VERIFY_SIGNATURES")
    assert "registered key" in str(error)


@LATE_PROPERTY
@given(data=st.data())
def test_any_bit_flip_of_the_leaf_fails_leaf(ledger_env: LedgerEnv, data: st.DataObject) -> None:
    receipt = data.draw(st.sampled_from(ledger_env.batch_receipts))
    part = data.draw(st.sampled_from(["hash", "values.0", "values.1"]))
    bit = data.draw(st.integers(0, 255))

    def mutate(d: dict[str, Any]) -> None:
        leaf = d["anchor"]["leaf"]
        if part == "hash":
            leaf["hash"] = flip_hex(leaf["hash"], bit)
        else:
            i = int(part[-1])
            leaf["values"][i] = flip_hex(leaf["values"][i], bit)

    fails_at(ledger_env, tampered(receipt, mutate), "leaf", "VERIFY_LEAF")


@LATE_PROPERTY
@given(data=st.data())
def test_any_bit_flip_of_a_proof_element_fails_proof(
    ledger_env: LedgerEnv, data: st.DataObject
) -> None:
    receipt = data.draw(st.sampled_from(ledger_env.batch_receipts))
    assert receipt.anchor.proof  # 5 leaves: every proof has 2 or 3 steps
    index = data.draw(st.integers(0, len(receipt.anchor.proof) - 1))
    bit = data.draw(st.integers(0, 255))

    def mutate(d: dict[str, Any]) -> None:
        d["anchor"]["proof"][index] = flip_hex(d["anchor"]["proof"][index], bit)

    fails_at(ledger_env, tampered(receipt, mutate), "proof", "VERIFY_PROOF")


@pytest.mark.parametrize(
    "mutate",
    [lambda p: p[:-1], lambda p: [*p, "0x" + "00" * 32], lambda p: list(reversed(p)), lambda p: []],
    ids=["dropped", "extra", "reordered", "empty"],
)
def test_reshaped_proof_fails_proof(
    ledger_env: LedgerEnv, batch_receipts: list[Receipt], mutate: Callable[[list[str]], list[str]]
) -> None:
    receipt = next(r for r in batch_receipts if len(r.anchor.proof) >= 2)
    forged = tampered(
        receipt, lambda d: d["anchor"].__setitem__("proof", mutate(d["anchor"]["proof"]))
    )
    fails_at(ledger_env, forged, "proof", "VERIFY_PROOF")


@LATE_PROPERTY
@given(data=st.data())
def test_any_bit_flip_of_the_root_fails_proof(ledger_env: LedgerEnv, data: st.DataObject) -> None:
    # The proof check (8th) recomputes the root from the leaf and the proof and compares it to the
    # stated root before the anchor check (9th) looks the root up on chain: "proof" fails.
    receipt = data.draw(st.sampled_from(ledger_env.batch_receipts))
    bit = data.draw(st.integers(0, 255))
    forged = tampered(
        receipt, lambda d: d["anchor"].__setitem__("root", flip_hex(d["anchor"]["root"], bit))
    )
    fails_at(ledger_env, forged, "proof", "VERIFY_PROOF")


def test_self_consistent_forged_tree_fails_anchor(
    ledger_env: LedgerEnv, batch_receipts: list[Receipt]
) -> None:
    # A forger who builds their own tree around the genuine leaf gets a proof that leads to their
    # root, so leaf and proof pass; that root was never anchored: "anchor", ROOT_NOT_ANCHORED.
    receipt = batch_receipts[0]
    assert receipt.anchor.leaf is not None
    values = [receipt.anchor.leaf.values, ["0x" + "ab" * 32, "0x" + "cd" * 32]]
    tree = StandardMerkleTree.of(values, list(LEAF_TYPES))
    index = next(i for i, v in tree.entries() if list(v) == receipt.anchor.leaf.values)

    def mutate(d: dict[str, Any]) -> None:
        d["anchor"]["root"] = "0x" + tree.root.hex()
        d["anchor"]["proof"] = ["0x" + p.hex() for p in tree.get_proof(index)]
        d["anchor"]["batch_size"] = 2

    fails_at(ledger_env, tampered(receipt, mutate), "anchor", "VERIFY_ROOT_NOT_ANCHORED")


@LATE_PROPERTY
@given(data=st.data())
def test_any_bit_flip_of_the_entry_timestamp_signature_fails_entry_timestamp(
    ledger_env: LedgerEnv, data: st.DataObject
) -> None:
    receipt = data.draw(st.sampled_from(all_receipts(ledger_env)))
    bit = data.draw(st.integers(0, 64 * 8 - 1))

    def mutate(d: dict[str, Any]) -> None:
        entry = d["entry_timestamp"]
        entry["signature"] = flip_hex(entry["signature"], bit)

    fails_at(
        ledger_env, tampered(receipt, mutate), "entry_timestamp", "VERIFY_ENTRY_TIMESTAMP_INVALID"
    )


@LATE_PROPERTY
@given(data=st.data())
def test_any_change_of_the_promise_fails_entry_timestamp(
    ledger_env: LedgerEnv, data: st.DataObject
) -> None:
    # The signature covers the RFC 8785 form of the promise: a moved deadline, another record or
    # leaf... is an invalid signature, caught before the promise is compared to the anchor.
    receipt = data.draw(st.sampled_from(all_receipts(ledger_env)))
    name = data.draw(st.sampled_from(["record_id", "leaf_hash", "accepted_at", "anchor_deadline"]))
    change = data.draw(
        st.integers(0, 255) if name.endswith(("_id", "_hash")) else st.integers(1, 10**6)
    )

    def mutate(d: dict[str, Any]) -> None:
        promise = d["entry_timestamp"]["promise"]
        if name in ("record_id", "leaf_hash"):
            promise[name] = flip_hex(promise[name], change)
        else:
            promise[name] += change

    fails_at(
        ledger_env, tampered(receipt, mutate), "entry_timestamp", "VERIFY_ENTRY_TIMESTAMP_INVALID"
    )


def test_entry_timestamp_public_key_swap_fails_entry_timestamp(
    ledger_env: LedgerEnv, batch_receipts: list[Receipt]
) -> None:
    # Re-signed by a key that is not the gateway's registered one: valid signature, wrong key.
    receipt = batch_receipts[0]
    assert receipt.entry_timestamp is not None
    forged_entry = GatewayKey.generate().sign(receipt.entry_timestamp.promise)
    forged = receipt.model_copy(update={"entry_timestamp": forged_entry})
    fails_at(ledger_env, forged, "entry_timestamp", "VERIFY_ENTRY_TIMESTAMP_KEY_MISMATCH")


def test_entry_timestamp_of_another_record_fails_entry_timestamp(
    ledger_env: LedgerEnv, batch_receipts: list[Receipt]
) -> None:
    # Genuine, validly signed by the registered gateway key, but it names another record.
    forged = batch_receipts[0].model_copy(
        update={"entry_timestamp": batch_receipts[1].entry_timestamp}
    )
    error = fails_at(ledger_env, forged, "entry_timestamp", "VERIFY_ENTRY_TIMESTAMP")
    assert "another record" in str(error)


def test_entry_timestamp_signed_by_a_non_gateway_fails(
    ledger_env: LedgerEnv, batch_receipts: list[Receipt]
) -> None:
    receipt = batch_receipts[0]
    assert receipt.entry_timestamp is not None
    promise = receipt.entry_timestamp.promise.model_copy(
        update={"gateway_id": ledger_env.platform_id}
    )
    forged = receipt.model_copy(update={"entry_timestamp": ledger_env.gateway_key.sign(promise)})
    error = fails_at(ledger_env, forged, "entry_timestamp", "VERIFY_ENTRY_TIMESTAMP")
    assert "not a gateway" in str(error)


@pytest.mark.parametrize(
    ("receipt_index", "mutate", "check", "code"),
    [
        # typed data is checked against the record and domain (5th check)
        (
            0,
            lambda d: d["typed_data"]["message"].__setitem__("principal", 1),
            "typed_data",
            "VERIFY_TYPED_DATA",
        ),
        (
            5,
            lambda d: d["typed_data"]["domain"].__setitem__("chainId", 1),
            "typed_data",
            "VERIFY_TYPED_DATA",
        ),
        # the document reference of the receipt must name the record's digest
        (
            0,
            lambda d: d["document"].__setitem__("sha256", "0x" + "00" * 32),
            "document",
            "VERIFY_DOCUMENT_MISMATCH",
        ),
        # the form itself: any change breaks its digest
        (
            1,
            lambda d: d["disclosure"].__setitem__("lender", "Bank B"),
            "disclosure",
            "VERIFY_DISCLOSURE",
        ),
        (
            5,
            lambda d: d["disclosure"]["fees"][0]["charges"][0].__setitem__("amount", 1),
            "disclosure",
            "VERIFY_DISCLOSURE",
        ),
        # anchor fields
        (
            0,
            lambda d: d["anchor"].__setitem__("chain_id", 1),
            "deployment",
            "VERIFY_DEPLOYMENT_MISMATCH",
        ),
        (
            0,
            lambda d: d["anchor"].__setitem__(
                "transaction_hash", flip_hex(d["anchor"]["transaction_hash"], 0)
            ),
            "anchor",
            "VERIFY_ANCHOR_NOT_FOUND",
        ),
        (
            5,
            lambda d: d["anchor"].__setitem__("block_number", d["anchor"]["block_number"] + 1),
            "anchor",
            "VERIFY_ANCHOR",
        ),
        (
            0,
            lambda d: d["anchor"].__setitem__("block_time", d["anchor"]["block_time"] + 1),
            "anchor",
            "VERIFY_ANCHOR",
        ),
        # a batch record claimed as anchored on its own (or the reverse): the anchor's shape
        # no longer fits its mode
        (0, lambda d: d["anchor"].__setitem__("mode", "per-record"), "format", "VERIFY_FORMAT"),
        (5, lambda d: d["anchor"].__setitem__("mode", "batch"), "format", "VERIFY_FORMAT"),
        # another ledger address is not the trusted deployment
        (
            0,
            lambda d: d["anchor"].__setitem__("ledger", "0x" + "12" * 20),
            "deployment",
            "VERIFY_DEPLOYMENT_MISMATCH",
        ),
    ],
)
def test_receipt_part_tampering_fails_the_owning_check(
    ledger_env: LedgerEnv,
    receipt_index: int,
    mutate: Callable[[dict[str, Any]], None],
    check: str,
    code: str,
) -> None:
    fails_at(ledger_env, tampered(all_receipts(ledger_env)[receipt_index], mutate), check, code)


def test_registry_without_contract_is_a_verification_error(
    ledger_env: LedgerEnv, batch_receipts: list[Receipt]
) -> None:
    # web3 raises BadFunctionCallOutput (a Web3Exception, not a ValueError) for a call to an
    # address without code: it must still be a failed check, not an escaping exception. The
    # signatures check is the first to read the registry.
    forged = tampered(
        batch_receipts[0], lambda d: d["anchor"].__setitem__("registry", "0x" + "12" * 20)
    )
    fails_at(ledger_env, forged, "deployment", "VERIFY_DEPLOYMENT_MISMATCH")  # pinned
    report = verify_receipt(
        forged,
        ledger_env.client,
        trust=None,  # unpinned: the first read of that registry fails, as a check
        document=ledger_env.document,
        raise_on_failure=False,
    )
    assert report.first_failure is not None and report.first_failure.name == "signatures"


@pytest.mark.parametrize("value", [1818.0, 2**60], ids=["float", "beyond-2^53"])
def test_unhashable_number_in_the_form_fails_disclosure(
    ledger_env: LedgerEnv, batch_receipts: list[Receipt], value: Any
) -> None:
    data = json.loads(batch_receipts[0].to_json())
    data["disclosure"]["stated_apr_bps"] = value  # e.g. a producer that writes numbers as floats
    receipt = Receipt.model_validate(data)
    report = verify_receipt(
        receipt,
        ledger_env.client,
        trust=ledger_env.trust,
        document=ledger_env.document,
        raise_on_failure=False,
    )
    assert report.first_failure is not None
    assert report.first_failure.name == "disclosure"
    with pytest.raises(VerificationError) as info:
        verify_receipt(
            receipt, ledger_env.client, trust=ledger_env.trust, document=ledger_env.document
        )
    assert info.value.check == "disclosure"
    assert info.value.code.startswith("VERIFY_DISCLOSURE")


# ------------------------------------------------------------------------ chain-side outcomes


def _retire(
    env: LedgerEnv, loan: Any, superseded_by: str | None = None, inclusion: Any = None
) -> None:
    fields: dict[str, Any] = {
        "record_id": "0x" + loan.record_id.hex(),
        "reason_code": 7,
        "retired_at": env.client.latest_timestamp(),
    }
    if superseded_by is not None:
        fields["superseded_by"] = superseded_by
    retirement = Retirement(**fields)
    args = (inclusion,) if inclusion is not None else ()
    env.chain.retire(env.regulator_account, loan.record, retirement, [env.regulator], *args)


def test_revoked_record_fails_status(ledger_env: LedgerEnv) -> None:
    env = ledger_env
    loan = env.new_loan()
    receipt = env.anchor_one(loan)
    assert verify_receipt(receipt, env.client, trust=env.trust, document=env.document).ok
    _retire(env, loan)
    fails_at(env, receipt, "status", "VERIFY_RECORD_REVOKED")
    report = verify_receipt(
        receipt, env.client, trust=env.trust, document=env.document, raise_on_failure=False
    )
    assert [c.name for c in report.checks if c.status == "fail"] == ["status"]


def test_amended_record_fails_status_and_its_successor_verifies(ledger_env: LedgerEnv) -> None:
    env = ledger_env
    original = env.new_loan()
    original_receipt = env.anchor_one(original)
    successor = env.new_loan(guarantor=False)
    successor_receipt = env.anchor_one(successor)
    _retire(env, original, superseded_by=successor_receipt.record_id)
    error = fails_at(env, original_receipt, "status", "VERIFY_RECORD_SUPERSEDED")
    assert successor_receipt.record_id in str(error)
    assert verify_receipt(successor_receipt, env.client, trust=env.trust, document=env.document).ok


def test_revoked_batch_record_fails_status_others_in_the_batch_do_not(
    ledger_env: LedgerEnv,
) -> None:
    env = ledger_env
    loans = [env.new_loan(), env.new_loan(guarantor=False)]
    batch = env.chain.anchor_batch(env.gateway_account, loans)
    receipts = env.chain.batch_receipts(batch)
    inclusion = (batch.root, loans[0].signatures_hash, batch.tree.get_proof(0))
    _retire(env, loans[0], inclusion=inclusion)
    fails_at(env, receipts[0], "status", "VERIFY_RECORD_REVOKED")
    assert verify_receipt(receipts[1], env.client, trust=env.trust, document=env.document).ok


def test_broken_promise_fails_entry_timestamp(ledger_env: LedgerEnv) -> None:
    env = ledger_env
    loan = env.stamp(env.new_loan(), deadline_in=5)
    assert loan.entry_timestamp is not None
    env.client.advance_time(120)
    receipt = env.anchor_one(loan)
    assert receipt.anchor.block_time > loan.entry_timestamp.promise.anchor_deadline
    error = fails_at(env, receipt, "entry_timestamp", "VERIFY_PROMISE_BROKEN")
    assert "deadline" in str(error)
    # everything else about the record is fine
    report = verify_receipt(
        receipt, env.client, trust=env.trust, document=env.document, raise_on_failure=False
    )
    assert [c.name for c in report.checks if c.status == "fail"] == ["entry_timestamp"]


def test_promise_with_deadline_before_acceptance_is_broken(ledger_env: LedgerEnv) -> None:
    # A promise whose deadline lies before the block time, signed by the registered key.
    env = ledger_env
    loan = env.new_loan(stamp=False)
    now = env.client.latest_timestamp()
    entry = loan.promise(env.gateway_key, env.gateway_id, env.chain.domain, now, -1)
    receipt = env.anchor_one(dataclasses.replace(loan, entry_timestamp=entry))
    fails_at(env, receipt, "entry_timestamp", "VERIFY_PROMISE_BROKEN")


def test_inconsistent_form_fails_disclosure(ledger_env: LedgerEnv) -> None:
    # The form hashes to the record's digest and states the record's APR, but that APR does not
    # follow from the form's own schedule and fees (a batch anchor checks nothing on chain).
    env = ledger_env
    understated = env.form.model_copy(update={"stated_apr_bps": env.form.stated_apr_bps - 300})
    loan = env.new_loan(form=understated)
    receipt = env.chain.batch_receipts(env.chain.anchor_batch(env.gateway_account, [loan]))[0]
    fails_at(env, receipt, "disclosure", "VERIFY_DISCLOSURE_INCONSISTENT")


def test_rate_above_the_cap_fails_rate_cap(ledger_env: LedgerEnv) -> None:
    env = ledger_env
    loan = env.new_loan(disclosure=False, apr_bps=3000)  # genesis cap: 2400 bps for banks
    receipt = env.chain.batch_receipts(env.chain.anchor_batch(env.gateway_account, [loan]))[0]
    fails_at(env, receipt, "rate_cap", "VERIFY_RATE_CAP_EXCEEDED")


def test_proven_violation_fails_violation(ledger_env: LedgerEnv) -> None:
    # A platform the funder never whitelisted: batch anchoring accepts it, anyone can then prove
    # the violation on chain with the record, its signatures and its inclusion proof.
    env = ledger_env
    rogue = LocalSigner.generate()
    rogue_id = env.chain.register_participant(
        env.regulator_account, Role.PLATFORM, rogue.address, "Rogue"
    )
    loan = env.new_loan(
        platform_id=rogue_id, guarantor=False, signers={env.bank_id: env.bank, rogue_id: rogue}
    )
    loans = [loan, env.new_loan()]
    batch = env.chain.anchor_batch(env.gateway_account, loans)
    receipts = env.chain.batch_receipts(batch)
    assert verify_receipt(
        receipts[0], env.client, trust=env.trust, document=env.document
    ).ok  # not yet proven
    env.client.transact(
        env.gateway_account,
        env.chain.ledger.functions.reportViolation(
            loan.record.as_tuple(), list(loan.signatures), batch.root, batch.tree.get_proof(0)
        ),
    )
    error = fails_at(env, receipts[0], "violation", "VERIFY_VIOLATION_PROVEN")
    assert "NotWhitelisted" in str(error)
    assert verify_receipt(receipts[1], env.client, trust=env.trust, document=env.document).ok


def test_co_funded_loan_with_four_signatures_verifies(ledger_env: LedgerEnv) -> None:
    env = ledger_env
    trust = LocalSigner.generate()
    trust_id = env.chain.register_participant(
        env.regulator_account, Role.FUNDER, trust.address, "Trust T", InstitutionType.TRUST
    )
    signers = {**env.signers, trust_id: trust}
    trust_account = Account.from_key(trust.private_key)
    env.client.fund(trust_account.address, 10**20)
    for partner in (env.platform_id, env.guarantor_id):  # the co-funder lists them too (R1)
        env.chain.whitelist(trust_account, partner)
    loan = env.new_loan(signers=signers, co_funder_id=trust_id, co_funder_share_bps=3000)
    # per-record anchoring: the contract checks every rule (co-funding floor, roles, signatures)
    receipt = env.anchor_one(env.stamp(loan))
    assert [s.role for s in receipt.signatures] == ["platform", "funder", "guarantor", "co_funder"]
    assert [s.participant_id for s in receipt.signatures] == [
        env.platform_id,
        env.bank_id,
        env.guarantor_id,
        trust_id,
    ]
    assert verify_receipt(
        Receipt.model_validate_json(receipt.to_json()),
        env.client,
        trust=env.trust,
        document=env.document,
    ).ok
    # the co-funder's signature is checked like the others
    forged = tampered(
        receipt,
        lambda d: d["signatures"][3].__setitem__(
            "signature", flip_hex(d["signatures"][3]["signature"], 77)
        ),
    )
    fails_at(env, forged, "signatures", "VERIFY_SIGNATURES")


def test_legacy_loan_above_the_cap_passes_only_before_the_cutoff(ledger_env: LedgerEnv) -> None:
    env = ledger_env
    cutoff = GenesisPolicy().legacy_cutoff
    legacy = env.new_loan(
        disclosure=False, apr_bps=3000, flags=FLAG_LEGACY, issued_at=cutoff - 86_400
    )
    late = env.new_loan(disclosure=False, apr_bps=3000, flags=FLAG_LEGACY, issued_at=cutoff)
    receipts = env.chain.batch_receipts(env.chain.anchor_batch(env.gateway_account, [legacy, late]))
    report = verify_receipt(receipts[0], env.client, trust=env.trust, document=env.document)
    assert report.ok and "legacy" in next(c.detail for c in report.checks if c.name == "rate_cap")
    fails_at(env, receipts[1], "rate_cap", "VERIFY_RATE_CAP")


def test_shared_read_cache_never_hides_tampering_or_retirement(ledger_env: LedgerEnv) -> None:
    # One cache across many receipts of a chain (bulk verification): immutable reads are shared,
    # but a forged receipt still fails and a later revocation is still seen.
    env = ledger_env
    d = env.deployment
    facts = SnapshotChainFacts.load(env.client, d.registry, d.ledger, d.block_number)
    loans = [env.stamp(env.new_loan()), env.stamp(env.new_loan(guarantor=False))]
    batch = env.chain.anchor_batch(env.gateway_account, loans)
    receipts = env.chain.batch_receipts(batch)
    assert not verify_receipt(
        receipts[0], env.client, trust=env.trust, facts=facts, raise_on_failure=False
    ).ok  # the snapshot was taken before this batch: "not anchored as of block N"
    facts.follow(env.client)
    for receipt in [*receipts, *env.batch_receipts]:
        assert verify_receipt(
            receipt, env.client, trust=env.trust, document=env.document, facts=facts
        ).ok
    forged_root = tampered(
        receipts[0], lambda d: d["anchor"].__setitem__("root", env.batch_receipts[0].anchor.root)
    )
    with pytest.raises(VerificationError) as info:
        verify_receipt(forged_root, env.client, trust=env.trust, document=env.document, facts=facts)
    assert info.value.check == "proof"
    forged_time = tampered(
        receipts[1], lambda d: d["anchor"].__setitem__("block_time", d["anchor"]["block_time"] - 1)
    )
    with pytest.raises(VerificationError) as info:
        verify_receipt(forged_time, env.client, trust=env.trust, document=env.document, facts=facts)
    assert info.value.check == "anchor"
    _retire(
        env, loans[1], inclusion=(batch.root, loans[1].signatures_hash, batch.tree.get_proof(1))
    )
    assert verify_receipt(receipts[1], env.client, trust=env.trust, facts=facts).ok  # as of then
    facts.follow(env.client)
    with pytest.raises(VerificationError) as info:
        verify_receipt(receipts[1], env.client, trust=env.trust, document=env.document, facts=facts)
    assert (info.value.check, info.value.code) == ("status", "VERIFY_RECORD_REVOKED")
    assert verify_receipt(
        receipts[0], env.client, trust=env.trust, document=env.document, facts=facts
    ).ok


def _client_with_chain_id(chain_id: int) -> ChainClient:
    endpoints = {namespace: dict(methods) for namespace, methods in API_ENDPOINTS.items()}
    endpoints["eth"]["chainId"] = lambda *_args, **_kwargs: chain_id
    return ChainClient(Web3(EthereumTesterProvider(api_endpoints=endpoints)))


def test_wrong_chain_fails_the_deployment_check(ledger_env: LedgerEnv) -> None:
    other = _client_with_chain_id(31337)  # a second eth-tester chain, another chain id
    assert other.chain_id == 31337 != ledger_env.deployment.chain_id
    for receipt in (ledger_env.batch_receipts[0], ledger_env.per_record_receipt):
        assert receipt is not None
        error = fails_at(ledger_env, receipt, "deployment", "VERIFY_WRONG_CHAIN", client=other)
        assert "31337" in str(error)


def test_same_chain_id_without_the_deployment_is_a_verification_error(
    ledger_env: LedgerEnv, batch_receipts: list[Receipt]
) -> None:
    fresh = ChainClient(Web3(EthereumTesterProvider()))  # same default chain id, empty chain
    assert fresh.chain_id == ledger_env.deployment.chain_id
    report = verify_receipt(
        batch_receipts[0],
        fresh,
        trust=ledger_env.trust,
        document=ledger_env.document,
        raise_on_failure=False,
    )
    assert not report.ok
    assert report.first_failure is not None and report.first_failure.name == "deployment"
    # unpinned, the receipt's own addresses lead nowhere on that chain either
    unpinned = verify_receipt(
        batch_receipts[0], fresh, trust=None, document=ledger_env.document, raise_on_failure=False
    )
    assert {"signatures", "anchor"} <= set(unpinned.failed)


# ----------------------------------------------------------------------- OpenZeppelin (node)

OZ_VERIFY = """
import merkle from '@openzeppelin/merkle-tree';
const { StandardMerkleTree } = merkle;
const cases = JSON.parse(process.argv[1]);
process.stdout.write(JSON.stringify(
  cases.map(c => StandardMerkleTree.verify(c.root, c.types, c.values, c.proof))));
"""


def _node_or_skip() -> str:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "@openzeppelin" / "merkle-tree").is_dir():
        pytest.skip("node and @openzeppelin/merkle-tree are needed")
    return node


@pytest.mark.node
def test_receipt_proofs_verify_with_openzeppelin_js(batch_receipts: list[Receipt]) -> None:
    node = _node_or_skip()
    cases = []
    for receipt in batch_receipts:
        leaf = receipt.anchor.leaf
        assert leaf is not None
        case = {
            "root": receipt.anchor.root,
            "types": leaf.types,
            "values": leaf.values,
            "proof": receipt.anchor.proof,
        }
        cases.append(case)
        # a negative control, so a verifier that says yes to everything cannot pass
        cases.append(
            {**case, "proof": [flip_hex(receipt.anchor.proof[0], 3), *receipt.anchor.proof[1:]]}
        )
    out = subprocess.run(
        [node, "--input-type=module", "-e", OZ_VERIFY, json.dumps(cases)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == [True, False] * len(batch_receipts)


@pytest.mark.node
def test_openzeppelin_builds_the_anchored_root(batch_receipts: list[Receipt]) -> None:
    # scripts/oz_merkle.mjs (the Merkle engineer's reference script) rebuilds the batch tree from
    # the receipts' leaf values: same root, same leaf hashes, same proofs.
    node = _node_or_skip()
    values = [r.anchor.leaf.values for r in batch_receipts if r.anchor.leaf is not None]
    out = subprocess.run(
        [node, str(ROOT / "scripts" / "oz_merkle.mjs")],
        input=json.dumps({"types": list(LEAF_TYPES), "values": values}),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result = json.loads(out.stdout)
    assert "error" not in result, result
    assert result["verified"] is True
    assert {r.anchor.root for r in batch_receipts} == {result["root"]}
    for i, receipt in enumerate(batch_receipts):
        assert receipt.anchor.leaf is not None
        assert result["leafHashes"][i] == receipt.anchor.leaf.hash
        assert result["proofs"][i] == receipt.anchor.proof
