"""Time under Regulation Z Appendix J: unit-periods, full periods and fractions, regularity.

Paragraph references are to 12 CFR 1026 Appendix J (b) unless stated otherwise.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from itertools import repeat

from ledger.apr.dates import (
    STANDARD_UNIT_PERIODS,
    Calendar,
    classify,
    consecutive_kinds,
    effective_day,
    months_back,
    nearest_standard,
    nominal_days,
    series_positions,
    shift_back,
)
from ledger.apr.model import CashFlow, CashFlows, UnitPeriod
from ledger.errors import AprError

__all__ = [
    "STANDARD_UNIT_PERIODS",
    "Position",
    "classify_period",
    "infer_unit_period",
    "infer_unit_period_of",
    "is_regular",
    "is_regular_of",
    "is_single_advance_single_payment",
    "money_weighted_unit_period",
    "position",
    "positions",
]


@dataclass(frozen=True, slots=True)
class Position:
    """Where a flow sits from the beginning of the term: ``t`` full unit-periods plus the
    fraction ``f`` of a unit-period, (b)(7) (``q``/``e`` for advances, ``t``/``f`` for payments)."""

    full: int
    fraction: Fraction


def position(
    start: date, when: date, unit: UnitPeriod, days_of_month: Counter[int] | None = None
) -> Position:
    """Full unit-periods and fraction between ``start`` and ``when``, (b)(5).

    - month: full months measured back from the later date; remaining days / 30, (b)(5)(ii);
    - semimonth or 2-11 months: 30 x full months + remaining days, over 15 or 30m, (b)(5)(iii);
    - day, week, multiple of a week: actual days divided by 1 or 7k, (b)(5)(i), (b)(5)(iv);
    - year (12M): full years measured back; remaining whole months / 12, otherwise remaining
      days / 365, (b)(5)(v).
    """
    if when < start:
        raise AprError(
            f"{when.isoformat()} is before the beginning of the term {start.isoformat()}",
            code="APR_INVALID_CASH_FLOWS",
        )
    if days_of_month is None or unit.kind in ("D", "W"):
        (full,), (num,), (den,) = series_positions(start, (when,), unit)
        return Position(full, Fraction(num, den))
    day = effective_day(when, days_of_month)
    months, rest = months_back(start, when, day)
    if unit.kind == "SM":
        full, rest15 = divmod(30 * months + rest, 15)
        return Position(full, Fraction(rest15, 15))
    if unit.count == 1:
        return Position(months, Fraction(rest, 30))
    if unit.count < 12:
        per = 30 * unit.count
        full, rest_m = divmod(30 * months + rest, per)
        return Position(full, Fraction(rest_m, per))
    years, extra_months = divmod(months, 12)
    if rest == 0:
        return Position(years, Fraction(extra_months, 12))
    y, m, d = shift_back(when, 12 * years, day)
    return Position(years, Fraction((date(y, m, d) - start).days, 365))


def positions(
    start: date, flows: Sequence[CashFlow], unit: UnitPeriod
) -> tuple[tuple[CashFlow, Position], ...]:
    """Positions of a series of flows; the series' own days of month resolve month ends."""
    for flow in flows:
        if flow.on < start:
            position(start, flow.on, unit)  # raises
    fulls, nums, dens = series_positions(start, [flow.on for flow in flows], unit)
    return tuple(
        (flow, Position(full, Fraction(num, den)))
        for flow, full, num, den in zip(flows, fulls, nums, dens, strict=True)
    )


def classify_period(a: date, b: date) -> UnitPeriod | int:
    """The standard interval (b)(3)(iii) that the period from ``a`` to ``b`` is, or its length in
    days when it is none (months are calendar months, (b)(3)(iv))."""
    return classify(a, b)


def is_single_advance_single_payment(flows: CashFlows) -> bool:
    """One advance date and one payment date (after merging same-date flows)."""
    return len(flows.merged_advances()) == 1 and len(flows.merged_payments()) == 1


def _single_payment_unit(start: date, end: date) -> UnitPeriod:
    """(b)(4)(ii): the unit-period is the term, but not more than one year; a term under a year of
    whole months counts in months ((b)(5)(vi), 12/m per year), otherwise in days ((b)(5)(vii))."""
    months, rest = months_back(start, end, end.day)
    if months >= 12:
        return UnitPeriod("M", 12)
    if rest == 0 and months >= 1:
        return UnitPeriod("M", months)
    days = (end - start).days
    if days < 1:
        raise AprError(
            "the single payment is due on the day of the advance: no term to annualize",
            code="APR_INVALID_CASH_FLOWS",
        )
    return UnitPeriod("D", days)


def payment_gaps(
    payment_dates: Sequence[date], calendar: Calendar | None = None
) -> list[UnitPeriod | int]:
    """`classify_period` of each pair of consecutive payment dates."""
    return consecutive_kinds(payment_dates, calendar)


def infer_unit_period_of(
    start: date,
    advance_dates: Sequence[date],
    payment_dates: Sequence[date],
    gaps: Sequence[UnitPeriod | int],
) -> UnitPeriod:
    """`infer_unit_period` of merged series (``gaps`` = `payment_gaps` of the payments)."""
    if len(advance_dates) == 1 and len(payment_dates) == 1:
        return _single_payment_unit(start, payment_dates[0])
    # (b)(3)(i): from the beginning of the term to the first advance and the first payment, then
    # between consecutive advances and consecutive payments (the series are strictly increasing)
    kinds: list[UnitPeriod | int] = []
    previous = start
    for on in advance_dates:
        if on > previous:
            kinds.append(classify(previous, on))
        previous = on
    if payment_dates[0] > start:
        kinds.append(classify(start, payment_dates[0]))
    kinds.extend(gaps)
    if not kinds:
        raise AprError(
            "all cash flows fall on one date: no period to annualize", code="APR_INVALID_CASH_FLOWS"
        )
    first = kinds[0]
    if (
        len(kinds) > 1
        and isinstance(first, UnitPeriod)
        and all(map(operator.is_, kinds, repeat(first)))
    ):
        return first  # one standard interval throughout: the common period
    counts: dict[UnitPeriod | int, int]
    counts = {first: len(kinds)} if kinds.count(first) == len(kinds) else Counter(kinds)

    def length(kind: UnitPeriod | int) -> Fraction:
        return nominal_days(kind) if isinstance(kind, UnitPeriod) else Fraction(kind)

    # a standard interval is at most 365 days; a number of days is its own length
    common = {
        kind: n
        for kind, n in counts.items()
        if n > 1 and (isinstance(kind, UnitPeriod) or kind <= 366)
    }
    if common:
        if len(common) == 1:
            (best,) = common
        else:
            best = max(common, key=lambda k: (common[k], -length(k)))
        return best if isinstance(best, UnitPeriod) else nearest_standard(Fraction(best))
    total = (advance_dates[-1] - start).days + (payment_dates[-1] - start).days
    return nearest_standard(Fraction(total, len(kinds)))


_MONTH = UnitPeriod("M", 1)

#: a payment counts towards the money-weighted unit-period if it is at least 1/100 of the
#: largest payment (smaller ones cannot carry the unit, nor cut the periods of those that do)
SIGNIFICANT_SHARE = 100


def money_weighted_unit_period(
    start: date,
    payment_dates: Sequence[date],
    payment_amounts: Sequence[int],
    gaps: Sequence[UnitPeriod | int],
) -> UnitPeriod:
    """The unit-period at which most of the money is paid: (b)(4) with each period (from the
    term start to the first payment, then between payments) weighted by the amount paid at its
    end instead of counted, ties to the smaller, a number of days rounded to the nearest
    standard interval. Tiny payments on odd dates cannot make it a day (see
    `ledger.disclosure.regulatory_apr`). One payment: the term, as (b)(4)(ii).

    The periods are those between the payments that carry money (`SIGNIFICANT_SHARE`): a tiny
    payment just before a large one would otherwise shorten the large one's period (one fen three
    days after each monthly instalment made the month four weeks, and the rate a basis point
    lower)."""
    largest = max(payment_amounts)
    if any(amount * SIGNIFICANT_SHARE < largest for amount in payment_amounts):
        kept = [
            (on, amount)
            for on, amount in zip(payment_dates, payment_amounts, strict=True)
            if amount * SIGNIFICANT_SHARE >= largest
        ]
        payment_dates = [on for on, _ in kept]
        payment_amounts = [amount for _, amount in kept]
        gaps = payment_gaps(payment_dates)
    if len(payment_dates) == 1:
        return _single_payment_unit(start, payment_dates[0])
    kinds = [classify(start, payment_dates[0]), *gaps]
    weights: dict[UnitPeriod, int] = {}
    for kind, amount in zip(kinds, payment_amounts, strict=True):
        if isinstance(kind, int):
            if kind > 366:
                continue
            # a period of 28-31 days between calendar dates is a month cut short or long by
            # a payment on an odd day, not four weeks
            kind = _MONTH if 28 <= kind <= 31 else nearest_standard(Fraction(kind))
        weights[kind] = weights.get(kind, 0) + amount
    if not weights:  # every period over a year
        return infer_unit_period_of(start, (start,), payment_dates, gaps)
    return max(weights, key=lambda k: (weights[k], -nominal_days(k)))


def is_regular_of(
    advance_count: int, payment_amounts: Sequence[int], gaps: Sequence[UnitPeriod | int]
) -> bool:
    """`is_regular` of merged series (``gaps`` = `payment_gaps` of the payments)."""
    if advance_count > 1:
        return False
    if gaps:
        first = gaps[0]
        if not isinstance(first, UnitPeriod):
            return False
        # `classify` returns shared instances: the same interval throughout is the same object
        if not all(map(operator.is_, gaps, repeat(first))) and (
            not all(isinstance(gap, UnitPeriod) for gap in gaps) or len(set(gaps)) > 1
        ):
            return False
    middle = payment_amounts[1:-1]
    return not middle or middle.count(middle[0]) == len(middle) or len(set(middle)) <= 1


def infer_unit_period(flows: CashFlows) -> UnitPeriod:
    """The unit-period of App J (b)(4).

    (ii) single advance, single payment: the term (at most a year). (i) otherwise the common period
    (one occurring more than once) that occurs most frequently, not over a year; (A) ties go to the
    smaller; (B) with no common period, the average of all periods rounded to the nearest standard
    interval (ties to the lower). A most-frequent period that is not a standard interval (say every
    10 days) is rounded to the nearest standard interval the same way.
    """
    advances = [flow.on for flow in flows.merged_advances()]
    payments = [flow.on for flow in flows.merged_payments()]
    start = flows.start
    if len(advances) == 1 and len(payments) == 1:
        return _single_payment_unit(start, payments[0])
    return infer_unit_period_of(start, advances, payments, payment_gaps(payments))


def is_regular(flows: CashFlows) -> bool:
    """Regular in the sense of 12 CFR 1026.22(a)(3): not irregular, where an irregular transaction
    has multiple advances, irregular payment periods, or irregular payment amounts - other than an
    irregular first period or an irregular first or final payment."""
    if len(flows.merged_advances()) > 1:
        return False
    payments = flows.merged_payments()
    return is_regular_of(1, [p.amount for p in payments], payment_gaps([p.on for p in payments]))
