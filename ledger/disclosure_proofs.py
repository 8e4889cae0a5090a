"""Selective disclosure of a fee disclosure form (`fee-disclosure/v2`): each field is committed
on its own, so it can be shown alone with a proof against the anchored disclosure digest.

The scheme (docs/selective-disclosure.md):

* leaves: one per scalar field of the form's JSON (string, integer, boolean, null), at its
  RFC 6901 JSON Pointer path (``/principal``, ``/fees/0/charges/1/amount``); and one per array,
  at the array's own path, with the value ``{"length": n}``, so that a disclosed list is known
  to be the whole list (and an empty list is committed too);
* a leaf's value is the RFC 8785 canonical JSON of the field's value, as a string; its salt is
  ``HMAC-SHA-256(seed, path)`` (32 bytes; revealing one salt reveals nothing of another);
* leaf hash = OpenZeppelin ``StandardMerkleTree`` leaf of ``(string path, string value,
  bytes32 salt)``: ``keccak256(bytes.concat(keccak256(abi.encode(path, value, salt))))``;
* the form's digest (the record's ``disclosure_digest``) = the root of ``StandardMerkleTree.of``
  over the leaves (sorted by hash, OZ's default), so ``MerkleProof.multiProofVerify`` checks a
  disclosure's multiproof on chain or with any OZ tool.

`fee-disclosure/v1` forms keep SHA-256 of their canonical JSON (`FeeDisclosure.digest`); they were
not committed field by field and cannot be disclosed selectively.

The seed of a form is ``HMAC-SHA-256(derivation key, tag || SHA-256(canonical form))``
(`derive_seed`): reproducible by the gateway (so a prepared record and the submitted one agree),
unguessable without its key, and kept sealed per record so that key rotation loses no form.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger.canonical import canonical_json
from ledger.disclosure import FORMAT_V1, FORMAT_V2, FeeDisclosure
from ledger.errors import Conflict, InputError, MerkleError, VerificationError
from ledger.merkle import StandardMerkleTree, leaf_hash, process_multiproof
from ledger.records import Bytes32Hex

__all__ = [
    "CHECK",
    "DISCLOSURE_FORMAT",
    "LEAF_ENCODING",
    "DisclosedField",
    "Disclosure",
    "derive_seed",
    "disclose",
    "form_digest",
    "form_leaves",
    "json_pointer",
    "leaf_salt",
    "verify_disclosure",
]

#: the ABI types of a leaf, as OpenZeppelin's StandardMerkleTree takes them
LEAF_ENCODING = ("string", "string", "bytes32")
DISCLOSURE_FORMAT = "fee-disclosure-proof/v1"
#: the name of the verification check a bad disclosure fails
CHECK = "disclosure_fields"
_SEED_TAG = b"loan-evidence-ledger/fee-disclosure-seed/v2"
#: paths that name the whole form
_WHOLE = ("", "/")


def json_pointer(segments: Iterable[str | int]) -> str:
    """RFC 6901 pointer of a list of keys and indices (``~`` → ``~0``, ``/`` → ``~1``)."""
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in segments)


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, path + json_pointer([key]), out)
    elif isinstance(value, list):
        out[path] = {"length": len(value)}
        for index, item in enumerate(value):
            _flatten(item, f"{path}/{index}", out)
    else:
        out[path] = value


def form_leaves(form: FeeDisclosure) -> dict[str, Any]:
    """The leaves' (path -> value) of a form, in document order (arrays as ``{"length": n}``)."""
    out: dict[str, Any] = {}
    _flatten(form.as_json(), "", out)
    return out


def leaf_salt(seed: bytes, path: str) -> bytes:
    """The salt of the leaf at `path`: HMAC-SHA-256(seed, UTF-8 path)."""
    return hmac.new(seed, path.encode("utf-8"), hashlib.sha256).digest()


def _value_text(value: Any) -> str:
    return canonical_json(value).decode("utf-8")


def derive_seed(key: bytes, form: FeeDisclosure) -> bytes:
    """The seed of a form's salts: HMAC-SHA-256(key, tag || SHA-256(canonical form))."""
    if len(key) < 32:
        raise InputError("the derivation key must be at least 32 bytes")
    material = _SEED_TAG + hashlib.sha256(form.canonical()).digest()
    return hmac.new(key, material, hashlib.sha256).digest()


def _require_v2(form: FeeDisclosure) -> None:
    if form.format != FORMAT_V2:
        raise Conflict(
            f"the form is {form.format}: it was hashed whole (SHA-256 of its canonical JSON), not"
            " committed field by field, so its fields cannot be disclosed one by one",
            code="DISCLOSURE_NOT_SELECTIVE",
        )


def _check_seed(seed: bytes) -> None:
    if len(seed) != 32:
        raise InputError("a disclosure seed is 32 bytes")


def _tree(form: FeeDisclosure, seed: bytes) -> tuple[StandardMerkleTree, list[str], list[Any]]:
    _require_v2(form)
    _check_seed(seed)
    leaves = form_leaves(form)
    paths = list(leaves)
    values = [[p, _value_text(leaves[p]), leaf_salt(seed, p)] for p in paths]
    return StandardMerkleTree.of(values, LEAF_ENCODING), paths, list(leaves.values())


def form_digest(form: FeeDisclosure, seed: bytes | None = None) -> bytes:
    """The record's disclosure digest of a form: v1, SHA-256 of its canonical JSON; v2, the
    Merkle root of its salted leaves (needs the seed)."""
    if form.format == FORMAT_V1:
        return hashlib.sha256(form.canonical()).digest()
    if seed is None:
        raise InputError("the digest of a fee-disclosure/v2 form needs its seed")
    return _tree(form, seed)[0].root


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DisclosedField(_Model):
    """One disclosed leaf: its path, its value (as committed) and its salt."""

    path: str = Field(max_length=1000, description="RFC 6901 JSON Pointer into the form")
    value: Any = Field(description='the field\'s value (an array: {"length": n})')
    salt: Bytes32Hex = Field(description="HMAC-SHA-256(seed, path)")


class Disclosure(_Model):
    """Some fields of a v2 fee disclosure form, with the OpenZeppelin multiproof that ties them to
    the form's digest; the other fields stay hidden (neither value nor salt is here)."""

    format: Literal["fee-disclosure-proof/v1"] = "fee-disclosure-proof/v1"
    form_format: Literal["fee-disclosure/v2"] = "fee-disclosure/v2"
    record_id: Bytes32Hex | None = Field(default=None, description="the loan record's id")
    disclosure_digest: Bytes32Hex = Field(description="the Merkle root: the record's digest")
    leaf_encoding: tuple[str, str, str] = LEAF_ENCODING
    leaf_count: int = Field(ge=1, lt=2**32, description="leaves of the form (as stated)")
    fields: tuple[DisclosedField, ...] = Field(
        min_length=1,
        max_length=100_000,
        description="the disclosed leaves, in the multiproof's leaf order",
    )
    proof: tuple[Bytes32Hex, ...] = Field(max_length=100_000)
    proof_flags: tuple[bool, ...] = Field(max_length=200_000)
    receipt: dict[str, Any] | None = Field(
        default=None, description="the record's receipt, to tie the digest to the chain"
    )

    def values(self) -> dict[str, Any]:
        return {f.path: f.value for f in self.fields}


def _selected(paths_of_form: Sequence[str], wanted: Iterable[str]) -> list[int]:
    chosen: set[int] = set()
    for want in wanted:
        if want in _WHOLE:
            chosen.update(range(len(paths_of_form)))
            continue
        hits = [i for i, p in enumerate(paths_of_form) if p == want or p.startswith(want + "/")]
        if not hits:
            raise InputError(
                f"the form has no field {want!r} (JSON Pointer paths such as /fees or"
                " /stated_apr_bps)",
                code="DISCLOSURE_UNKNOWN_PATH",
            )
        chosen.update(hits)
    return sorted(chosen)


def disclose(
    form: FeeDisclosure, seed: bytes, paths: Iterable[str], *, record_id: str | None = None
) -> Disclosure:
    """The disclosure of the leaves at or under `paths` (a path names a field or a subtree;
    ``/`` the whole form). `DISCLOSURE_UNKNOWN_PATH` for a path that names nothing,
    `DISCLOSURE_NOT_SELECTIVE` (Conflict) for a v1 form."""
    tree, paths_of_form, values = _tree(form, seed)
    wanted = list(paths)
    if not wanted:
        raise InputError("name at least one field to disclose", code="DISCLOSURE_UNKNOWN_PATH")
    indices = _selected(paths_of_form, wanted)
    multi = tree.get_multiproof(indices)
    value_of = dict(zip(paths_of_form, values, strict=True))
    fields = tuple(
        DisclosedField(path=leaf[0], value=value_of[leaf[0]], salt=_hex(leaf[2]))
        for leaf in multi.leaves
    )
    return Disclosure(
        record_id=record_id,
        disclosure_digest=_hex(tree.root),
        leaf_count=len(paths_of_form),
        fields=fields,
        proof=tuple(_hex(p) for p in multi.proof),
        proof_flags=tuple(multi.proof_flags),
    )


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _fail(message: str) -> VerificationError:
    return VerificationError(CHECK, message, code="VERIFY_DISCLOSURE_FIELDS")


def verify_disclosure(
    disclosure: Disclosure | Mapping[str, Any], expected_digest: bytes | str
) -> dict[str, Any]:
    """The disclosed values (path -> value) if the multiproof of `disclosure` leads from its
    fields to `expected_digest`; `VerificationError` (check `disclosure_fields`) otherwise."""
    if not isinstance(disclosure, Disclosure):
        try:
            disclosure = Disclosure.model_validate(disclosure)
        except ValueError as exc:
            raise _fail(f"not a disclosure: {exc}") from exc
    expected = expected_digest if isinstance(expected_digest, bytes) else _b32(expected_digest)
    if _b32(disclosure.disclosure_digest) != expected:
        raise _fail(
            f"the disclosure is of digest {disclosure.disclosure_digest}, not {_hex(expected)}"
        )
    paths = [f.path for f in disclosure.fields]
    if len(set(paths)) != len(paths):
        raise _fail("a path is disclosed twice")
    if len(paths) > disclosure.leaf_count:
        raise _fail(f"{len(paths)} fields disclosed of a form said to have {disclosure.leaf_count}")
    try:
        leaves = [
            leaf_hash(LEAF_ENCODING, [f.path, _value_text(f.value), _b32(f.salt)])
            for f in disclosure.fields
        ]
        root = process_multiproof(
            leaves, [_b32(p) for p in disclosure.proof], list(disclosure.proof_flags)
        )
    except (MerkleError, InputError) as exc:
        raise _fail(f"malformed disclosure: {exc}") from exc
    if root != expected:
        raise _fail(
            "the disclosed fields and the multiproof do not lead to the digest: a value, salt,"
            " path or proof element was changed"
        )
    return disclosure.values()


def _b32(text: str) -> bytes:
    return bytes.fromhex(text[2:])
