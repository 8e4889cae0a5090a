"""JSON from untrusted sources, refused on its shape before it is parsed.

`check_json_shape` looks at the raw bytes only: it blanks out string literals, then counts the
values and peels matching brackets one level at a time, all with C-speed `bytes`/`re`
operations, so a hostile body costs about as much as reading it. Nothing recursive ever runs on a
body that nests deeper than `MAX_JSON_DEPTH`; see `ledger.limits` for why that matters (a deep
body once crashed the gateway with SIGSEGV inside the C JSON parser).

`loads` is the one way the library and the gateway turn untrusted JSON text into values: the
shape check, strict UTF-8, no `NaN`/`Infinity`, and every failure an `InputError` with a stable
code (`INVALID_INPUT`, `INVALID_UTF8`, `JSON_TOO_DEEP`, `JSON_TOO_MANY_ELEMENTS`,
`JSON_NUMBER_TOO_LONG`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ledger.errors import InputError
from ledger.limits import MAX_JSON_DEPTH, MAX_JSON_ELEMENTS, MAX_JSON_NUMBER_DIGITS

__all__ = ["JsonShapeError", "check_json_shape", "check_value_depth", "loads"]

# A JSON string literal; possessive quantifiers keep it linear on any input.
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_LONG_NUMBER = re.compile(rb"[0-9]{%d}" % (MAX_JSON_NUMBER_DIGITS + 1))
_STRUCTURE = b'[]{}"'
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in _STRUCTURE)
# For depth, arrays and objects are alike: `{`/`}` become `[`/`]`. `bytes.replace` does not
# rescan what a removal makes adjacent, so one `replace(b"[]", b"")` peels exactly one level.
_ONE_KIND = bytes.maketrans(b"{}", b"[]")


class JsonShapeError(InputError):
    """JSON refused before parsing: too deep, too many values, or malformed.

    `status` is the HTTP status the gateway answers with (413 for size, 422 otherwise)."""

    code = "INVALID_INPUT"

    def __init__(self, message: str, *, code: str, status: int = 422) -> None:
        super().__init__(message, code=code)
        self.status = status


def check_json_shape(
    raw: bytes, *, max_depth: int = MAX_JSON_DEPTH, max_elements: int = MAX_JSON_ELEMENTS
) -> None:
    """Raises `JsonShapeError` if `raw` nests deeper than `max_depth`, holds more than
    `max_elements` values, or a number longer than `MAX_JSON_NUMBER_DIGITS` digits. Does not
    prove `raw` is valid JSON; the parser still decides that."""
    if _LONG_NUMBER.search(raw) and _LONG_NUMBER.search(_STRING.sub(b'""', raw)):
        raise JsonShapeError(
            f"a number in the JSON has more than {MAX_JSON_NUMBER_DIGITS} digits",
            code="JSON_NUMBER_TOO_LONG",
        )
    opening = raw.count(b"[") + raw.count(b"{")
    if opening <= max_depth and raw.count(b",") + opening < max_elements:
        return  # cannot be too deep or too large, whatever its strings hold
    bare = _STRING.sub(b"0", raw)
    elements = bare.count(b",") + bare.count(b"[") + bare.count(b"{") + 1
    if elements > max_elements:
        raise JsonShapeError(
            f"the JSON holds more than {max_elements} values",
            code="JSON_TOO_MANY_ELEMENTS",
            status=413,
        )
    structure = bare.translate(None, _NOT_STRUCTURE)
    if b'"' in structure:
        raise JsonShapeError("the JSON has an unterminated string", code="INVALID_INPUT")
    brackets = structure.translate(_ONE_KIND)
    too_deep = JsonShapeError(
        f"the JSON nests deeper than {max_depth} levels", code="JSON_TOO_DEEP"
    )
    if b"[" * (max_depth + 1) in brackets:
        raise too_deep  # a run of openings alone is too deep, matched or not
    for _ in range(max_depth):
        if not brackets:
            return
        brackets = brackets.replace(b"[]", b"")
    if not brackets:
        return
    if brackets.count(b"[") == brackets.count(b"]"):
        raise too_deep
    raise JsonShapeError("the JSON's brackets do not match", code="INVALID_INPUT")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(
    raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH, max_elements: int = MAX_JSON_ELEMENTS
) -> Any:
    """Parses untrusted JSON after `check_json_shape`; strict UTF-8; `NaN`/`Infinity` refused."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    check_json_shape(data, max_depth=max_depth, max_elements=max_elements)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the body is not valid UTF-8 (byte {exc.start})", code="INVALID_UTF8"
        ) from exc
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"not valid JSON: {exc}", code="INVALID_INPUT") from exc


def check_value_depth(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raises `JsonShapeError` if a parsed value (dicts and lists) nests deeper than `max_depth`.

    Iterative, so it is safe on any input; for values that did not come through `loads`."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > max_depth:
                raise JsonShapeError(
                    f"the value nests deeper than {max_depth} levels", code="JSON_TOO_DEEP"
                )
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
