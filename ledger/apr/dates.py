"""Calendar arithmetic of Appendix J on `datetime.date`, shared by `periods` and the solver.

These are the primitives behind `ledger.apr.periods` (which keeps the public, documented API):
month lengths from a table instead of `calendar.monthrange`, the standard intervals as shared
constants, and positions of a whole series computed with the series' days of month resolved once.
Paragraph references are to 12 CFR 1026 Appendix J (b).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from datetime import date
from fractions import Fraction

from ledger.apr.model import UnitPeriod

__all__ = [
    "MONTHS",
    "STANDARD_UNIT_PERIODS",
    "WEEKS",
    "Calendar",
    "Placed",
    "calendar_of",
    "classify",
    "consecutive_kinds",
    "days_in_month",
    "effective_day",
    "is_month_end",
    "months_back",
    "nearest_standard",
    "nominal_days",
    "series_positions",
    "shift_back",
]

_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

DAY = UnitPeriod("D", 1)
SEMIMONTH = UnitPeriod("SM", 1)
#: ``MONTHS[m]`` is the unit-period of m months (index 0 unused), ``WEEKS[k]`` of k weeks.
MONTHS: tuple[UnitPeriod, ...] = (DAY, *(UnitPeriod("M", m) for m in range(1, 13)))
WEEKS: tuple[UnitPeriod, ...] = (DAY, *(UnitPeriod("W", k) for k in range(1, 53)))

#: The standard intervals of time, (b)(3)(iii): a day, week, semimonth, month, or a multiple of a
#: week or a month up to one year, in increasing length.
STANDARD_UNIT_PERIODS: tuple[UnitPeriod, ...] = tuple(
    sorted([DAY, SEMIMONTH, *WEEKS[1:], *MONTHS[1:]], key=lambda u: u.nominal_days)
)
_NOMINAL: dict[UnitPeriod, Fraction] = {u: u.nominal_days for u in STANDARD_UNIT_PERIODS}
_SORTED_NOMINAL = [u.nominal_days for u in STANDARD_UNIT_PERIODS]


def nominal_days(unit: UnitPeriod) -> Fraction:
    """`UnitPeriod.nominal_days`, from a table for the standard intervals."""
    found = _NOMINAL.get(unit)
    return found if found is not None else unit.nominal_days


def days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS[month]


def is_month_end(day: date) -> bool:
    return day.day >= 28 and day.day == days_in_month(day.year, day.month)


def effective_day(day: date, days_of_month: Counter[int]) -> int:
    """The day of month a date stands for, (b)(3)(iv): in a series scheduled for the last day of
    each month, or for the 29th/30th, a month-end date stands for the series' own day."""
    if not is_month_end(day):
        return day.day
    later = {d: n for d, n in days_of_month.items() if d >= day.day}
    if not later:
        return day.day
    return max(later, key=lambda d: (later[d], d))


def shift_back(later: date, months: int, day: int) -> tuple[int, int, int]:
    """``later`` moved back ``months`` calendar months onto day-of-month ``day`` (clamped to the
    month's end), as ``(year, month, day)``."""
    year, month0 = divmod(later.year * 12 + later.month - 1 - months, 12)
    month = month0 + 1
    return year, month, min(day, days_in_month(year, month))


def _days_from(start: date, year: int, month: int, day: int) -> int:
    """Days from ``start`` to ``(year, month, day)``."""
    if year == start.year and month == start.month:
        return day - start.day
    return date(year, month, day).toordinal() - start.toordinal()


def months_back(start: date, later: date, day: int) -> tuple[int, int]:
    """Full months measured back from ``later`` (standing for day-of-month ``day``) and the
    remaining days to ``start``, (b)(5)(ii)."""
    if day == start.day and day == later.day:  # the shift lands on ``start`` itself
        return (later.year - start.year) * 12 + later.month - start.month, 0
    months = (later.year - start.year) * 12 + later.month - start.month
    key = (start.year, start.month, start.day)
    shifted = shift_back(later, months, day)
    while months > 0 and shifted < key:
        months -= 1
        shifted = shift_back(later, months, day)
    return months, _days_from(start, *shifted)


#: Positions of a series: full unit-periods, and the fractions' numerators and denominators.
Placed = tuple[list[int], list[int], list[int]]
#: Days of month and month numbers (year x 12 + month) of a series of dates.
Calendar = tuple[list[int], list[int]]


def calendar_of(days: Sequence[date]) -> Calendar:
    return [day.day for day in days], [day.year * 12 + day.month for day in days]


def _spans(
    start: date, days: Sequence[date], calendar: Calendar, resolved: dict[int, int]
) -> list[tuple[int, int]]:
    """``months_back`` of each date, the series' days of month resolving month ends (the
    resolved effective days are left in ``resolved``)."""
    of_month, months = calendar
    start_day = start.day
    start_month = start.year * 12 + start.month
    # a date on the start's own day of month (and not a month end) is whole months from it
    spans = [(month - start_month, 0) for month in months]
    if start_day < 28:
        others: Sequence[int] = [k for k, own in enumerate(of_month) if own != start_day]
    else:
        others = range(len(days))
    dom: Counter[int] | None = None
    for k in others:
        when = days[k]
        own = when.day
        if own >= 28 and is_month_end(when):
            eff = resolved.get(own)
            if eff is None:
                if dom is None:
                    dom = Counter(of_month)
                eff = resolved[own] = effective_day(when, dom)
        elif own == start_day:
            continue
        else:
            eff = own
        spans[k] = months_back(start, when, eff)
    return spans


def series_positions(
    start: date, days: Sequence[date], unit: UnitPeriod, calendar: Calendar | None = None
) -> Placed:
    """Full unit-periods and fractions (numerator, denominator) of each date's position from
    ``start``, (b)(5); the series' own days of month resolve month ends. Dates must not precede
    ``start``; ``calendar`` is their `calendar_of`, if known."""
    kind = unit.kind
    count = unit.count
    n = len(days)
    if kind == "D" or kind == "W":
        per = count * 7 if kind == "W" else count
        origin = start.toordinal()
        offsets = [day.toordinal() - origin for day in days]
        if per == 1:
            return offsets, [0] * n, [1] * n
        return [t // per for t in offsets], [t % per for t in offsets], [per] * n
    if calendar is None:
        calendar = calendar_of(days)
    start_day = start.day
    resolved: dict[int, int] = {}
    if start_day < 28 and calendar[0].count(start_day) == n:
        # every date on the start's own day of month (not a month end): whole months
        origin = start.year * 12 + start.month
        whole = [month - origin for month in calendar[1]]
        if kind == "M" and count == 1:
            return whole, [0] * n, [1] * n
        spans = [(m, 0) for m in whole]
    else:
        spans = _spans(start, days, calendar, resolved)
    if kind == "SM" or count < 12:
        per = 15 if kind == "SM" else 30 * count
        if per == 30:  # one month: full months, remaining days over 30
            return [months for months, _ in spans], [rest for _, rest in spans], [30] * n
        split = [divmod(30 * months + rest, per) for months, rest in spans]
        return [full for full, _ in split], [part for _, part in split], [per] * n
    fulls: list[int] = []
    nums: list[int] = []
    dens: list[int] = []
    for when, (months, rest) in zip(days, spans, strict=True):
        years, extra_months = divmod(months, 12)
        fulls.append(years)
        if rest == 0:
            nums.append(extra_months)
            dens.append(12)
        else:
            eff = resolved.get(when.day, when.day) if is_month_end(when) else when.day
            nums.append(_days_from(start, *shift_back(when, 12 * years, eff)))
            dens.append(365)
    return fulls, nums, dens


def classify(a: date, b: date) -> UnitPeriod | int:
    """The standard interval (b)(3)(iii) that the period from ``a`` to ``b`` is, or its length in
    days when it is none (months are calendar months, (b)(3)(iv))."""
    ad, bd = a.day, b.day
    months = (b.year - a.year) * 12 + b.month - a.month
    if 1 <= months <= 12 and (
        ad == bd
        or (ad >= 28 and bd >= ad and ad == days_in_month(a.year, a.month))
        or (bd >= 28 and bd <= ad and bd == days_in_month(b.year, b.month))
    ):
        return MONTHS[months]
    if months == 0:
        gap = bd - ad
        if ad <= 15 and (gap == 15 or (13 <= gap <= 16 and is_month_end(b))):
            return SEMIMONTH
    elif months == 1 and bd <= 15:
        gap = ad - bd
        if gap == 15 or (13 <= gap <= 16 and is_month_end(a)):
            return SEMIMONTH
    days = b.toordinal() - a.toordinal()
    if days == 1:
        return DAY
    if days % 7 == 0 and 7 <= days <= 364:
        return WEEKS[days // 7]
    return days


def consecutive_kinds(
    dates: Sequence[date], calendar: Calendar | None = None
) -> list[UnitPeriod | int]:
    """`classify` of each pair of consecutive dates (``calendar``: their `calendar_of`)."""
    n = len(dates)
    if n < 2:
        return []
    if calendar is None:
        calendar = calendar_of(dates)
    of_month, months = calendar
    if of_month.count(of_month[0]) == n:
        step = months[1] - months[0]
        if 1 <= step <= 12 and months == list(range(months[0], months[0] + step * n, step)):
            return [MONTHS[step]] * (n - 1)  # the same day every ``step`` months
    # the same day of month 1 to 12 months later is that many months (else see `classify`)
    return [
        MONTHS[m2 - m1] if d1 == d2 and 0 < m2 - m1 <= 12 else classify(a, b)
        for a, b, d1, d2, m1, m2 in zip(
            dates, dates[1:], of_month, of_month[1:], months, months[1:], strict=False
        )
    ]


def nearest_standard(days: Fraction) -> UnitPeriod:
    """Nearest standard interval; equally near two, the lower, (b)(4)(i)(B); equally long ones
    (13W and 3M are both 365/4 days) in the order of `STANDARD_UNIT_PERIODS`."""
    index = bisect_left(_SORTED_NOMINAL, days)
    low = _SORTED_NOMINAL[max(index - 1, 0)]
    high = _SORTED_NOMINAL[min(index, len(_SORTED_NOMINAL) - 1)]
    candidates = STANDARD_UNIT_PERIODS[
        bisect_left(_SORTED_NOMINAL, low) : bisect_right(_SORTED_NOMINAL, high)
    ]
    return min(candidates, key=lambda u: (abs(_NOMINAL[u] - days), _NOMINAL[u]))
