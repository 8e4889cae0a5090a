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
import secrets
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import rfc8785

from ledger.errors import InputError
from ledger.safejson import check_value_depth

__all__ = [
    "COMMITMENT_TAG",
    "borrower_commitment",
    "canonical_digest",
    "canonical_json",
    "digest_bytes",
    "digest_chunks",
    "digest_file",
    "digest_stream",
    "new_salt",
]

CHUNK_SIZE = 1 << 20
COMMITMENT_TAG = b"loan-evidence-ledger/borrower-commitment/v1"


def _refuse_floats(value: Any, where: str = "$") -> None:
    if isinstance(value, float):
        raise InputError(f"{where}: floats are not allowed in hashed data (use minor units / bps)")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_floats(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_floats(item, f"{where}[{index}]")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON value (dicts, lists, str, int, bool, None).

    Values nesting deeper than `ledger.limits.MAX_JSON_DEPTH` are refused first: both the float
    check and `rfc8785` recurse."""
    check_value_depth(value)
    _refuse_floats(value)
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InputError(f"value cannot be canonicalized: {exc}") from exc


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
