"""Fee folding for the comprehensive financing cost (综合融资成本), PBoC Announcement [2021] No. 3.

Every fee the borrower pays counts (domain R2): a fee deducted from the proceeds reduces the
advance (the amount actually in use, R4); a fee paid later is a payment on its date. Only amounts
and dates enter the cash flows, so relabelling or splitting a fee cannot change the rate, and the
unit-period is fixed from the loan's own schedule, so adding a fee can only raise the rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from ledger.apr.model import CashFlow, CashFlows, UnitPeriod
from ledger.apr.periods import infer_unit_period
from ledger.errors import AprError

__all__ = ["Fee", "FeeTiming", "fold_fees"]


class FeeTiming(StrEnum):
    """How a fee is collected."""

    #: Deducted from the proceeds at disbursement (砍头息-style): reduces the net advance.
    UPFRONT = "upfront"
    #: Collected together with an instalment, on that instalment's date.
    WITH_INSTALMENT = "with_instalment"
    #: Paid separately on its own date (guarantee, membership, insurance, "consulting", ...).
    SEPARATE = "separate"


@dataclass(frozen=True, slots=True)
class Fee:
    """One fee item of a disclosure (R5): name, amount in minor units, date, how it is charged."""

    name: str
    amount: int
    charged_on: date
    timing: FeeTiming

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise AprError("a fee needs a non-empty name", code="APR_INVALID_INPUT")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise AprError(
                f"fee {self.name!r}: amount must be a positive integer of minor units,"
                f" got {self.amount!r}",
                code="APR_INVALID_INPUT",
            )
        if isinstance(self.charged_on, datetime) or not isinstance(self.charged_on, date):
            raise AprError(
                f"fee {self.name!r}: charged_on must be a date", code="APR_INVALID_INPUT"
            )
        try:
            object.__setattr__(self, "timing", FeeTiming(self.timing))
        except ValueError:
            raise AprError(
                f"fee {self.name!r}: timing must be one of"
                f" {', '.join(t.value for t in FeeTiming)}, got {self.timing!r}",
                code="APR_INVALID_INPUT",
            ) from None


def fold_fees(
    principal: int,
    disbursed_on: date,
    repayments: Sequence[CashFlow],
    fees: Sequence[Fee] = (),
    *,
    unit_period: UnitPeriod | str | None = None,
) -> CashFlows:
    """Cash flows of a loan with every fee folded in (R2, R4).

    - a fee charged on or before the disbursement date, whatever its timing, is deducted from the
      advance (a prepaid finance charge: the borrower never has that money in use);
    - an ``UPFRONT`` fee dated after disbursement is an error (it cannot be deducted from proceeds
      already paid out);
    - a ``WITH_INSTALMENT`` fee is added to the instalment due on its date (which must exist);
    - a ``SEPARATE`` fee is a payment on its date, added to any instalment due that day.

    The unit-period is ``unit_period`` or, if ``None``, the one App J (b)(4) gives for the
    principal and repayment schedule alone; it is pinned on the result so fees cannot move it.
    """
    advance = CashFlow(disbursed_on, principal)
    base = CashFlows((advance,), tuple(repayments))
    if isinstance(unit_period, str):
        unit_period = UnitPeriod.parse(unit_period)
    unit = unit_period if unit_period is not None else infer_unit_period(base)
    instalment_dates = {flow.on for flow in base.payments}
    deducted = 0
    extra: list[CashFlow] = []
    for fee in fees:
        if not isinstance(fee, Fee):
            raise AprError(f"fees must contain Fee items, got {fee!r}", code="APR_INVALID_INPUT")
        if fee.charged_on <= disbursed_on:
            deducted += fee.amount
        elif fee.timing is FeeTiming.UPFRONT:
            raise AprError(
                f"fee {fee.name!r} is deducted upfront but dated {fee.charged_on.isoformat()},"
                f" after the disbursement on {disbursed_on.isoformat()}",
                code="APR_INVALID_INPUT",
            )
        elif fee.timing is FeeTiming.WITH_INSTALMENT and fee.charged_on not in instalment_dates:
            raise AprError(
                f"fee {fee.name!r} is collected with an instalment but no instalment is due on"
                f" {fee.charged_on.isoformat()}",
                code="APR_INVALID_INPUT",
            )
        else:
            extra.append(CashFlow(fee.charged_on, fee.amount))
    if deducted >= principal:
        raise AprError(
            f"fees deducted at disbursement ({deducted}) leave nothing of the principal"
            f" ({principal}) in the borrower's hands",
            code="APR_INVALID_CASH_FLOWS",
        )
    return CashFlows(
        advances=(CashFlow(disbursed_on, principal - deducted),),
        payments=CashFlows((advance,), (*base.payments, *extra)).merged_payments(),
        unit_period=unit,
    )
