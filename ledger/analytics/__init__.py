"""The regulator's analytics at market scale: a narrow index of anchored loans and rollups.

- `tables`: `LoanIndexRow` (one narrow row per anchored loan, kept apart from the evidence in
  `SubmissionRow`) and `RollupRow` (integer sums per Beijing-time period x institution type /
  funder / platform, live or retired).
- `maintain`: the hooks that keep both in step in the transactions where loans are anchored
  (`index_anchored`, `add_loans`) and retired (`retire_loans`), and the recomputation from
  scratch (`rebuild`, `recompute`).

The questions themselves are `ledger.queries` (`stats` reads the rollups when they fit; lists,
CSV and legacy stock read the index rows by keyset).
"""

from __future__ import annotations

from ledger.analytics.maintain import (
    IndexedLoan,
    add_loans,
    index_anchored,
    rebuild,
    recompute,
    retire_loans,
)
from ledger.analytics.tables import LoanIndexRow, RollupRow

__all__ = [
    "IndexedLoan",
    "LoanIndexRow",
    "RollupRow",
    "add_loans",
    "index_anchored",
    "rebuild",
    "recompute",
    "retire_loans",
]
