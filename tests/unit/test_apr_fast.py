"""The accelerated APR engine gives exactly what the original exact engine gives.

`ledger.apr` proves most figures from a float bracket of the root and integer arithmetic, and
computes the 40-digit `Decimal` values only on demand. Here a faithful copy of the original
engine (`Decimal` at 50 digits everywhere, `calendar.monthrange`, `Counter`, `Fraction`) is the
reference, and hypothesis compares every output on many varied cash flows: basis points, percent
strings, the printed periodic rate, the `Decimal` fields, unit-period, regularity, tolerance
verdicts, and every error (type, code, message).

Run more examples with ``APR_FAST_EXAMPLES=2000 pytest tests/unit/test_apr_fast.py``.
"""

from __future__ import annotations

import calendar
import copy
import dataclasses
import os
import pickle
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_UP, Context, Decimal, localcontext
from fractions import Fraction
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger.apr import (
    AprResult,
    CashFlow,
    CashFlows,
    Fee,
    FeeTiming,
    UnitPeriod,
    check_disclosed_apr,
    compute_apr,
    fold_fees,
    within_tolerance,
)
from ledger.apr.figures import Figures
from ledger.apr.periods import (
    STANDARD_UNIT_PERIODS,
    infer_unit_period_of,
    money_weighted_unit_period,
    payment_gaps,
)
from ledger.disclosure import (
    BorrowerConfirmation,
    FeeCharge,
    FeeDisclosure,
    FeeItem,
    Instalment,
    check_disclosure,
    disclosure_cash_flows,
)
from ledger.errors import AprError, DisclosureMismatchError, LedgerError

EXAMPLES = int(os.environ.get("APR_FAST_EXAMPLES", "200"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# ---------------------------------------------------------------------------------------------
# Reference: the original engine, transcribed (flows are (date, amount) pairs).

Flow = tuple[date, int]
_CTX = Context(prec=50, rounding=ROUND_HALF_UP, Emax=MAX_EMAX, Emin=MIN_EMIN)
_GRID = tuple(
    Decimal(x)
    for x in (
        "-0.99", "-0.9", "-0.5", "-0.2", "0", "0.005", "0.02", "0.05", "0.1", "0.25", "0.5",
        "1", "2", "5", "10", "50", "100", "1000", "10000", "100000", "1000000",
    )
)  # fmt: skip


def _err(message: str, code: str) -> AprError:
    return AprError(message, code=code)


def ref_merge(flows: Sequence[Flow]) -> list[Flow]:
    totals: dict[date, int] = {}
    for on, amount in flows:
        totals[on] = totals.get(on, 0) + amount
    out = []
    for on in sorted(totals):
        if totals[on] > 10**15:
            raise _err(f"cash-flow amount {totals[on]} is too large", "APR_INVALID_INPUT")
        out.append((on, totals[on]))
    return out


def _dim(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _is_end(day: date) -> bool:
    return day.day == _dim(day.year, day.month)


def _eff(day: date, dom: Counter[int]) -> int:
    if not _is_end(day):
        return day.day
    later = {d: n for d, n in dom.items() if d >= day.day}
    return max(later, key=lambda d: (later[d], d)) if later else day.day


def _shift(later: date, months: int, dom: Counter[int]) -> date:
    day = _eff(later, dom)
    year, month0 = divmod(later.year * 12 + later.month - 1 - months, 12)
    return date(year, month0 + 1, min(day, _dim(year, month0 + 1)))


def _months_back(start: date, later: date, dom: Counter[int]) -> tuple[int, int]:
    months = (later.year - start.year) * 12 + later.month - start.month
    while months > 0 and _shift(later, months, dom) < start:
        months -= 1
    return months, (_shift(later, months, dom) - start).days


def ref_position(
    start: date, when: date, unit: UnitPeriod, dom: Counter[int]
) -> tuple[int, Fraction]:
    if unit.kind in ("D", "W"):
        per = unit.count * (7 if unit.kind == "W" else 1)
        full, rest = divmod((when - start).days, per)
        return full, Fraction(rest, per)
    months, rest = _months_back(start, when, dom)
    if unit.kind == "SM":
        full, rest15 = divmod(30 * months + rest, 15)
        return full, Fraction(rest15, 15)
    if unit.count == 1:
        return months, Fraction(rest, 30)
    if unit.count < 12:
        per = 30 * unit.count
        full, rest_m = divmod(30 * months + rest, per)
        return full, Fraction(rest_m, per)
    years, extra = divmod(months, 12)
    if rest == 0:
        return years, Fraction(extra, 12)
    return years, Fraction((_shift(when, 12 * years, dom) - start).days, 365)


def ref_classify(a: date, b: date) -> UnitPeriod | int:
    months = (b.year - a.year) * 12 + b.month - a.month
    same_day = a.day == b.day or (_is_end(a) and b.day >= a.day) or (_is_end(b) and b.day <= a.day)
    if months >= 1 and same_day and months <= 12:
        return UnitPeriod("M", months)
    if (a.year, a.month) == (b.year, b.month):
        gap = b.day - a.day
        semi = a.day <= 15 and (gap == 15 or (_is_end(b) and 13 <= gap <= 16))
    elif (a.year * 12 + a.month) + 1 == (b.year * 12 + b.month) and b.day <= 15:
        gap = a.day - b.day
        semi = gap == 15 or (_is_end(a) and 13 <= gap <= 16)
    else:
        semi = False
    if semi:
        return UnitPeriod("SM", 1)
    days = (b - a).days
    if days == 1:
        return UnitPeriod("D", 1)
    if days % 7 == 0 and 7 <= days <= 364:
        return UnitPeriod("W", days // 7)
    return days


def _nearest(days: Fraction) -> UnitPeriod:
    return min(STANDARD_UNIT_PERIODS, key=lambda u: (abs(u.nominal_days - days), u.nominal_days))


def ref_infer(start: date, advances: list[Flow], payments: list[Flow]) -> UnitPeriod:
    if len(advances) == 1 and len(payments) == 1:
        end = payments[0][0]
        months, rest = _months_back(start, end, Counter([end.day]))
        if months >= 12:
            return UnitPeriod("M", 12)
        if rest == 0 and months >= 1:
            return UnitPeriod("M", months)
        days = (end - start).days
        if days < 1:
            raise _err(
                "the single payment is due on the day of the advance: no term to annualize",
                "APR_INVALID_CASH_FLOWS",
            )
        return UnitPeriod("D", days)
    periods = []
    for series in (advances, payments):
        previous = start
        for on, _ in series:
            if on > previous:
                periods.append((previous, on))
            previous = on
    if not periods:
        raise _err(
            "all cash flows fall on one date: no period to annualize", "APR_INVALID_CASH_FLOWS"
        )
    kinds = Counter(ref_classify(a, b) for a, b in periods)

    def length(kind: UnitPeriod | int) -> Fraction:
        return kind.nominal_days if isinstance(kind, UnitPeriod) else Fraction(kind)

    common = {kind: n for kind, n in kinds.items() if n > 1 and length(kind) <= 366}
    if common:
        best = max(common, key=lambda k: (common[k], -length(k)))
        return best if isinstance(best, UnitPeriod) else _nearest(Fraction(best))
    return _nearest(Fraction(sum((b - a).days for a, b in periods), len(periods)))


def ref_regular(advances: list[Flow], payments: list[Flow]) -> bool:
    if len(advances) > 1:
        return False
    gaps = {ref_classify(a, b) for (a, _), (b, _) in pairwise(payments)}
    if len(gaps) > 1 or any(not isinstance(gap, UnitPeriod) for gap in gaps):
        return False
    return len({amount for _, amount in payments[1:-1]}) <= 1


def _equation(terms: list[tuple[Decimal, int, Decimal]], rate: Decimal) -> tuple[Decimal, Decimal]:
    one = Decimal(1)
    growth = one + rate
    value = slope = Decimal(0)
    powers: dict[int, Decimal] = {}
    for amount, full, fraction in terms:
        power = powers.get(full)
        if power is None:
            power = powers[full] = growth**full
        simple = one + fraction * rate
        present = amount / (simple * power)
        value += present
        slope -= present * (fraction / simple + full / growth)
    return value, slope


def ref_solve(terms: list[tuple[Decimal, int, Decimal]]) -> Decimal:
    values = [(rate, _equation(terms, rate)[0]) for rate in _GRID]
    brackets, exact = [], []
    for (lo, f_lo), (hi, f_hi) in pairwise(values):
        if f_lo.is_zero():
            exact.append(lo)
        elif not f_hi.is_zero() and f_lo.is_signed() != f_hi.is_signed():
            brackets.append((lo, hi, f_lo, f_hi))
    if values[-1][1].is_zero():
        exact.append(values[-1][0])
    if not brackets and not exact:
        raise _err(
            "no rate between -99% and 100,000,000% per unit-period makes the payments repay the"
            " advances (Appendix J general equation has no solution)",
            "APR_NO_SOLUTION",
        )
    if len(brackets) + len(exact) > 1:
        raise _err(
            "these cash flows admit more than one rate (the payments and advances alternate)",
            "APR_AMBIGUOUS_RATE",
        )
    if exact:
        return exact[0]
    lo, hi, f_lo, f_hi = brackets[0]
    rate = lo - f_lo * (hi - lo) / (f_hi - f_lo)
    for _ in range(400):
        value, slope = _equation(terms, rate)
        if value.is_zero():
            return rate
        if value.is_signed() == f_lo.is_signed():
            lo, f_lo = rate, value
        else:
            hi = rate
        step = rate - value / slope if not slope.is_zero() else lo
        if not lo < step < hi:
            step = (lo + hi) / 2
        if abs(step - rate) <= Decimal("1e-40") or hi - lo <= Decimal("1e-40"):
            return step
        rate = step
    raise _err("the rate did not converge", "APR_NO_SOLUTION")


def _dec(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _pct(value: Decimal) -> str:
    text = (value * 100).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return f"{text.copy_abs() if text.is_zero() else text:f}"


def _bps(value: Decimal) -> int:
    return int((value * 10_000).to_integral_value(rounding=ROUND_HALF_UP))


def ref_compute(
    advances_in: Sequence[Flow],
    payments_in: Sequence[Flow],
    term_start: date | None = None,
    unit: UnitPeriod | None = None,
    inferred: bool | None = None,
) -> dict[str, Any]:
    """Everything the original `compute_apr` produced (``unit`` = the chosen unit, if any)."""
    chosen = unit
    advances = ref_merge(advances_in)
    start = term_start if term_start is not None else advances[0][0]
    if chosen is None:
        unit = ref_infer(start, advances, ref_merge(payments_in))
    assert unit is not None
    if unit.kind == "D" and unit.count != 1:
        if len(advances) != 1 or len(ref_merge(payments_in)) != 1:
            raise _err(
                f"unit-period {unit.code}: a multi-day unit-period is only the term of a"
                " single-advance, single-payment transaction (App J (b)(4)(ii));"
                " use 1D, <k>W, SM or <m>M",
                "APR_INVALID_INPUT",
            )
        days = (ref_merge(payments_in)[0][0] - start).days
        if days != unit.count:
            raise _err(
                f"unit-period {unit.code} is not the term of this transaction ({days} days)",
                "APR_INVALID_INPUT",
            )
    payments = ref_merge(payments_in)
    per_year = unit.per_year
    with localcontext(_CTX):
        terms = []
        for sign, series in ((-1, advances), (1, payments)):
            dom = Counter(on.day for on, _ in series)
            for on, amount in series:
                full, fraction = ref_position(start, on, unit, dom)
                terms.append((Decimal(sign * amount), full, _dec(fraction)))
        rate = ref_solve(terms).quantize(Decimal("1e-40"))
        w = _dec(per_year)
        nominal = rate * w
        growth = Decimal(1) + rate
        effective = (growth**per_year.numerator if per_year.denominator == 1 else growth**w) - 1
    return {
        "periodic_rate": rate,
        "nominal": nominal,
        "effective": effective,
        "nominal_bps": lambda: _bps(nominal),
        "effective_bps": lambda: _bps(effective),
        "nominal_percent": lambda: _pct(nominal),
        "effective_percent": lambda: _pct(effective),
        "periodic_text": lambda: f"{rate.quantize(Decimal('1e-12'), ROUND_HALF_UP):f}",
        "per_year": per_year,
        "unit": unit.code,
        "regular": ref_regular(advances, payments),
        "inferred": chosen is None if inferred is None else inferred,
    }


def ref_as_dict(ref: dict[str, Any]) -> dict[str, Any]:
    """`AprResult.as_dict` of the original engine."""
    per_year: Fraction = ref["per_year"]
    if per_year.denominator == 1:
        per_year_text = str(per_year.numerator)
    else:
        with localcontext(_CTX):
            text = _dec(per_year).quantize(Decimal("1e-10"), ROUND_HALF_UP).normalize()
        per_year_text = f"{text:f}"
    tolerance = Decimal("12.5") if ref["regular"] else Decimal("25")
    return {
        "apr_nominal": ref["nominal_percent"](),
        "apr_effective": ref["effective_percent"](),
        "apr_nominal_bps": ref["nominal_bps"](),
        "apr_effective_bps": ref["effective_bps"](),
        "periodic_rate": ref["periodic_text"](),
        "unit_period": ref["unit"],
        "unit_periods_per_year": per_year_text,
        "unit_period_inferred": ref["inferred"],
        "regular": ref["regular"],
        "tolerance_percentage_points": f"{(tolerance / 100).normalize():f}",
        "method": "irr-actuarial-regz-appj",
    }


def ref_fold(
    principal: int,
    disbursed_on: date,
    repayments: Sequence[Flow],
    fees: Sequence[tuple[str, int, date, FeeTiming]],
    unit: UnitPeriod | None = None,
) -> tuple[list[Flow], list[Flow], UnitPeriod]:
    if principal > 10**15:
        raise _err(f"cash-flow amount {principal} is too large", "APR_INVALID_INPUT")
    if unit is None:
        unit = ref_infer(disbursed_on, [(disbursed_on, principal)], ref_merge(repayments))
    instalment_dates = {on for on, _ in repayments}
    deducted = 0
    extra: list[Flow] = []
    for name, amount, on, timing in fees:
        if on <= disbursed_on:
            deducted += amount
        elif timing is FeeTiming.UPFRONT:
            raise _err(
                f"fee {name!r} is deducted upfront but dated {on.isoformat()}, after the"
                f" disbursement on {disbursed_on.isoformat()}",
                "APR_INVALID_INPUT",
            )
        elif timing is FeeTiming.WITH_INSTALMENT and on not in instalment_dates:
            raise _err(
                f"fee {name!r} is collected with an instalment but no instalment is due on"
                f" {on.isoformat()}",
                "APR_INVALID_INPUT",
            )
        else:
            if amount > 10**15:
                raise _err(f"cash-flow amount {amount} is too large", "APR_INVALID_INPUT")
            extra.append((on, amount))
    if deducted >= principal:
        raise _err(
            f"fees deducted at disbursement ({deducted}) leave nothing of the principal"
            f" ({principal}) in the borrower's hands",
            "APR_INVALID_CASH_FLOWS",
        )
    if 1 + len(repayments) + len(extra) > 10_000:
        raise _err("more than 10000 cash flows", "APR_INVALID_INPUT")
    return [(disbursed_on, principal - deducted)], ref_merge([*repayments, *extra]), unit


def ref_within(stated: int, nominal: Decimal, regular: bool) -> bool:
    with localcontext(_CTX):
        return abs(Decimal(stated) - nominal * 10_000) <= Decimal("12.5" if regular else "25")


# ---------------------------------------------------------------------------------------------
# Comparison


def _error(exc: LedgerError) -> tuple[Any, ...]:
    return ("error", type(exc), exc.code, exc.message)


def _try(read: Callable[[], Any]) -> Any:
    """A figure, or the exception reading it raises (huge rates overflow the 50-digit
    quantization of the percent strings, in both engines)."""
    try:
        return read()
    except ArithmeticError as exc:
        return ("raises", type(exc))


def periodic_text(result: AprResult) -> str:
    """The ``periodic_rate`` that `AprResult.as_dict` prints (without the other figures)."""
    figures = result._figures
    text = figures.periodic_text() if figures is not None else None
    return text or f"{result.periodic_rate.quantize(Decimal('1e-12'), ROUND_HALF_UP):f}"


def outcome_new(run: Callable[[], AprResult], stated: Sequence[int] = ()) -> tuple[Any, ...]:
    try:
        result = run()
    except LedgerError as exc:
        return _error(exc)
    # the fast figures first (before the Decimal fields exist), then the Decimal fields
    fast = (
        _try(lambda: result.nominal_bps),
        _try(lambda: result.effective_bps),
        _try(lambda: result.nominal_percent),
        _try(lambda: result.effective_percent),
        _try(lambda: periodic_text(result)),
        _try(result.as_dict),
        result.unit_period.code,
        result.regular,
        result.unit_period_inferred,
        tuple(within_tolerance(s, result) for s in stated),
        tuple(within_tolerance(s, result, regular=not result.regular) for s in stated),
    )
    exact = (result.periodic_rate, result.nominal, result.effective)
    eager = AprResult(
        result.periodic_rate,
        result.unit_period,
        result.unit_periods_per_year,
        result.nominal,
        result.effective,
        result.regular,
        result.unit_period_inferred,
    )
    assert eager == result and hash(eager) == hash(result)
    assert _try(eager.as_dict) == _try(result.as_dict)  # the exact values tell the same
    return ("ok", *fast, *exact)


def outcome_ref(ref: dict[str, Any], stated: Sequence[int] = ()) -> tuple[Any, ...]:
    return (
        "ok",
        *(_try(lambda k=k: ref[k]()) for k in ("nominal_bps", "effective_bps")),
        *(_try(lambda k=k: ref[k]()) for k in ("nominal_percent", "effective_percent")),
        _try(ref["periodic_text"]),
        _try(lambda: ref_as_dict(ref)),
        ref["unit"],
        ref["regular"],
        ref["inferred"],
        tuple(ref_within(s, ref["nominal"], ref["regular"]) for s in stated),
        tuple(ref_within(s, ref["nominal"], not ref["regular"]) for s in stated),
        ref["periodic_rate"],
        ref["nominal"],
        ref["effective"],
    )


def probes(nominal_bps: int) -> list[int]:
    """Stated rates around the tolerance edges of a computed rate."""
    return [nominal_bps + d for d in (-26, -25, -24, -13, -12, 0, 12, 13, 24, 25, 26)]


def assert_same(new: tuple[Any, ...], ref: tuple[Any, ...]) -> None:
    assert new == ref


def compare(
    run_new: Callable[[Sequence[int]], AprResult], run_ref: Callable[[], dict[str, Any]]
) -> tuple[Any, ...]:
    """Runs both engines; the tolerance verdicts are probed around the reference rate."""
    try:
        ref = run_ref()
    except LedgerError as exc:
        expected: tuple[Any, ...] = _error(exc)
        stated: list[int] = []
    else:
        stated = probes(ref["nominal_bps"]())
        expected = outcome_ref(ref, stated)
    got = outcome_new(lambda: run_new(stated), stated)
    assert got == expected
    return got


# ---------------------------------------------------------------------------------------------
# Strategies


def add_months(day: date, months: int, on: int | None = None) -> date:
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(on if on is not None else day.day, last))


@st.composite
def schedules(draw: st.DrawFn, start: date) -> list[date]:
    """Strictly increasing payment dates from ``start`` on, of many shapes."""
    kind = draw(
        st.sampled_from(
            ["monthly", "monthly", "month_end", "weekly", "daily", "semimonthly", "irregular",
             "single"]
        )
    )  # fmt: skip
    if kind in ("monthly", "month_end"):
        every = draw(st.sampled_from([1, 1, 1, 2, 3, 6, 12]))
        day = 31 if kind == "month_end" else draw(st.one_of(st.just(start.day), st.integers(1, 31)))
        count = draw(st.integers(1, 40 if every == 1 else 12))
        dates = [add_months(start, every * (k + 1), on=day) for k in range(count)]
    elif kind == "weekly":
        weeks = draw(st.sampled_from([1, 2, 4]))
        first = start + timedelta(days=draw(st.integers(1, 40)))
        dates = [first + timedelta(weeks=weeks * k) for k in range(draw(st.integers(1, 60)))]
    elif kind == "daily":
        first = start + timedelta(days=draw(st.integers(0, 5)))
        dates = [first + timedelta(days=k) for k in range(draw(st.integers(1, 90)))]
    elif kind == "semimonthly":
        days = draw(st.sampled_from([(1, 16), (15, 31)]))
        dates = []
        for k in range(1, draw(st.integers(1, 18)) + 1):
            month = add_months(start, k, on=1)
            dates += [add_months(month, 0, on=d) for d in days]
    elif kind == "irregular":
        gaps = draw(st.lists(st.integers(1, 200), min_size=1, max_size=30))
        dates, on = [], start
        for gap in gaps:
            on += timedelta(days=gap)
            dates.append(on)
    else:
        dates = [start + timedelta(days=draw(st.integers(0, 800)))]
    if len(dates) > 1 and dates[1] > start + timedelta(days=1) and draw(st.booleans()):
        # an odd first period
        room = (dates[1] - start).days - 1
        dates[0] = start + timedelta(days=draw(st.integers(1, room)))
    return sorted(set(dates))


PRINCIPALS = st.one_of(
    st.integers(1, 10_000), st.integers(10_000, 10**9), st.integers(10**9, 10**15)
)


@st.composite
def amounts_for(draw: st.DrawFn, count: int, principal: int) -> list[int]:
    """Payments for ``principal``: level or not, at every kind of rate."""
    shape = draw(st.sampled_from(["factor", "factor", "factor", "near_zero", "exact_zero", "wild"]))
    if shape == "exact_zero":
        total = principal
    elif shape == "near_zero":
        total = principal + draw(st.integers(-5, 5))
    else:
        factor = draw(
            st.one_of(
                st.floats(0.3, 3.0),
                st.floats(0.999, 1.001),
                st.floats(3.0, 5000.0),
                st.floats(1e-7, 0.3),
                st.sampled_from([1e-12, 1e6, 1e9]),
            )
        )
        total = int(principal * factor)
    total = max(count, min(total, count * 10**15))
    base, rest = divmod(total, count)
    out = [base] * count
    out[-1] += rest
    if shape == "wild" or draw(st.booleans()):
        for k in draw(st.lists(st.integers(0, count - 1), max_size=3)):
            out[k] = max(1, out[k] * draw(st.integers(1, 300)) // 100)
    return [min(max(1, a), 10**15) for a in out]


UNIT_CODES = ["1M", "2M", "3M", "5M", "12M", "SM", "1W", "2W", "3W", "4W", "1D", "30D", "45D"]


@st.composite
def cash_flow_cases(
    draw: st.DrawFn,
) -> tuple[list[Flow], list[Flow], date | None, UnitPeriod | None]:
    start = draw(st.dates(date(1990, 1, 1), date(2060, 12, 31)))
    principal = draw(PRINCIPALS)
    dates = draw(schedules(start))
    payments = list(zip(dates, draw(amounts_for(len(dates), principal)), strict=True))
    advances = [(start, principal)]
    if draw(st.integers(0, 5)) == 0:  # more advances (draws, or alternating flows)
        for _ in range(draw(st.integers(1, 2))):
            on = start + timedelta(days=draw(st.integers(0, 400)))
            advances.append((on, draw(st.integers(1, max(1, principal)))))
    term_start = None
    if draw(st.integers(0, 6)) == 0:
        term_start = start - timedelta(days=draw(st.integers(0, 60)))
    unit = None
    if draw(st.integers(0, 5)) == 0:
        unit = UnitPeriod.parse(draw(st.sampled_from(UNIT_CODES)))
    return advances, payments, term_start, unit


def _flows(
    advances: Sequence[Flow], payments: Sequence[Flow], term_start: date | None
) -> CashFlows:
    return CashFlows(
        tuple(CashFlow(on, amount) for on, amount in advances),
        tuple(CashFlow(on, amount) for on, amount in payments),
        term_start=term_start,
    )


# ---------------------------------------------------------------------------------------------
# Properties


@SETTINGS
@given(case=cash_flow_cases())
def test_compute_apr_matches_the_exact_engine(
    case: tuple[list[Flow], list[Flow], date | None, UnitPeriod | None],
) -> None:
    advances, payments, term_start, unit = case
    flows = _flows(advances, payments, term_start)
    compare(
        lambda _: compute_apr(flows, unit),
        lambda: ref_compute(advances, payments, term_start, unit),
    )


FEE_NAMES = st.sampled_from(["担保费", "服务费", "会员费", "guarantee", "insurance"])


@st.composite
def fee_loans(
    draw: st.DrawFn,
) -> tuple[int, date, list[Flow], list[tuple[str, int, date, FeeTiming]], UnitPeriod | None]:
    start = draw(st.dates(date(1990, 1, 1), date(2060, 12, 31)))
    principal = draw(PRINCIPALS)
    dates = [d for d in draw(schedules(start)) if d > start] or [start + timedelta(days=30)]
    repayments = list(zip(dates, draw(amounts_for(len(dates), principal)), strict=True))
    fees = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["upfront", "with", "with_all", "separate", "bad"]))
        amount = draw(st.integers(1, max(1, principal // 8)))
        if kind == "upfront":
            on = start - timedelta(days=draw(st.integers(0, 5)))
            fees.append((draw(FEE_NAMES), amount, on, draw(st.sampled_from(list(FeeTiming)))))
        elif kind == "with":
            fees.append(
                (draw(FEE_NAMES), amount, draw(st.sampled_from(dates)), FeeTiming.WITH_INSTALMENT)
            )
        elif kind == "with_all":
            name = draw(FEE_NAMES)
            fees += [
                (f"{name}#{n}", amount, on, FeeTiming.WITH_INSTALMENT) for n, on in enumerate(dates)
            ]
        elif kind == "separate":
            on = start + timedelta(days=draw(st.integers(1, 400)))
            fees.append((draw(FEE_NAMES), amount, on, FeeTiming.SEPARATE))
        else:  # errors: an upfront fee after disbursement, a fee on no instalment, a huge fee
            on = start + timedelta(days=draw(st.integers(1, 400)))
            timing = draw(st.sampled_from([FeeTiming.UPFRONT, FeeTiming.WITH_INSTALMENT]))
            huge = draw(st.sampled_from([amount, 10**15 + 1, principal]))
            fees.append(
                (draw(FEE_NAMES), huge, on, draw(st.sampled_from([timing, FeeTiming.SEPARATE])))
            )
    unit = None
    if draw(st.integers(0, 6)) == 0:
        unit = UnitPeriod.parse(draw(st.sampled_from(UNIT_CODES)))
    return principal, start, repayments, fees, unit


@SETTINGS
@given(loan=fee_loans())
def test_fold_fees_and_compute_match_the_exact_engine(
    loan: tuple[int, date, list[Flow], list[tuple[str, int, date, FeeTiming]], UnitPeriod | None],
) -> None:
    principal, start, repayments, fees, unit = loan
    fee_objects = [Fee(name, amount, on, timing) for name, amount, on, timing in fees]

    def run_new(_: Sequence[int]) -> AprResult:
        flows = fold_fees(
            principal, start, [CashFlow(*r) for r in repayments], fee_objects, unit_period=unit
        )
        adv, pays, pinned = ref_fold(principal, start, repayments, fees, unit)
        assert [(f.on, f.amount) for f in flows.advances] == adv
        assert [(f.on, f.amount) for f in flows.payments] == pays
        assert flows.merged_payments() == flows.payments and flows.unit_period == pinned
        return compute_apr(flows)

    def run_ref() -> dict[str, Any]:
        adv, pays, pinned = ref_fold(principal, start, repayments, fees, unit)
        return ref_compute(adv, pays, None, pinned, inferred=False)

    compare(run_new, run_ref)


@st.composite
def forms(draw: st.DrawFn) -> FeeDisclosure:
    start = draw(st.dates(date(2000, 1, 1), date(2050, 12, 31)))
    principal = draw(st.one_of(st.integers(100, 10**9), st.integers(10**9, 2 * 10**15)))
    dates = [d for d in draw(schedules(start)) if d > start] or [start + timedelta(days=30)]
    parts = [principal // len(dates)] * len(dates)
    parts[-1] += principal - sum(parts)
    interest = draw(amounts_for(len(dates), max(1, principal // 10)))
    zeroed = draw(st.lists(st.integers(0, len(dates) - 1), max_size=2))
    schedule = []
    for k, on in enumerate(dates):
        extra = 0 if k in zeroed and parts[k] == 0 else interest[k] * draw(st.integers(0, 2))
        schedule.append(Instalment(due=on, principal=parts[k], interest=extra))
    items = []
    for _ in range(draw(st.integers(0, 3))):
        timing = draw(st.sampled_from(list(FeeTiming)))
        amount = draw(st.integers(1, max(1, principal // 20)))
        if timing is FeeTiming.UPFRONT:
            ons = [start - timedelta(days=draw(st.integers(0, 3)))]
        elif timing is FeeTiming.WITH_INSTALMENT:
            ons = draw(
                st.lists(st.sampled_from(dates), min_size=1, max_size=len(dates), unique=True)
            )
            if draw(st.booleans()):
                ons = dates
        else:
            ons = [
                start + timedelta(days=draw(st.integers(0, 500)))
                for _ in range(draw(st.integers(1, 3)))
            ]
        charges = tuple(FeeCharge(on=on, amount=amount) for on in ons)
        items.append(
            FeeItem(
                name=draw(FEE_NAMES),
                category="other",
                timing=timing,
                collector="C",
                charges=charges,
            )
        )
    return FeeDisclosure(
        lender="Bank",
        principal=principal,
        disbursed_on=start,
        schedule=tuple(schedule),
        fees=tuple(items),
        stated_apr_bps=0,
        no_other_charges=True,
        no_other_charges_statement="none",
        confirmation=BorrowerConfirmation(
            method="online", confirmed_at=datetime(2026, 1, 1, tzinfo=UTC), reading_seconds=30
        ),
    )


def ref_disclosure(form: FeeDisclosure) -> dict[str, Any]:
    repayments, fees = disclosure_cash_flows(form)
    if not repayments:
        raise LedgerError("the schedule has no payment", code="INVALID_INPUT")
    adv, pays, unit = ref_fold(
        form.principal,
        form.disbursed_on,
        [(r.on, r.amount) for r in repayments],
        [(f.name, f.amount, f.charged_on, f.timing) for f in fees],
    )
    # The regulatory rate (`ledger.disclosure.regulatory_apr`): every payment, the higher rate of
    # the counted and the money-weighted unit-periods (those two choices are tested on their own).
    dates, amounts = [on for on, _ in pays], [amount for _, amount in pays]
    gaps = payment_gaps(dates)
    start = form.disbursed_on
    units = [
        infer_unit_period_of(start, (start,), dates, gaps),
        money_weighted_unit_period(start, dates, amounts, gaps),
    ]
    candidates = [ref_compute(adv, pays, None, u, inferred=False) for u in dict.fromkeys(units)]
    ref = candidates[0]
    if len(candidates) > 1 and candidates[1]["nominal"] > ref["nominal"]:
        ref = candidates[1]
    del unit
    if not ref_within(form.stated_apr_bps, ref["nominal"], ref["regular"]):
        tolerance = Decimal("12.5") if ref["regular"] else Decimal("25")
        raise DisclosureMismatchError(
            f"stated APR {form.stated_apr_bps} bps differs from the computed"
            f" {ref['nominal_percent']()}% (irr-actuarial-regz-appj, unit-period {ref['unit']})"
            f" by"
            f" more than {tolerance} bps"
        )
    return ref


@SETTINGS
@given(form=forms(), offset=st.sampled_from([0, 0, 1, -1, 12, 13, -12, -13, 25, 26, -25, -26]))
def test_check_disclosure_matches_the_exact_engine(form: FeeDisclosure, offset: int) -> None:
    try:
        bps = ref_disclosure(form.model_copy(update={"stated_apr_bps": 0}))["nominal_bps"]()
    except DisclosureMismatchError as exc:
        bps = int(Decimal(exc.message.split("computed ")[1].split("%")[0]) * 100)
    except LedgerError:
        bps = 0
    stated = max(0, bps + offset)
    form = form.model_copy(update={"stated_apr_bps": stated})
    names = ("nominal_bps", "effective_bps", "nominal_percent", "effective_percent")
    try:
        ref = ref_disclosure(form)
    except LedgerError as exc:
        expected: tuple[Any, ...] = _error(exc)
    else:
        expected = (
            "ok",
            *(_try(ref[name]) for name in names),
            _try(ref["periodic_text"]),
            _try(lambda: ref_as_dict(ref)),
            *(ref[name] for name in ("unit", "regular", "inferred")),
            *(ref[name] for name in ("periodic_rate", "nominal", "effective")),
        )
    try:
        result = check_disclosure(form)
    except LedgerError as exc:
        got: tuple[Any, ...] = _error(exc)
    else:
        got = (
            "ok",
            *(_try(lambda name=name: getattr(result, name)) for name in names),
            _try(lambda: periodic_text(result)),
            _try(result.as_dict),
            result.unit_period.code,
            result.regular,
            result.unit_period_inferred,
            result.periodic_rate,
            result.nominal,
            result.effective,
        )
    assert got == expected


@SETTINGS
@given(
    k=st.integers(0, 200_000),
    scale=st.sampled_from([10_000, 1_000_000, 10**12]),
    unit=st.sampled_from(["1M", "1W", "12M"]),
    m=st.integers(1, 40),
    delta=st.integers(-2, 2),
    negative=st.booleans(),
)
def test_rates_on_rounding_boundaries_match(
    k: int, scale: int, unit: str, m: int, delta: int, negative: bool
) -> None:
    """One payment one unit-period after the advance: the root is P / A - 1 exactly, so P and A
    can put the rate exactly on (or next to) a half-unit of bps, percent or the 12th decimal."""
    per = {"1M": 12, "1W": 52, "12M": 1}[unit]
    advance = 2 * per * scale * m
    offset = (2 * k + 1) * m + delta
    assume(0 < advance <= 10**15 and offset < advance)
    payment = advance - offset if negative else advance + offset
    assume(0 < payment <= 10**15)
    start = date(2026, 1, 15)
    on = {"1M": date(2026, 2, 15), "1W": date(2026, 1, 22), "12M": date(2027, 1, 15)}[unit]
    advances, payments = [(start, advance)], [(on, payment)]
    compare(
        lambda _: compute_apr(_flows(advances, payments, None), unit),
        lambda: ref_compute(advances, payments, None, UnitPeriod.parse(unit)),
    )


# ---------------------------------------------------------------------------------------------
# The fallback to the exact engine, forced


def _one_period(advance: int, payment: int) -> CashFlows:
    return _flows([(date(2026, 1, 15), advance)], [(date(2026, 2, 15), payment)], None)


def test_a_rate_on_half_a_basis_point_falls_back_to_the_exact_engine() -> None:
    # 1/80000 a month is exactly 1.5 bps a year: the bracket straddles the rounding boundary
    result = compute_apr(_one_period(80_000, 80_001))
    figures = result._figures
    assert isinstance(figures, Figures)
    assert figures.nominal_bps() is None  # not decidable from the bracket...
    assert figures.nominal_percent() == "0.0150"  # ...while this one is
    assert result.nominal_bps == 2  # half-up, from the exact Decimal value
    assert result.nominal == Decimal("0.00015")
    # |14 - 1.5| = 12.5 is within the 1/8 point exactly: the verdict needs the exact value too
    assert figures.within(14, Decimal("12.5")) is None
    assert within_tolerance(14, result) and not within_tolerance(15, result)
    check_disclosed_apr(14, result)
    ref = ref_compute([(date(2026, 1, 15), 80_000)], [(date(2026, 2, 15), 80_001)])
    assert (result.nominal_bps, result.nominal, result.periodic_rate) == (
        ref["nominal_bps"](),
        ref["nominal"],
        ref["periodic_rate"],
    )


def test_a_root_on_a_grid_rate_is_found_like_the_exact_engine() -> None:
    # 50% a month exactly (a grid rate), and 0% with two advances (the float scan cannot sign
    # the equation at 0 there, so the exact engine evaluates it)
    cases = [
        ([(date(2026, 1, 15), 10_000)], [(date(2026, 2, 15), 15_000)]),
        (
            [(date(2026, 1, 15), 10_000), (date(2026, 2, 15), 5_000)],
            [(date(2026, 3, 15), 9_000), (date(2026, 4, 15), 6_000)],
        ),
        ([(date(2026, 1, 15), 10_000)], [(date(2026, 2, 15), 4_000), (date(2026, 3, 15), 6_000)]),
    ]
    for advances, payments in cases:
        compare(
            lambda _, a=advances, p=payments: compute_apr(_flows(a, p, None)),
            lambda a=advances, p=payments: ref_compute(a, p),
        )
    zero = compute_apr(_flows(*cases[2], None))
    assert zero.as_dict()["periodic_rate"] == "0.000000000000" and zero.nominal_bps == 0


def test_errors_match_the_exact_engine() -> None:
    start = date(2026, 1, 1)
    cases = [
        ([(start, 10**9)], [(date(2026, 2, 1), 1)]),  # no solution: payments negligible
        ([(start, 1)], [(date(2026, 2, 1), 10**15)]),  # no solution: rate above 10^6
        ([(start, 10_000), (date(2026, 3, 1), 16_100)], [(date(2026, 2, 1), 25_500)]),  # two
        ([(start, 10_000)], [(start, 10_000)]),  # no term
    ]
    for advances, payments in cases:
        outcome = compare(
            lambda _, a=advances, p=payments: compute_apr(
                _flows(a, p, None), "1M" if len(a) > 1 else None
            ),
            lambda a=advances, p=payments: ref_compute(
                a, p, None, UnitPeriod("M", 1) if len(a) > 1 else None
            ),
        )
        assert outcome[0] == "error"


# ---------------------------------------------------------------------------------------------
# AprResult keeps its dataclass behaviour when its Decimal fields are computed lazily


def test_lazy_results_behave_like_the_dataclass() -> None:
    flows = _flows(
        [(date(2026, 1, 15), 1_000_000)],
        [(add_months(date(2026, 1, 15), k), 90_000) for k in range(1, 13)],
        None,
    )
    lazy = compute_apr(flows)
    assert isinstance(lazy._figures, Figures)
    assert [f.name for f in dataclasses.fields(AprResult)] == [
        "periodic_rate", "unit_period", "unit_periods_per_year", "nominal", "effective",
        "regular", "unit_period_inferred", "method",
    ]  # fmt: skip
    out = lazy.as_dict()
    assert not any(isinstance(v, float) for v in out.values())
    other = compute_apr(flows)
    assert lazy == other and hash(lazy) == hash(other)  # forces the exact values
    assert isinstance(lazy.periodic_rate, Decimal) and isinstance(lazy.nominal, Decimal)
    eager = dataclasses.replace(lazy)
    assert eager == lazy and eager._figures is None and eager.as_dict() == out
    assert repr(eager) == repr(lazy)
    for clone in (
        pickle.loads(pickle.dumps(compute_apr(flows))),
        copy.deepcopy(compute_apr(flows)),
    ):
        assert clone == lazy and clone.as_dict() == out
    with pytest.raises(dataclasses.FrozenInstanceError):
        lazy.regular = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        _ = lazy.no_such_field  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# The float accelerator's error bound holds (checked against exact rational arithmetic)


@SETTINGS
@given(
    data=st.data(),
    x=st.one_of(
        st.floats(-0.995, -0.5),
        st.floats(-0.5, 0.5),
        st.floats(-1e-6, 1e-6),
        st.floats(0.5, 2000.0),
        st.sampled_from([0.0, 1e-300, -1e-300, 1e-12]),
    ),
)
def test_the_float_error_bound_contains_the_exact_value(data: st.DataObject, x: float) -> None:
    from ledger.apr.fast import _evaluate, _groups, _Overflow

    count = data.draw(st.integers(1, 60))
    level = data.draw(st.integers(1, 10**15 // 2))
    amounts = [
        data.draw(st.sampled_from([level, level, level, data.draw(st.integers(1, 10**15))]))
        for _ in range(count)
    ]
    first = data.draw(st.integers(0, 5))
    gaps = data.draw(st.lists(st.sampled_from([1, 1, 1, 2]), min_size=count, max_size=count))
    fulls = [first + sum(gaps[:k]) for k in range(count)]
    den = data.draw(st.sampled_from([1, 7, 15, 30, 365]))
    nums = [
        data.draw(st.sampled_from([0, 0, data.draw(st.integers(0, den))])) for _ in range(count)
    ]
    advance = data.draw(st.integers(1, 10**15))
    groups = _groups(amounts, fulls, nums, [den] * count)
    try:
        value, bound, _ = _evaluate(groups, float(advance), x, False)
    except _Overflow:
        return
    rate = Fraction(x)
    exact = (
        sum(
            Fraction(a) / ((1 + Fraction(n, den) * rate) * (1 + rate) ** t)
            for a, t, n in zip(amounts, fulls, nums, strict=True)
        )
        - advance
    )
    assert abs(Fraction(value) - exact) <= Fraction(bound)
