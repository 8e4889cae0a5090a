"""RFC 8785 canonical JSON, streamed document digests and borrower commitments."""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import (
    CHUNK_SIZE,
    COMMITMENT_TAG,
    borrower_commitment,
    canonical_digest,
    canonical_json,
    digest_bytes,
    digest_chunks,
    digest_file,
    digest_stream,
    new_salt,
)
from ledger.errors import InputError

# ------------------------------------------------------------------ RFC 8785 known answers

# RFC 8785 section 3.2.3 (sorting of object properties): keys are sorted by their UTF-16 code
# units, so the emoji (surrogate pair D83D DE00) sorts before U+FB33.
RFC8785_SORTING_INPUT = """{
  "\\u20ac": "Euro Sign",
  "\\r": "Carriage Return",
  "\\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\\ud83d\\ude00": "Emoji: Grinning Face",
  "\\u0080": "Control",
  "\\u00f6": "Latin Small Letter O With Diaeresis"
}"""
RFC8785_SORTING_OUTPUT = (
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
    '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
    '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
).encode()

# RFC 8785 section 3.2.2 (the string and literals of its example; its numbers are floats, which
# this library refuses): only ", \ and control characters are escaped, \u escapes are lowercase,
# "/" is not escaped, everything else is raw UTF-8.
RFC8785_STRING_INPUT = '{"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}'
RFC8785_STRING_OUTPUT = (
    '{"literals":[null,true,false],"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
).encode()

# Test data of the reference implementation (github.com/cyberphone/json-canonicalization,
# testdata/input and testdata/output), with structures.json's 56.0 written as the integer 56.
CYBERPHONE_VECTORS = [
    (
        '{"1": {"f": {"f": "hi","F": 5} ,"\\n": 56},"10": { },"": "empty","a": { },"111": [ { } ],"A": { }}',
        '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}',
    ),
    ('[56, {"d": true, "10": null, "1": [ ]}]', '[56,{"1":[],"10":null,"d":true}]'),
    (
        '{"peach": "This sorting order", "p\u00e9ch\u00e9": "is wrong according to French",'
        ' "p\u00eache": "but canonicalization MUST", "sin": "ingnore locale"}',
        '{"peach":"This sorting order","p\u00e9ch\u00e9":"is wrong according to French",'
        '"p\u00eache":"but canonicalization MUST","sin":"ingnore locale"}',
    ),
    (
        '{"\\u20ac": "Euro Sign", "1": "One", "\\u0080": "Control\\u007f", "\\ud83d\\ude02": "Smiley",'
        ' "\\u00f6": "Latin Small Letter O With Diaeresis", "\\ufb33": "Hebrew Letter Dalet With Dagesh",'
        ' "</script>": "Browser Challenge"}',
        '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\U0001f602":"Smiley",'
        '"\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    ),
    # canonicalization does not normalize Unicode (unicode.json)
    ('{"Unnormalized Unicode":"\\u1e0d\\u0307"}', '{"Unnormalized Unicode":"\u1e0d\u0307"}'),
]


def test_rfc8785_property_sorting_example() -> None:
    assert canonical_json(json.loads(RFC8785_SORTING_INPUT)) == RFC8785_SORTING_OUTPUT


def test_rfc8785_string_escaping_example() -> None:
    assert canonical_json(json.loads(RFC8785_STRING_INPUT)) == RFC8785_STRING_OUTPUT


@pytest.mark.parametrize(("source", "expected"), CYBERPHONE_VECTORS)
def test_reference_implementation_vectors(source: str, expected: str) -> None:
    assert canonical_json(json.loads(source)) == expected.encode("utf-8")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # control characters: the five short escapes, \u00xx (lowercase hex) for the rest;
        # DEL and U+2028/U+2029 are not escaped
        ("\b\t\n\f\r", b'"\\b\\t\\n\\f\\r"'),
        ("\x00\x01\x1f", b'"\\u0000\\u0001\\u001f"'),
        ("\x7f\u2028\u2029", '"\x7f\u2028\u2029"'.encode()),
        ('"\\/', b'"\\"\\\\/"'),
        ("借款合同", '"借款合同"'.encode()),
        ("\U0001f600", b'"\xf0\x9f\x98\x80"'),
    ],
)
def test_string_escaping(value: str, expected: bytes) -> None:
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"0"),
        (-0, b"0"),
        (1, b"1"),
        (-1, b"-1"),
        (100, b"100"),
        (1_200_000, b"1200000"),
        (2**53 - 1, b"9007199254740991"),
        (-(2**53 - 1), b"-9007199254740991"),
        (True, b"true"),
        (False, b"false"),
        (None, b"null"),
        ([], b"[]"),
        ({}, b"{}"),
        ((1, "a"), b'[1,"a"]'),
    ],
)
def test_integers_and_literals(value: Any, expected: bytes) -> None:
    assert canonical_json(value) == expected


@pytest.mark.parametrize("value", [2**53, -(2**53), 2**64, 10**30])
def test_integers_beyond_ijson_are_refused(value: int) -> None:
    # RFC 8785 numbers are IEEE 754 doubles: only integers of magnitude < 2^53 are exact.
    with pytest.raises(InputError):
        canonical_json({"amount": value})


def test_key_order_whitespace_and_nesting_do_not_matter() -> None:
    a = {"b": [1, {"y": 2, "x": 1}], "a": "€", "c": {"z": None, "é": True}}
    b = json.loads('{ "c" : {"\\u00e9":true , "z":null}, "a":"\\u20ac", "b":[1,{"x":1,"y":2}] }')
    assert (
        canonical_json(a)
        == canonical_json(b)
        == '{"a":"€","b":[1,{"x":1,"y":2}],"c":{"z":null,"é":true}}'.encode()
    )
    assert canonical_digest(a) == canonical_digest(b) == hashlib.sha256(canonical_json(a)).digest()


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        0.5,
        float("nan"),
        float("inf"),
        {"apr": 18.2},
        {"nested": {"list": [1, 2, {"rate": 0.1}]}},
        [1, 2, 3.0],
        {"tuple": (1, 2.5)},
    ],
    ids=["1.0", "0.5", "nan", "inf", "top", "nested", "list", "tuple"],
)
def test_floats_are_refused(value: Any) -> None:
    with pytest.raises(InputError, match="float"):
        canonical_json(value)
    with pytest.raises(InputError):
        canonical_digest(value)


@pytest.mark.parametrize(
    "value",
    [{1: "int key"}, b"bytes", {"s": {1, 2}}, {"lone": "\ud800"}, object()],
    ids=["int-key", "bytes", "set", "lone-surrogate", "object"],
)
def test_non_json_values_are_input_errors(value: Any) -> None:
    with pytest.raises(InputError):
        canonical_json(value)


SAFE_INT = st.integers(-(2**53) + 1, 2**53 - 1)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | SAFE_INT | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(value=JSON_VALUES)
def test_canonical_form_round_trips(value: Any) -> None:
    text = canonical_json(value)
    parsed = json.loads(text)
    assert parsed == value
    assert canonical_json(parsed) == text
    assert canonical_digest(parsed) == hashlib.sha256(text).digest()


@settings(max_examples=100, deadline=None)
@given(
    value=st.dictionaries(st.text(max_size=6), SAFE_INT, max_size=8),
    seed=st.randoms(use_true_random=False),
)
def test_canonical_form_ignores_insertion_order(value: dict[str, int], seed: Any) -> None:
    items = list(value.items())
    seed.shuffle(items)
    assert canonical_json(dict(items)) == canonical_json(value)


# ------------------------------------------------------------------------ streaming digests

BOUNDARY_SIZES = [
    0,
    1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    2 * CHUNK_SIZE,
    2 * CHUNK_SIZE + 17,
]


def _data(size: int) -> bytes:
    block = hashlib.sha256(size.to_bytes(8, "big")).digest() * 2048  # 64 KiB, size-dependent
    return (block * (size // len(block) + 1))[:size]


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_stream_and_file_digests_equal_hashlib_at_chunk_boundaries(
    size: int, tmp_path: Path
) -> None:
    data = _data(size)
    expected = hashlib.sha256(data).digest()
    assert CHUNK_SIZE == 1 << 20
    assert digest_bytes(data) == expected
    assert digest_stream(io.BytesIO(data)) == expected
    path = tmp_path / "document.pdf"
    path.write_bytes(data)
    assert digest_file(path) == expected
    assert digest_file(str(path)) == expected
    assert (
        digest_chunks(data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)) == expected
    )


class _TrickleReader(io.RawIOBase):
    """A stream that returns at most `step` bytes per read (a socket, a pipe)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._step if size < 0 else min(size, self._step)
        chunk = bytes(self._data[self._pos : self._pos + n])
        self._pos += len(chunk)
        return chunk


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(0, 3 * CHUNK_SIZE),
    chunk_size=st.sampled_from([1 << 10, 4096, 65_537, CHUNK_SIZE]),
    cuts=st.lists(st.integers(0, 3 * CHUNK_SIZE), max_size=8),
)
def test_digests_equal_hashlib_for_random_sizes(
    size: int, chunk_size: int, cuts: list[int]
) -> None:
    data = _data(size)
    expected = hashlib.sha256(data).digest()
    assert digest_stream(io.BytesIO(data), chunk_size) == expected
    points = sorted({0, size, *(c for c in cuts if c <= size)})
    assert digest_chunks(data[a:b] for a, b in itertools.pairwise(points)) == expected


def test_short_reads_do_not_end_the_stream_early() -> None:
    data = _data(CHUNK_SIZE + 12_345)
    assert digest_stream(_TrickleReader(data, 100_000)) == hashlib.sha256(data).digest()


# ---------------------------------------------------------------------- borrower commitments

KEY = bytes(range(32))
SALT = bytes(range(100, 116))
ID_NUMBER = "11010119900307123X"


def test_commitment_is_deterministic_and_32_bytes() -> None:
    a = borrower_commitment(KEY, "居民身份证", ID_NUMBER, SALT)
    assert a == borrower_commitment(KEY, "居民身份证", ID_NUMBER, SALT)
    assert len(a) == 32


def test_commitment_is_hmac_sha256_of_the_length_prefixed_parts() -> None:
    parts = [COMMITMENT_TAG, b"ID", ID_NUMBER.encode(), SALT]
    message = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    assert (
        borrower_commitment(KEY, "id", ID_NUMBER, SALT)
        == hmac.new(KEY, message, hashlib.sha256).digest()
    )


@pytest.mark.parametrize(
    "spelling",
    [
        "１１０１０１１９９００３０７１２３Ｘ",  # full-width digits and letter (NFKC)
        "１１０１０１１９９００３０７１２３ｘ",  # full-width lowercase x
        "11010119900307123x",  # lowercase check letter
        " 110101 19900307 123X ",  # spaces
        "110101\u300019900307123X",  # ideographic space (NFKC -> space)
    ],
)
def test_commitment_normalizes_width_case_and_spaces(spelling: str) -> None:
    expected = borrower_commitment(KEY, "居民身份证", ID_NUMBER, SALT)
    assert borrower_commitment(KEY, "居民身份证", spelling, SALT) == expected


def test_commitment_normalizes_the_id_type() -> None:
    assert borrower_commitment(KEY, "passport", "e12345678", SALT) == borrower_commitment(
        KEY, "ＰＡＳＳＰＯＲＴ", "E12345678", SALT
    )


def test_commitment_depends_on_salt_key_identity_and_type() -> None:
    base = borrower_commitment(KEY, "居民身份证", ID_NUMBER, SALT)
    assert borrower_commitment(KEY, "居民身份证", ID_NUMBER, bytes(16)) != base
    assert borrower_commitment(bytes(32), "居民身份证", ID_NUMBER, SALT) != base
    assert borrower_commitment(KEY, "居民身份证", "110101199003071230", SALT) != base
    assert borrower_commitment(KEY, "护照", ID_NUMBER, SALT) != base
    # the length prefixes keep the boundary between type and number
    assert borrower_commitment(KEY, "AB", "C", SALT) != borrower_commitment(KEY, "A", "BC", SALT)


@settings(max_examples=50, deadline=None)
@given(salts=st.lists(st.binary(min_size=16, max_size=32), min_size=2, max_size=6, unique=True))
def test_different_salts_give_different_commitments(salts: list[bytes]) -> None:
    commitments = {borrower_commitment(KEY, "居民身份证", ID_NUMBER, s) for s in salts}
    assert len(commitments) == len(salts)


def test_new_salts_are_16_random_bytes() -> None:
    salts = {new_salt() for _ in range(50)}
    assert len(salts) == 50
    assert all(len(s) == 16 for s in salts)


@pytest.mark.parametrize("key_length", [0, 16, 31])
def test_short_key_is_refused(key_length: int) -> None:
    with pytest.raises(InputError, match="key"):
        borrower_commitment(bytes(key_length), "居民身份证", ID_NUMBER, SALT)


@pytest.mark.parametrize("salt_length", [0, 8, 15])
def test_short_salt_is_refused(salt_length: int) -> None:
    with pytest.raises(InputError, match="salt"):
        borrower_commitment(KEY, "居民身份证", ID_NUMBER, bytes(salt_length))


@pytest.mark.parametrize(
    ("id_type", "id_number"), [("居民身份证", ""), ("居民身份证", "   "), ("", ID_NUMBER)]
)
def test_empty_identity_is_refused(id_type: str, id_number: str) -> None:
    with pytest.raises(InputError):
        borrower_commitment(KEY, id_type, id_number, SALT)


# The fast path (the C JSON encoder for ASCII keys and double-safe integers) must write exactly
# what rfc8785 writes, and refuse exactly what it refuses.
_texts = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z", "Cc"]), max_size=6
) | st.sampled_from(["", "\u2028", "\x7f", "é", "😀", "\ufeff", "\ud800", '"\\/'])
_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**54), max_value=2**54) | _texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_texts, children, max_size=4),
    max_leaves=40,
)


@settings(max_examples=600, deadline=None)
@given(value=_json)
def test_fast_canonical_json_is_exactly_rfc8785(value: object) -> None:
    try:
        expected: bytes | None = bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, ValueError):
        expected = None
    if expected is None:
        with pytest.raises(InputError):
            canonical_json(value)
    else:
        assert canonical_json(value) == expected


@settings(max_examples=150, deadline=None)
@given(
    principal=st.integers(min_value=10_000, max_value=10**15),
    lender=st.text(min_size=1, max_size=12).filter(lambda s: s.strip() and "\ud800" not in s),
    months=st.integers(min_value=1, max_value=36),
)
def test_canonical_json_of_a_form_model_is_rfc8785(
    principal: int, lender: str, months: int
) -> None:
    from datetime import UTC, date, datetime
    from fractions import Fraction

    from ledger.canonical import canonical_model_json
    from ledger.testing import build_disclosure

    try:
        form = build_disclosure(
            principal,
            months,
            Fraction(1, 100),
            date(2026, 3, 15),
            lender=lender,
            confirmed_at=datetime(2026, 3, 14, tzinfo=UTC),
        )
    except Exception:  # forms the engine refuses are not the point here
        return
    try:
        expected: bytes | None = bytes(rfc8785.dumps(form.as_json()))
    except (rfc8785.CanonicalizationError, ValueError):
        expected = None  # beyond 2^53 - 1: refused both ways
    if expected is None:
        with pytest.raises(InputError):
            canonical_model_json(form)
    else:
        assert canonical_model_json(form) == expected
