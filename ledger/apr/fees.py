"""Fee folding for the comprehensive financing cost (综合融资成本), PBoC Announcement [2021] No. 3.

Every fee the borrower pays counts (domain R2): a fee deducted from the proceeds reduces the
advance (the amount actually in use, R4); a fee paid later is a payment on its date. Only amounts
and dates enter the cash flows, so relabelling or splitting a fee cannot change the rate, and the
unit-period is fixed from the loan's own schedule, so adding a fee can only raise the rate.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from itertools import islice
from typing import NamedTuple, Protocol

from ledger.apr.dates import Calendar, calendar_of
from ledger.apr.model import (
    MAX_AMOUNT_MINOR,
    MAX_FLOWS,
    CashFlow,
    CashFlows,
    UnitPeriod,
    check_amount,
    merge_amounts,
    trusted_flow,
    trusted_flows,
)
from ledger.apr.periods import infer_unit_period_of, payment_gaps
from ledger.errors import AprError

__all__ = ["Charge", "Fee", "FeeItemRows", "FeeTiming", "Folded", "fold_fees", "fold_rows"]


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


class Charge(Protocol):
    """One dated amount of a fee (a form's `FeeCharge`, or a `Fee`'s date and amount)."""

    @property
    def on(self) -> date: ...

    @property
    def amount(self) -> int: ...


class _FeeCharge(NamedTuple):
    on: date
    amount: int


#: A fee item as the folding takes it: its timing, its name and whether each charge's name is
#: ``f"{name}#{index}"`` (else ``name``), and its charges (positive amounts).
FeeItemRows = tuple["FeeTiming", str, bool, Sequence[Charge]]


class Folded(NamedTuple):
    """A loan with its fees folded in, as plain series: one advance on ``disbursed_on`` (the term
    start), payments merged per date and in date order, and the pinned unit-period. ``gaps`` are
    the `payment_gaps` of the payments when already known (else ``None``), and ``calendar``
    their `calendar_of`."""

    disbursed_on: date
    advance: int
    payment_dates: Sequence[date]
    payment_amounts: Sequence[int]
    unit: UnitPeriod
    gaps: Sequence[UnitPeriod | int] | None
    calendar: Calendar | None = None


# enum members read once (attribute access on an Enum class is slow)
_UPFRONT = FeeTiming.UPFRONT
_WITH_INSTALMENT = FeeTiming.WITH_INSTALMENT


def _name(label: str, indexed: bool, index: int) -> str:
    return f"{label}#{index}" if indexed else label


def fold_rows(
    principal: int,
    disbursed_on: date,
    repayment_dates: Sequence[date],
    repayment_amounts: Sequence[int],
    fees: Iterable[FeeItemRows],
    unit: UnitPeriod | None,
) -> Folded:
    """The core of `fold_fees` on validated repayments (positive amounts, none before
    ``disbursed_on``, at most `MAX_FLOWS` - 1 of them) and fee items: same rules, same errors, in
    the same order."""
    # strictly in date order (always so for a form's schedule): nothing to merge in the schedule
    ordered = all(map(operator.lt, repayment_dates, islice(repayment_dates, 1, None)))
    gaps: Sequence[UnitPeriod | int] | None = None
    calendar: Calendar | None = None
    if unit is None:
        base_dates = (
            repayment_dates if ordered else merge_amounts(repayment_dates, repayment_amounts)[0]
        )
        calendar = calendar_of(base_dates)
        gaps = payment_gaps(base_dates, calendar)
        unit = infer_unit_period_of(disbursed_on, (disbursed_on,), base_dates, gaps)
    instalment_dates: set[date] = set()  # filled when the first fee comes
    contains = instalment_dates.__contains__
    deducted = 0
    extras: list[tuple[list[date], list[int]]] = []
    on_schedule = True  # every fee paid later falls on an instalment date
    for timing, label, indexed, charges in fees:
        if not instalment_dates:
            instalment_dates.update(repayment_dates)
        ons = [charge.on for charge in charges]
        sums = [charge.amount for charge in charges]
        if (  # the usual item: all after disbursement, valid as a whole
            ons
            and min(ons) > disbursed_on
            and timing is not _UPFRONT
            and max(sums) <= MAX_AMOUNT_MINOR
        ):
            if timing is _WITH_INSTALMENT:
                if all(map(contains, ons)):
                    extras.append((ons, sums))
                    continue
            else:
                on_schedule = on_schedule and all(map(contains, ons))
                extras.append((ons, sums))
                continue
        kept: tuple[list[date], list[int]] = ([], [])
        for index, (charged_on, amount) in enumerate(zip(ons, sums, strict=True)):
            if charged_on <= disbursed_on:
                deducted += amount
            elif timing is _UPFRONT:
                raise AprError(
                    f"fee {_name(label, indexed, index)!r} is deducted upfront but dated"
                    f" {charged_on.isoformat()}, after the disbursement on"
                    f" {disbursed_on.isoformat()}",
                    code="APR_INVALID_INPUT",
                )
            elif timing is _WITH_INSTALMENT and charged_on not in instalment_dates:
                raise AprError(
                    f"fee {_name(label, indexed, index)!r} is collected with an instalment but no"
                    f" instalment is due on {charged_on.isoformat()}",
                    code="APR_INVALID_INPUT",
                )
            else:
                check_amount(amount)
                on_schedule = on_schedule and charged_on in instalment_dates
                kept[0].append(charged_on)
                kept[1].append(amount)
        if kept[0]:
            extras.append(kept)
    if deducted >= principal:
        raise AprError(
            f"fees deducted at disbursement ({deducted}) leave nothing of the principal"
            f" ({principal}) in the borrower's hands",
            code="APR_INVALID_CASH_FLOWS",
        )
    extra_count = sum(len(ons) for ons, _ in extras)
    if 1 + len(repayment_dates) + extra_count > MAX_FLOWS:
        raise AprError(f"more than {MAX_FLOWS} cash flows", code="APR_INVALID_INPUT")
    advance = principal - deducted
    if not extra_count:
        if ordered:  # one amount per date, each already checked
            return Folded(
                disbursed_on, advance, repayment_dates, repayment_amounts, unit, gaps, calendar
            )
        dates, amounts = merge_amounts(repayment_dates, repayment_amounts)
        return Folded(disbursed_on, advance, dates, amounts, unit, gaps, calendar)
    if ordered and on_schedule:  # the dates stay those of the schedule
        summed = list(repayment_amounts)
        index_of: dict[date, int] | None = None
        for ons, sums in extras:
            if ons == repayment_dates:
                summed = list(map(operator.add, summed, sums))
                continue
            if index_of is None:
                index_of = {on: k for k, on in enumerate(repayment_dates)}
            for on, amount in zip(ons, sums, strict=True):
                summed[index_of[on]] += amount
        if max(summed) > MAX_AMOUNT_MINOR:
            for amount in summed:
                check_amount(amount)
        return Folded(disbursed_on, advance, repayment_dates, summed, unit, gaps, calendar)
    dates, amounts = merge_amounts(
        [*repayment_dates, *(on for ons, _ in extras for on in ons)],
        [*repayment_amounts, *(amount for _, more in extras for amount in more)],
    )
    return Folded(disbursed_on, advance, dates, amounts, unit, None)


def _items(fees: Sequence[Fee]) -> Iterator[FeeItemRows]:
    for fee in fees:
        if not isinstance(fee, Fee):
            raise AprError(f"fees must contain Fee items, got {fee!r}", code="APR_INVALID_INPUT")
        yield fee.timing, fee.name, False, (_FeeCharge(fee.charged_on, fee.amount),)


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
    folded = fold_rows(
        principal,
        disbursed_on,
        [flow.on for flow in base.payments],
        [flow.amount for flow in base.payments],
        _items(fees),
        unit_period,
    )
    payments = tuple(
        trusted_flow(on, amount)
        for on, amount in zip(folded.payment_dates, folded.payment_amounts, strict=True)
    )
    return trusted_flows(
        (trusted_flow(disbursed_on, folded.advance),), payments, folded.unit, folded
    )
