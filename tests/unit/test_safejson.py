"""The shape check on raw JSON bytes agrees with the real nesting depth and value count, and
`loads`, `canonical_json` and the recursion limit refuse what could exhaust the stack."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import canonical_json
from ledger.errors import InputError
from ledger.limits import (
    MAX_JSON_DEPTH,
    MAX_JSON_NUMBER_DIGITS,
    SAFE_RECURSION_LIMIT,
    restore_recursion_limit,
)
from ledger.safejson import JsonShapeError, check_json_shape, check_value_depth, loads


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def count_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(count_of(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(count_of(v) for v in value)
    return 1


# Strings full of the characters the scanner must not be fooled by.
tricky_text = st.text(alphabet=st.sampled_from('[]{}",\\:ab\n\u4e2d'), max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4)
    ),
    max_leaves=60,
)


@settings(max_examples=400, deadline=None)
@given(value=json_values, limit=st.integers(min_value=1, max_value=8))
def test_depth_verdict_matches_the_real_depth(value: Any, limit: int) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode()
    if depth_of(value) > limit:
        with pytest.raises(JsonShapeError) as info:
            check_json_shape(raw, max_depth=limit, max_elements=10**9)
        assert info.value.code == "JSON_TOO_DEEP"
    else:
        check_json_shape(raw, max_depth=limit, max_elements=10**9)


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_value_count_is_never_undercounted(value: Any) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode()
    n = count_of(value)
    check_json_shape(raw, max_depth=10**6, max_elements=2 * n)  # empty containers count twice
    with pytest.raises(JsonShapeError) as info:
        check_json_shape(raw, max_depth=10**6, max_elements=n - 1)
    assert info.value.code == "JSON_TOO_MANY_ELEMENTS"


def test_exactly_the_limit_passes_and_one_more_is_refused() -> None:
    check_json_shape(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    with pytest.raises(JsonShapeError, match="deeper"):
        check_json_shape(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "JSON_TOO_DEEP"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "JSON_TOO_DEEP"),
        (b"[" * 100_000, "JSON_TOO_DEEP"),
        (b"[]" * 40 + b"[[]" * 20, "INVALID_INPUT"),
        (b'["abc' + b"[" * 100, "INVALID_INPUT"),
        (b"[" + b"0," * 2_000_001 + b"0]", "JSON_TOO_MANY_ELEMENTS"),
        (b'{"a": ' + b"9" * 81 + b"}", "JSON_NUMBER_TOO_LONG"),
        (b'{"a": -' + b"9" * 100_000 + b"}", "JSON_NUMBER_TOO_LONG"),
        (b'{"a": 1.' + b"0" * 81 + b"}", "JSON_NUMBER_TOO_LONG"),
    ],
)
def test_hostile_shapes_are_refused_with_their_code(raw: bytes, code: str) -> None:
    with pytest.raises(JsonShapeError) as info:
        check_json_shape(raw)
    assert info.value.code == code


def test_the_longest_number_passes_and_digits_inside_strings_do_not_count() -> None:
    check_json_shape(b'{"a": ' + str(2**256 - 1).encode() + b"}")
    check_json_shape(b'{"a": ' + b"9" * MAX_JSON_NUMBER_DIGITS + b"}")
    raw = json.dumps({"note": "7" * 10_000, "n": 12}).encode()
    check_json_shape(raw)
    assert loads(raw)["note"] == "7" * 10_000


def test_brackets_inside_strings_do_not_count() -> None:
    raw = json.dumps({"note": "[" * 10_000, "escaped": '\\"[[[[' * 1000}).encode()
    check_json_shape(raw)
    assert loads(raw)["note"] == "[" * 10_000


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"a": NaN}', "INVALID_INPUT"),
        (b'{"a": Infinity}', "INVALID_INPUT"),
        (b'{"a": "\xff"}', "INVALID_UTF8"),
        (b'{"a": ', "INVALID_INPUT"),
    ],
)
def test_loads_refuses_what_is_not_strict_json(raw: bytes, code: str) -> None:
    with pytest.raises(InputError) as info:
        loads(raw)
    assert info.value.code == code


def test_parsed_values_are_depth_checked_without_recursion() -> None:
    deep: Any = 0
    for _ in range(200_000):
        deep = [deep]
    with pytest.raises(JsonShapeError):
        check_value_depth(deep)
    with pytest.raises(InputError) as info:
        canonical_json({"disclosure": deep})
    assert info.value.code == "JSON_TOO_DEEP"


def test_recursion_limit_is_restored_after_the_ethereum_libraries() -> None:
    import py_ecc  # noqa: F401  (raises the limit to 100,000 at import)

    original = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(100_000)
        restore_recursion_limit()
        assert sys.getrecursionlimit() == SAFE_RECURSION_LIMIT
        # the C parser now raises instead of overflowing the stack, in a worker thread too
        errors: list[BaseException] = []

        def parse() -> None:
            try:
                json.loads("[" * 50_000 + "]" * 50_000)
            except RecursionError as exc:
                errors.append(exc)

        worker = threading.Thread(target=parse)
        worker.start()
        worker.join()
        assert errors and isinstance(errors[0], RecursionError)
    finally:
        sys.setrecursionlimit(original)


def test_the_gateway_restores_the_limit(tmp_path: Any) -> None:
    from gateway.app import create_app
    from tests.api.conftest import make_gateway

    gw = make_gateway(tmp_path)
    try:
        sys.setrecursionlimit(100_000)
        create_app(gw, run_background=False)
        assert sys.getrecursionlimit() == SAFE_RECURSION_LIMIT
    finally:
        gw.close()


def test_cli_refuses_a_deep_receipt_file_instead_of_crashing(tmp_path: Any) -> None:
    import subprocess

    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "verify", "--receipt", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "deeper" in done.stderr
