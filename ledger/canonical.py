"""Canonical JSON (RFC 8785), document digests and borrower commitments.

- Canonical form: RFC 8785 (JCS) through the maintained `rfc8785` package. Floats are refused
  before canonicalization: everything hashed is integers (fen, basis points) and strings.
- Document digests: SHA-256, streamed in 1 MiB chunks, so a multi-gigabyte PDF never sits in memory.
- Borrower commitments: HMAC-SHA-256 under a secret key, over a domain tag, the identity and a
  per-loan random salt. The key stops anyone from brute-forcing the small space of ID numbers
  (hashing is de-identification, not anonymization: PIPL); the salt makes two loans of one
  borrower unlinkable on chain. Neither the identity nor the salt ever goes on chain or into a
  receipt: whoever holds them can later show the commitment opens to that borrower.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import rfc8785
from pydantic import BaseModel

from ledger.errors import InputError
from ledger.limits import MAX_JSON_DEPTH
from ledger.safejson import check_value_depth

__all__ = [
    "COMMITMENT_TAG",
    "borrower_commitment",
    "canonical_digest",
    "canonical_json",
    "canonical_model_json",
    "compact_json",
    "digest_bytes",
    "digest_chunks",
    "digest_file",
    "digest_stream",
    "matches_digest",
    "new_salt",
]

CHUNK_SIZE = 1 << 20
COMMITMENT_TAG = b"loan-evidence-ledger/borrower-commitment/v1"


_SAFE_INTEGER = 2**53 - 1  # RFC 8785 numbers are IEEE doubles: larger integers are refused


def _refuse_floats(value: Any, where: str = "$") -> None:
    if isinstance(value, float):
        raise InputError(f"{where}: floats are not allowed in hashed data (use minor units / bps)")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_floats(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_floats(item, f"{where}[{index}]")


def _plain(value: Any) -> bool:
    """Whether `json.dumps(sort_keys=True)` writes exactly RFC 8785 for `value`: only ASCII keys
    (code-point order is then UTF-16 order), integers within the double-safe range, no floats,
    at most `MAX_JSON_DEPTH` deep. Iterative, so any input is safe."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is int:
            if -_SAFE_INTEGER <= item <= _SAFE_INTEGER:
                continue
            return False
        if kind is dict:
            if depth > MAX_JSON_DEPTH:
                return False
            for key, child in item.items():
                if type(key) is not str or not key.isascii():
                    return False
                stack.append((child, depth + 1))
            continue
        if kind is list or kind is tuple:
            if depth > MAX_JSON_DEPTH:
                return False
            stack.extend((child, depth + 1) for child in item)
            continue
        return False
    return True


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON value (dicts, lists, str, int, bool, None).

    The common case (ASCII keys, safe integers) is written by the C JSON encoder, which for such
    values produces exactly RFC 8785 (a property test compares it with `rfc8785` on random
    values); anything else goes through `rfc8785`. Values nesting deeper than
    `ledger.limits.MAX_JSON_DEPTH` are refused first: the float check and `rfc8785` recurse."""
    if _plain(value):
        try:
            return _ENCODER.encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 says what to do with it
    check_value_depth(value)
    _refuse_floats(value)
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InputError(f"value cannot be canonicalized: {exc}") from exc


_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


_SIXTEEN_DIGITS = re.compile(rb"[0-9]{16}")


def canonical_model_json(value: BaseModel) -> bytes:
    """`canonical_json` of a pydantic model whose fields are strings, integers, booleans, dates
    and nested such models (no free-form dicts, no floats): its keys are field names (ASCII), so
    the C encoder writes RFC 8785 unless an integer is beyond 2^53 - 1, which has 16 digits or
    more; only then does the general path decide (and refuse)."""
    dumped = value.model_dump(mode="json")
    try:
        text = _ENCODER.encode(dumped).encode("utf-8")
    except UnicodeEncodeError:
        return canonical_json(dumped)
    if _SIXTEEN_DIGITS.search(text) is None:
        return text
    return canonical_json(dumped)


def compact_json(value: Any) -> bytes:
    """`json.dumps(sort_keys=True)` bytes of a value, without any check: equal to
    `canonical_json` for plain values (ASCII keys, safe integers), and injective, so bytes that
    match something canonicalized earlier prove the value is the one canonicalized. For checking
    digests and signatures fast (`matches_digest`); never for producing them."""
    try:
        return _ENCODER.encode(value).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError):
        return b""


def matches_digest(value: Any, digest: bytes) -> bool:
    """Whether `canonical_digest(value) == digest`, answered from `compact_json` when its bytes
    hash to `digest` (then they are the canonical bytes: nothing else hashes there), else by
    canonicalizing. `InputError` if the value cannot be canonicalized and does not match."""
    if hashlib.sha256(compact_json(value)).digest() == digest:
        return True
    return canonical_digest(value) == digest


def canonical_digest(value: Any) -> bytes:
    """SHA-256 of the canonical JSON form."""
    return hashlib.sha256(canonical_json(value)).digest()


def digest_bytes(data: bytes) -> bytes:
    """SHA-256 of a document held in memory."""
    return hashlib.sha256(data).digest()


def digest_chunks(chunks: Iterable[bytes]) -> bytes:
    """SHA-256 over a sequence of chunks (an upload arriving piece by piece)."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.digest()


def digest_stream(stream: IO[bytes], chunk_size: int = CHUNK_SIZE) -> bytes:
    """SHA-256 of a binary stream, read in chunks."""
    h = hashlib.sha256()
    while chunk := stream.read(chunk_size):
        h.update(chunk)
    return h.digest()


def digest_file(path: Path | str, chunk_size: int = CHUNK_SIZE) -> bytes:
    """SHA-256 of a file, streamed."""
    with open(path, "rb") as stream:
        return digest_stream(stream, chunk_size)


def new_salt() -> bytes:
    """A fresh 16-byte random salt for one borrower commitment."""
    return secrets.token_bytes(16)


def _normalize_identity(value: str) -> bytes:
    # NFKC folds full-width digits and letters (common in Chinese input) to ASCII; ID-card check
    # letters are case-insensitive ("x" == "X"); surrounding and inner spaces are not significant.
    folded = unicodedata.normalize("NFKC", value).strip().upper().replace(" ", "")
    if not folded:
        raise InputError("borrower identity is empty")
    return folded.encode("utf-8")


def borrower_commitment(key: bytes, id_type: str, id_number: str, salt: bytes) -> bytes:
    """HMAC-SHA-256(key, tag ‖ len ‖ id_type ‖ len ‖ id_number ‖ salt): a 32-byte commitment."""
    if len(key) < 32:
        raise InputError("the commitment key must be at least 32 bytes")
    if len(salt) < 16:
        raise InputError("the commitment salt must be at least 16 bytes")
    parts = [COMMITMENT_TAG, _normalize_identity(id_type), _normalize_identity(id_number), salt]
    message = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    return hmac.new(key, message, hashlib.sha256).digest()
