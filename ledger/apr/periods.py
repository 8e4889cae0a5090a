"""Time under Regulation Z Appendix J: unit-periods, full periods and fractions, regularity.

Paragraph references are to 12 CFR 1026 Appendix J (b) unless stated otherwise.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from itertools import pairwise

from ledger.apr.model import CashFlow, CashFlows, UnitPeriod
from ledger.errors import AprError

__all__ = [
    "STANDARD_UNIT_PERIODS",
    "Position",
    "classify_period",
    "infer_unit_period",
    "is_regular",
    "is_single_advance_single_payment",
    "position",
    "positions",
]

#: The standard intervals of time, (b)(3)(iii): a day, week, semimonth, month, or a multiple of a
#: week or a month up to one year.
STANDARD_UNIT_PERIODS: tuple[UnitPeriod, ...] = tuple(
    sorted(
        [UnitPeriod("D", 1), UnitPeriod("SM", 1)]
        + [UnitPeriod("W", k) for k in range(1, 53)]
        + [UnitPeriod("M", m) for m in range(1, 13)],
        key=lambda u: u.nominal_days,
    )
)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a flow sits from the beginning of the term: ``t`` full unit-periods plus the
    fraction ``f`` of a unit-period, (b)(7) (``q``/``e`` for advances, ``t``/``f`` for payments)."""

    full: int
    fraction: Fraction


def _days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _is_month_end(day: date) -> bool:
    return day.day == _days_in_month(day.year, day.month)


def _effective_day(day: date, days_of_month: Counter[int]) -> int:
    """The day of month a date stands for, (b)(3)(iv): in a series scheduled for the last day of
    each month, or for the 29th/30th, a month-end date stands for the series' own day."""
    if not _is_month_end(day):
        return day.day
    later = {d: n for d, n in days_of_month.items() if d >= day.day}
    if not later:
        return day.day
    return max(later, key=lambda d: (later[d], d))


def _shift_back(later: date, months: int, days_of_month: Counter[int]) -> date:
    """``later`` moved back ``months`` calendar months, keeping its (effective) day of month."""
    day = _effective_day(later, days_of_month)
    year, month0 = divmod(later.year * 12 + later.month - 1 - months, 12)
    return date(year, month0 + 1, min(day, _days_in_month(year, month0 + 1)))


def _months_back(start: date, later: date, days_of_month: Counter[int]) -> tuple[int, int]:
    """Full months measured back from ``later`` and the remaining days to ``start``, (b)(5)(ii)."""
    months = (later.year - start.year) * 12 + later.month - start.month
    while months > 0 and _shift_back(later, months, days_of_month) < start:
        months -= 1
    return months, (_shift_back(later, months, days_of_month) - start).days


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
    if unit.kind in ("D", "W"):
        per = unit.count * (7 if unit.kind == "W" else 1)
        full, rest = divmod((when - start).days, per)
        return Position(full, Fraction(rest, per))
    dom = days_of_month if days_of_month is not None else Counter([when.day])
    months, rest = _months_back(start, when, dom)
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
    remaining_days = (_shift_back(when, 12 * years, dom) - start).days
    return Position(years, Fraction(remaining_days, 365))


def positions(
    start: date, flows: Sequence[CashFlow], unit: UnitPeriod
) -> tuple[tuple[CashFlow, Position], ...]:
    """Positions of a series of flows; the series' own days of month resolve month ends."""
    dom = Counter(flow.on.day for flow in flows)
    return tuple((flow, position(start, flow.on, unit, dom)) for flow in flows)


def _whole_months(a: date, b: date) -> int | None:
    months = (b.year - a.year) * 12 + b.month - a.month
    same_day = (
        a.day == b.day
        or (_is_month_end(a) and b.day >= a.day)
        or (_is_month_end(b) and b.day <= a.day)
    )
    return months if months >= 1 and same_day else None


def _is_semimonth(a: date, b: date) -> bool:
    """Consecutive dates of a semimonthly schedule (1st/16th, 15th/last day, ...)."""
    if (a.year, a.month) == (b.year, b.month):
        gap = b.day - a.day
        return a.day <= 15 and (gap == 15 or (_is_month_end(b) and 13 <= gap <= 16))
    next_month = (a.year * 12 + a.month) + 1 == (b.year * 12 + b.month)
    if not next_month or b.day > 15:
        return False
    gap = a.day - b.day
    return gap == 15 or (_is_month_end(a) and 13 <= gap <= 16)


def classify_period(a: date, b: date) -> UnitPeriod | int:
    """The standard interval (b)(3)(iii) that the period from ``a`` to ``b`` is, or its length in
    days when it is none (months are calendar months, (b)(3)(iv))."""
    months = _whole_months(a, b)
    if months is not None and months <= 12:
        return UnitPeriod("M", months)
    if _is_semimonth(a, b):
        return UnitPeriod("SM", 1)
    days = (b - a).days
    if days == 1:
        return UnitPeriod("D", 1)
    if days % 7 == 0 and 7 <= days <= 364:
        return UnitPeriod("W", days // 7)
    return days


def _nearest_standard(days: Fraction) -> UnitPeriod:
    """Nearest standard interval; equally near two, the lower, (b)(4)(i)(B)."""
    return min(STANDARD_UNIT_PERIODS, key=lambda u: (abs(u.nominal_days - days), u.nominal_days))


def is_single_advance_single_payment(flows: CashFlows) -> bool:
    """One advance date and one payment date (after merging same-date flows)."""
    return len(flows.merged_advances()) == 1 and len(flows.merged_payments()) == 1


def _single_payment_unit(start: date, end: date) -> UnitPeriod:
    """(b)(4)(ii): the unit-period is the term, but not more than one year; a term under a year of
    whole months counts in months ((b)(5)(vi), 12/m per year), otherwise in days ((b)(5)(vii))."""
    months, rest = _months_back(start, end, Counter([end.day]))
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


def _periods(flows: CashFlows) -> list[tuple[date, date]]:
    """(b)(3)(i): intervals between advances, between payments, and from the beginning of the
    term to the first advance and to the first payment thereafter."""
    out: list[tuple[date, date]] = []
    for series in (flows.merged_advances(), flows.merged_payments()):
        previous = flows.start
        for flow in series:
            if flow.on > previous:
                out.append((previous, flow.on))
            previous = flow.on
    return out


def infer_unit_period(flows: CashFlows) -> UnitPeriod:
    """The unit-period of App J (b)(4).

    (ii) single advance, single payment: the term (at most a year). (i) otherwise the common period
    (one occurring more than once) that occurs most frequently, not over a year; (A) ties go to the
    smaller; (B) with no common period, the average of all periods rounded to the nearest standard
    interval (ties to the lower). A most-frequent period that is not a standard interval (say every
    10 days) is rounded to the nearest standard interval the same way.
    """
    if is_single_advance_single_payment(flows):
        return _single_payment_unit(flows.start, flows.merged_payments()[0].on)
    periods = _periods(flows)
    if not periods:
        raise AprError(
            "all cash flows fall on one date: no period to annualize", code="APR_INVALID_CASH_FLOWS"
        )
    kinds = Counter(classify_period(a, b) for a, b in periods)

    def length(kind: UnitPeriod | int) -> Fraction:
        return kind.nominal_days if isinstance(kind, UnitPeriod) else Fraction(kind)

    common = {kind: n for kind, n in kinds.items() if n > 1 and length(kind) <= 366}
    if common:
        best = max(common, key=lambda k: (common[k], -length(k)))
        return best if isinstance(best, UnitPeriod) else _nearest_standard(Fraction(best))
    average = Fraction(sum((b - a).days for a, b in periods), len(periods))
    return _nearest_standard(average)


def is_regular(flows: CashFlows) -> bool:
    """Regular in the sense of 12 CFR 1026.22(a)(3): not irregular, where an irregular transaction
    has multiple advances, irregular payment periods, or irregular payment amounts - other than an
    irregular first period or an irregular first or final payment."""
    if len(flows.merged_advances()) > 1:
        return False
    payments = flows.merged_payments()
    gaps = {classify_period(a.on, b.on) for a, b in pairwise(payments)}
    if len(gaps) > 1 or any(not isinstance(gap, UnitPeriod) for gap in gaps):
        return False
    return len({p.amount for p in payments[1:-1]}) <= 1
