"""Selective disclosure of fee forms (ledger.disclosure_proofs): any subset of fields discloses
and verifies, any change fails `disclosure_fields`, hidden fields leave no trace, the digest is
OpenZeppelin's StandardMerkleTree root (cross-checked with the JS library), v1 stays SHA-256."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import canonical_json
from ledger.disclosure import FeeDisclosure
from ledger.disclosure_proofs import (
    LEAF_ENCODING,
    Disclosure,
    derive_seed,
    disclose,
    form_digest,
    form_leaves,
    json_pointer,
    leaf_salt,
    verify_disclosure,
)
from ledger.errors import Conflict, InputError, VerificationError
from ledger.service.models import LoanSubmission
from ledger.testing import build_disclosure
from tests.unit.test_merkle import run_oz

SEED = bytes(range(32))


def _form(months: int = 3, upfront: int = 1_000, guarantee: int = 500) -> FeeDisclosure:
    form = build_disclosure(
        1_000_000,
        months,
        Fraction(1, 100),
        date(2026, 9, 1),
        lender="Lender ~/ 甲",
        upfront_fee=upfront,
        guarantee_fee_per_month=guarantee,
        confirmed_at=datetime(2026, 8, 31, tzinfo=UTC),
    )
    return form.model_copy(update={"format": "fee-disclosure/v2"})


forms = st.builds(
    _form,
    months=st.integers(1, 13),
    upfront=st.sampled_from([0, 1, 12_345]),
    guarantee=st.sampled_from([0, 700]),
)


@st.composite
def form_and_paths(draw: st.DrawFn) -> tuple[FeeDisclosure, list[str]]:
    form = draw(forms)
    leaves = list(form_leaves(form))
    prefixes = sorted({p.rsplit("/", 1)[0] for p in leaves if p.count("/") > 1})
    chosen = draw(st.lists(st.sampled_from(leaves + prefixes), min_size=1, max_size=8))
    return form, chosen


def _covered(path: str, chosen: list[str]) -> bool:
    return any(path == c or path.startswith(c + "/") for c in chosen)


@settings(max_examples=60, deadline=None)
@given(case=form_and_paths(), seed=st.binary(min_size=32, max_size=32))
def test_any_subset_of_paths_discloses_and_verifies(
    case: tuple[FeeDisclosure, list[str]], seed: bytes
) -> None:
    form, chosen = case
    digest = form_digest(form, seed)
    d = disclose(form, seed, chosen)
    leaves = form_leaves(form)
    shown = verify_disclosure(d, digest)
    assert shown == {p: v for p, v in leaves.items() if _covered(p, chosen)}
    assert d.leaf_count == len(leaves)
    # hidden fields: neither their path, value nor salt is in the disclosure
    text = d.model_dump_json()
    for path in leaves:
        if not _covered(path, chosen):
            assert f'"{path}"' not in text
            assert leaf_salt(seed, path).hex() not in text
    # and it survives JSON
    assert verify_disclosure(json.loads(text), "0x" + digest.hex()) == shown


def _edits(d: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, new in (("value", "forged"), ("salt", "0x" + "ab" * 32), ("path", "/forged")):
        e = json.loads(json.dumps(d))
        e["fields"][0][key] = new
        out.append(e)
    if d["proof"]:
        e = json.loads(json.dumps(d))
        e["proof"][0] = "0x" + "cd" * 32
        out.append(e)
    e = json.loads(json.dumps(d))
    e["disclosure_digest"] = "0x" + "ee" * 32
    out.append(e)
    return out


@settings(max_examples=40, deadline=None)
@given(case=form_and_paths())
def test_a_changed_value_salt_path_or_proof_fails_disclosure_fields(
    case: tuple[FeeDisclosure, list[str]],
) -> None:
    form, chosen = case
    digest = form_digest(form, SEED)
    d = disclose(form, SEED, chosen).model_dump(mode="json")
    for forged in _edits(d):
        with pytest.raises(VerificationError) as info:
            verify_disclosure(forged, digest)
        assert (info.value.check, info.value.code) == (
            "disclosure_fields",
            "VERIFY_DISCLOSURE_FIELDS",
        )


def test_a_disclosure_verifies_only_against_its_own_digest() -> None:
    form = _form()
    d = disclose(form, SEED, ["/stated_apr_bps"])
    other = form_digest(form, bytes(32))
    with pytest.raises(VerificationError):
        verify_disclosure(d, other)
    assert form_digest(form, bytes(32)) != form_digest(form, SEED)


def test_leaves_are_paths_of_scalars_and_array_lengths() -> None:
    form = _form(months=2, upfront=0, guarantee=0)
    leaves = form_leaves(form)
    assert leaves["/fees"] == {"length": 0}
    assert leaves["/schedule"] == {"length": 2}
    assert leaves["/schedule/1/principal"] == form.schedule[1].principal
    assert leaves["/confirmation/reading_seconds"] == 15
    assert leaves["/format"] == "fee-disclosure/v2"
    assert json_pointer(["a/b", "c~d", 3]) == "/a~1b/c~0d/3"
    assert all(not isinstance(v, list) for v in leaves.values())


def test_the_leaf_encoding_is_openzeppelins_standard_leaf() -> None:
    """keccak256(bytes.concat(keccak256(abi.encode(string path, string value, bytes32 salt)))),
    computed here with eth_abi, independently of ledger.merkle."""
    form = _form()
    d = disclose(form, SEED, ["/principal"])
    (field,) = d.fields
    value = canonical_json(field.value).decode()
    assert value == str(form.principal)
    salt = bytes.fromhex(field.salt[2:])
    assert salt == leaf_salt(SEED, "/principal")
    leaf = keccak(keccak(encode(list(LEAF_ENCODING), ["/principal", value, salt])))
    from ledger.merkle import leaf_hash

    assert leaf == leaf_hash(LEAF_ENCODING, ["/principal", value, salt])


@pytest.mark.node
def test_openzeppelin_merkle_tree_builds_the_same_root_and_checks_the_multiproof() -> None:
    form = _form()
    leaves = form_leaves(form)
    values = [
        [p, canonical_json(v).decode(), "0x" + leaf_salt(SEED, p).hex()] for p, v in leaves.items()
    ]
    paths = list(leaves)
    wanted = [i for i, p in enumerate(paths) if p.startswith("/fees") or p == "/stated_apr_bps"]
    (js,) = run_oz([{"types": list(LEAF_ENCODING), "values": values, "indices": [wanted]}])
    assert "error" not in js, js
    assert js["verified"] is True
    assert js["root"] == "0x" + form_digest(form, SEED).hex()
    d = disclose(form, SEED, ["/fees", "/stated_apr_bps"])
    (multi,) = js["multiproofs"]
    assert multi["proof"] == list(d.proof)
    assert multi["proofFlags"] == list(d.proof_flags)
    assert [leaf[0] for leaf in multi["leaves"]] == [f.path for f in d.fields]


def test_salts_are_independent_per_path_and_seed() -> None:
    salts = {leaf_salt(SEED, p) for p in form_leaves(_form())}
    assert len(salts) == len(form_leaves(_form()))
    assert leaf_salt(SEED, "/principal") != leaf_salt(bytes(32), "/principal")


def test_the_seed_derives_from_the_key_and_the_form() -> None:
    key = b"k" * 32
    a, b = _form(months=3), _form(months=4)
    assert derive_seed(key, a) == derive_seed(key, a)
    assert derive_seed(key, a) != derive_seed(key, b)
    assert derive_seed(key, a) != derive_seed(b"j" * 32, a)
    with pytest.raises(InputError):
        derive_seed(b"short", a)


def test_unknown_paths_and_empty_requests_are_refused() -> None:
    form = _form()
    for paths in (["/nope"], ["/fees/7"], ["/principal/x"], []):
        with pytest.raises(InputError) as info:
            disclose(form, SEED, paths)
        assert info.value.code == "DISCLOSURE_UNKNOWN_PATH"
    whole = disclose(form, SEED, ["/"])
    assert verify_disclosure(whole, form_digest(form, SEED)) == form_leaves(form)


def test_v1_forms_keep_sha256_and_are_not_selective() -> None:
    v1 = _form().model_copy(update={"format": "fee-disclosure/v1"})
    expected = hashlib.sha256(v1.canonical()).digest()
    assert v1.digest() == form_digest(v1) == form_digest(v1, SEED) == expected
    with pytest.raises(Conflict) as info:
        disclose(v1, SEED, ["/fees"])
    assert info.value.code == "DISCLOSURE_NOT_SELECTIVE"
    with pytest.raises(InputError):
        form_digest(_form())  # v2 needs its seed
    assert _form().digest(SEED) == form_digest(_form(), SEED)


def test_submissions_default_to_v2_unless_they_state_v1() -> None:
    form = _form().as_json()
    base = {"agreement_sha256": "00" * 32, "borrower_id": "x", "funder_id": 2}
    del form["format"]
    assert LoanSubmission.model_validate({**base, "disclosure": form}).disclosure.format == (
        "fee-disclosure/v2"
    )
    stated = {**form, "format": "fee-disclosure/v1"}
    assert LoanSubmission.model_validate({**base, "disclosure": stated}).disclosure.format == (
        "fee-disclosure/v1"
    )


def test_a_disclosure_must_disclose_something() -> None:
    d = disclose(_form(), SEED, ["/principal"]).model_dump(mode="json")
    with pytest.raises(VerificationError):
        verify_disclosure({**d, "fields": [], "proof": [d["disclosure_digest"]]}, SEED)
    with pytest.raises(ValueError):
        Disclosure.model_validate({**d, "fields": []})
