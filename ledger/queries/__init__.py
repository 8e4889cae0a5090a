"""The regulator's queries over the gateway's loans and the indexed chain events (HTTP-free).

- `list_loans` / `loans_csv` (`loans.py`): the loans the gateway holds (`SubmissionRow`),
  filtered by `LoanFilter` (`filters.py`), in keyset pages ordered by (issued_at, record_id), or
  as streamed CSV.
- `chain_only_loans` (`chain.py`): loans anchored on chain by themselves (`LoanAnchored` events)
  that the gateway does not hold, from the event index, with `"source": "chain"`. `list_loans`
  leaves them out.
- `stats` (`statistics.py`): counts, volumes, average APRs, APR distribution and shares above
  caps per group and period, and the consumer-finance rule (average cost of new loans per
  quarter, R3).
- `violations` (`enforcement.py`): violations proven on chain, legacy stock awaiting clearance
  (R8, also `legacy_stock`), and loans rejected at submission by code.
- `from_rollups` (`rollups.py`): what `stats` reads from the rollup tables of `ledger.analytics`
  when they fit the question (they are maintained as loans are anchored and retired); anchored
  loans are listed from that package's narrow index (`LoanIndexRow`).

Every amount is an integer: fen, basis points, unix seconds. Periods are Beijing-time calendar
periods of `issued_at`. An optional `caller` narrows `list_loans`/`loans_csv` to what
`LedgerService.may_see` lets that caller see (None: everything, as for the regulator).
"""

from __future__ import annotations

from ledger.queries.chain import chain_only_loans
from ledger.queries.enforcement import legacy_stock, violations
from ledger.queries.filters import MAX_PAGE, LoanFilter
from ledger.queries.filters import InstitutionName as InstitutionName
from ledger.queries.filters import Status as Status
from ledger.queries.loans import CSV_COLUMNS, list_loans, loans_csv
from ledger.queries.statistics import (
    CF_RULE_FROM,
    CF_THRESHOLD_BPS,
    DEFAULT_APR_BUCKETS_BPS,
    DEFAULT_CAPS_BPS,
    ConsumerFinancePolicy,
    GroupBy,
    Period,
    consumer_finance_breaches,
    stats,
)

__all__ = [
    "CF_RULE_FROM",
    "CF_THRESHOLD_BPS",
    "CSV_COLUMNS",
    "DEFAULT_APR_BUCKETS_BPS",
    "DEFAULT_CAPS_BPS",
    "MAX_PAGE",
    "ConsumerFinancePolicy",
    "GroupBy",
    "LoanFilter",
    "Period",
    "chain_only_loans",
    "consumer_finance_breaches",
    "legacy_stock",
    "list_loans",
    "loans_csv",
    "stats",
    "violations",
]
