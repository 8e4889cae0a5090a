"""Bounds on what the ledger accepts from outside, in one place.

Every limit the library or the gateway enforces on untrusted input is named here, so a reader
finds them without searching and a test can check them against the contracts and the database.

The interpreter's recursion limit lives here too. `py_ecc` (imported by the Ethereum libraries)
raises it to 100,000 and py-evm to 12,288 at import time. Python 3.11's C JSON parser counts its
own recursion against that limit, so with 100,000 a body of nested arrays runs the C stack off
the end of the thread (SIGSEGV) before `RecursionError` is raised. `restore_recursion_limit()`
puts it back to a value every thread's stack can hold; call it after those libraries are
imported (the CLI and the gateway do). Bodies are also refused before parsing when they nest
deeper than `MAX_JSON_DEPTH` (`ledger.safejson`), so the limit is a second line of defence.
"""

from __future__ import annotations

import sys

__all__ = [
    "INT64_MAX",
    "MAX_BATCH_SUBMISSION",
    "MAX_DOCUMENT_BYTES",
    "MAX_GRANT_LOANS",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_JSON_ELEMENTS",
    "MAX_JSON_NUMBER_DIGITS",
    "MAX_RECEIPT_BATCH",
    "MAX_VERIFY_BATCH",
    "SAFE_RECURSION_LIMIT",
    "UINT64_MAX",
    "restore_recursion_limit",
]

UINT64_MAX = 2**64 - 1
"""The contracts' `uint64` (ids, times)."""

INT64_MAX = 2**63 - 1
"""SQL BIGINT: every integer the database stores (amounts in fen, ids, times)."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in any JSON input (a receipt nests 5 deep)."""

MAX_JSON_ELEMENTS = 2_000_000
"""Most values (array items, object members, containers) in one JSON input: a batch of 10,000
36-month loans has about 1.7 million."""

MAX_JSON_NUMBER_DIGITS = 80
"""Longest run of digits in one JSON number: a `uint256` has 78. Python's parser refuses more
than 4,300 with a `ValueError` that is not a JSON error, and converting a long one costs
quadratic time, so longer numbers are refused on the raw bytes."""

MAX_JSON_BYTES = 32 * 1024 * 1024
"""Largest JSON request body (a batch of 10,000 36-month loans is about 29 MiB)."""

MAX_BATCH_SUBMISSION = 10_000
"""Most loans (or confirmations) in one batch request."""

MAX_RECEIPT_BATCH = 1_000
"""Most receipts fetched in one request (about 3 KB each)."""

MAX_VERIFY_BATCH = 1_000
"""Most receipts in one `POST /v1/verify/batch` (bulk auditors use `ledger verify` locally)."""

MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
"""Largest agreement file a gateway may be set to accept (`--max-upload-bytes`, default): a
scanned 200 MB agreement fits. Uploads are hashed and encrypted chunk by chunk, so this bounds
disk, not memory; past it the upload is refused with 413 `PAYLOAD_TOO_LARGE`."""

MAX_GRANT_LOANS = 1_000
"""Most loans one auditor's access grant names (`ledger.vault.grants`)."""

SAFE_RECURSION_LIMIT = 4_000
"""Python frames allowed. py-evm needs about 12 frames per EVM call level and our contracts nest
three levels at most (ledger → registry → ecrecover); 4,000 leaves ample room, and even C-level
recursion at this depth stays well under 1 MiB of stack, in the main thread and in workers."""


def restore_recursion_limit(limit: int = SAFE_RECURSION_LIMIT) -> None:
    """Imports the libraries that raise the recursion limit, then sets it to `limit`.

    Importing them first makes their import-time `setrecursionlimit` calls happen now, not later
    behind our back."""
    import eth  # noqa: F401  (sets 12,288 on import)
    import py_ecc  # noqa: F401  (sets 100,000 on import)

    sys.setrecursionlimit(limit)
