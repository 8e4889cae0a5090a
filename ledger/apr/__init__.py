"""APR engine: Regulation Z Appendix J actuarial method on dated cash flows in minor units.

Core API (integers of minor units, `datetime.date`): `CashFlow`, `CashFlows`, `compute_apr`,
`infer_unit_period`, `is_regular`, `within_tolerance`, `check_disclosed_apr`; fee folding per
PBoC Announcement [2021] No. 3: `Fee`, `FeeTiming`, `fold_fees`; JSON API: `apr_from_json`.
"""

from __future__ import annotations

from ledger.apr.engine import (
    IRREGULAR_TOLERANCE_BPS,
    REGULAR_TOLERANCE_BPS,
    AprResult,
    check_disclosed_apr,
    compute_apr,
    tolerance_bps,
    within_tolerance,
)
from ledger.apr.fees import Fee, FeeTiming, fold_fees
from ledger.apr.json_api import apr_from_json
from ledger.apr.model import METHOD, CashFlow, CashFlows, UnitPeriod, parse_amount
from ledger.apr.periods import (
    Position,
    classify_period,
    infer_unit_period,
    is_regular,
    is_single_advance_single_payment,
    position,
)

__all__ = [
    "IRREGULAR_TOLERANCE_BPS",
    "METHOD",
    "REGULAR_TOLERANCE_BPS",
    "AprResult",
    "CashFlow",
    "CashFlows",
    "Fee",
    "FeeTiming",
    "Position",
    "UnitPeriod",
    "apr_from_json",
    "check_disclosed_apr",
    "classify_period",
    "compute_apr",
    "fold_fees",
    "infer_unit_period",
    "is_regular",
    "is_single_advance_single_payment",
    "parse_amount",
    "position",
    "tolerance_bps",
    "within_tolerance",
]
