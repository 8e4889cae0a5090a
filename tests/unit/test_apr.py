"""Tests of the APR engine (ledger.apr): Regulation Z Appendix J actuarial method, fee folding."""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.apr import (
    METHOD,
    AprResult,
    CashFlow,
    CashFlows,
    Fee,
    FeeTiming,
    UnitPeriod,
    apr_from_json,
    check_disclosed_apr,
    classify_period,
    compute_apr,
    fold_fees,
    infer_unit_period,
    is_regular,
    parse_amount,
    within_tolerance,
)
from ledger.apr.periods import positions
from ledger.errors import AprError, DisclosureMismatchError, InputError

# ---------------------------------------------------------------------------------------------
# helpers


def add_months(day: date, months: int, on: int | None = None) -> date:
    """``day`` plus ``months`` calendar months on day-of-month ``on`` (clamped to month end)."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(on if on is not None else day.day, last))


def monthly(first: date, count: int, every: int = 1) -> list[date]:
    return [add_months(first, every * k) for k in range(count)]


def weekly(first: date, count: int, weeks: int = 1) -> list[date]:
    return [first + timedelta(weeks=weeks * k) for k in range(count)]


def semimonthly(first_month: date, count: int) -> list[date]:
    """1st and 16th of each month from ``first_month``."""
    out: list[date] = []
    month = first_month
    while len(out) < count:
        out += [month.replace(day=1), month.replace(day=16)]
        month = add_months(month, 1)
    return out[:count]


def flows(advance_on: date, advance: int, payments: list[tuple[date, int]]) -> CashFlows:
    return CashFlows(
        (CashFlow(advance_on, advance),), tuple(CashFlow(on, amount) for on, amount in payments)
    )


def level(dates: list[date], amount: int) -> list[tuple[date, int]]:
    return [(on, amount) for on in dates]


# ---------------------------------------------------------------------------------------------
# Regulation Z Appendix J (c), "Examples for the actuarial method".
#
# Source: 12 CFR Part 1026, Appendix J, paragraph (c)(1)-(c)(6),
#   https://www.consumerfinance.gov/rules-policy/regulations/1026/J/ and
#   https://www.govinfo.gov/content/pkg/CFR-2024-title12-vol9/pdf/CFR-2024-title12-vol9-part1026-appJ.pdf
# The examples are page images in the eCFR/CFR, so they were taken from two independent public
# transcriptions that agree with each other on every figure:
#   - simontreanor/FSharp.Finance.Personal, tests "AprUsActuarialTests" ((c)(1)-(c)(5)(i), with the
#     advance and payment dates), and
#   - Alexadar/rootyapps, par/scratch/SOURCES.md section 2 (all 17 examples with amounts, t, f and
#     w, and the (c)(6) dates 1978-01-25 / 1978-03-03 / 1978-09-15 / 1979-09-15).
# App J states its results "were obtained by using a 10 digit programmable calculator" and are
# correct when rounded to 2 decimals, so the printed APR must equal ours rounded to 2 decimals.
# (c)(5)(ii)-(iv) state only the term (6 months, 18 months, 2 years): the dates below are ours
# (start 1978-01-03 as in (c)(5)(i)); any dates with that term give the same result.


@dataclass(frozen=True)
class AppJExample:
    ref: str
    advance_on: date
    advance: int  # cents
    payments: list[tuple[date, int]]
    printed_apr: str  # percent, as printed
    unit: str
    # (payment index, t, f) pairs printed in the appendix
    printed_positions: tuple[tuple[int, int, Fraction], ...]


def _c6_i_payments() -> list[tuple[date, int]]:
    # 24 payments of $100 every 4 weeks in four series: (t, f) = (0, 26/28) x9, (10, 12/28) x6,
    # (16, 26/28) x6, (23, 12/28) x3, from the advance on 1978-01-25.
    start = date(1978, 1, 25)
    offsets: list[int] = []
    for t, rest, count in ((0, 26, 9), (10, 12, 6), (16, 26, 6), (23, 12, 3)):
        offsets += [28 * (t + k) + rest for k in range(count)]
    return [(start + timedelta(days=days), 10000) for days in offsets]


APPENDIX_J = [
    # (c)(1) Single advance transaction, with or without an odd first period, otherwise regular
    AppJExample("(c)(1)(i) monthly, regular first period", date(1978, 1, 10), 500000,
                level(monthly(date(1978, 2, 10), 24), 23000), "9.69", "1M",
                ((0, 1, Fraction(0)),)),
    AppJExample("(c)(1)(ii) monthly, long first period", date(1978, 2, 10), 600000,
                level(monthly(date(1978, 4, 1), 36), 20000), "11.82", "1M",
                ((0, 1, Fraction(19, 30)),)),
    AppJExample("(c)(1)(iii) semimonthly, short first period", date(1978, 2, 23), 500000,
                level(semimonthly(date(1978, 3, 1), 24), 21917), "10.34", "SM",
                ((0, 0, Fraction(6, 15)),)),
    AppJExample("(c)(1)(iv) quarterly, long first period", date(1978, 5, 23), 1000000,
                level(monthly(date(1978, 10, 1), 40, every=3), 38500), "8.97", "3M",
                ((0, 1, Fraction(39, 90)),)),
    AppJExample("(c)(1)(v) weekly, long first period", date(1978, 3, 20), 50000,
                level(weekly(date(1978, 4, 21), 30), 1760), "14.96", "1W",
                ((0, 4, Fraction(4, 7)),)),
    # (c)(2) odd first payment
    AppJExample("(c)(2)(i) monthly, irregular first payment", date(1978, 1, 10), 500000,
                [(date(1978, 2, 10), 25000), *level(monthly(date(1978, 3, 10), 23), 23000)],
                "10.08", "1M", ((0, 1, Fraction(0)), (1, 2, Fraction(0)))),
    AppJExample("(c)(2)(ii) every 4 weeks, long first period, irregular first payment",
                date(1978, 3, 18), 40000,
                [(date(1978, 4, 20), 3950), *level(weekly(date(1978, 5, 18), 11, 4), 3831)],
                "28.50", "4W", ((0, 1, Fraction(5, 28)), (1, 2, Fraction(5, 28)))),
    # (c)(3) odd final payment
    AppJExample("(c)(3)(i) monthly, irregular final payment", date(1978, 1, 10), 500000,
                [*level(monthly(date(1978, 2, 10), 23), 23000), (date(1980, 1, 10), 28000)],
                "10.50", "1M", ((0, 1, Fraction(0)), (23, 24, Fraction(0)))),
    AppJExample("(c)(3)(ii) every 2 weeks, short first period, irregular final payment",
                date(1978, 4, 3), 20000,
                [*level(weekly(date(1978, 4, 11), 19, 2), 950), (date(1979, 1, 2), 3000)],
                "12.22", "2W", ((0, 0, Fraction(8, 14)), (19, 19, Fraction(8, 14)))),
    # (c)(4) odd first and final payments
    AppJExample("(c)(4)(i) monthly, irregular first and final payments", date(1978, 1, 10), 500000,
                [(date(1978, 2, 10), 25000), *level(monthly(date(1978, 3, 10), 22), 23000),
                 (date(1980, 1, 10), 28000)],
                "10.90", "1M", ((0, 1, Fraction(0)), (23, 24, Fraction(0)))),
    AppJExample("(c)(4)(ii) every 2 months, short first period, irregular first and final",
                date(1978, 1, 10), 800000,
                [(date(1978, 3, 1), 44936), *level(monthly(date(1978, 5, 1), 18, every=2), 46500),
                 (date(1981, 5, 1), 20000)],
                "7.30", "2M",
                ((0, 0, Fraction(52, 60)), (1, 1, Fraction(52, 60)), (19, 19, Fraction(52, 60)))),
    # (c)(5) single advance, single payment
    AppJExample("(c)(5)(i) term of 255 days", date(1978, 1, 3), 100000,
                [(date(1978, 9, 15), 108000)], "11.45", "255D", ((0, 1, Fraction(0)),)),
    AppJExample("(c)(5)(ii) term of 6 months", date(1978, 1, 3), 100000,
                [(date(1978, 7, 3), 104400)], "8.80", "6M", ((0, 1, Fraction(0)),)),
    AppJExample("(c)(5)(iii) term of 18 months", date(1978, 1, 3), 100000,
                [(date(1979, 7, 3), 113519)], "8.76", "12M", ((0, 1, Fraction(6, 12)),)),
    AppJExample("(c)(5)(iv) term of 2 years", date(1978, 1, 3), 100000,
                [(date(1980, 1, 3), 124000)], "11.36", "12M", ((0, 2, Fraction(0)),)),
    # (c)(6) complex single advance transactions
    AppJExample("(c)(6)(i) skipped payments, every 4 weeks", date(1978, 1, 25), 213500,
                _c6_i_payments(), "12.00", "4W",
                ((0, 0, Fraction(26, 28)), (9, 10, Fraction(12, 28)), (15, 16, Fraction(26, 28)),
                 (21, 23, Fraction(12, 28)))),
    AppJExample("(c)(6)(ii) skipped payments plus single payments", date(1978, 3, 3), 735000,
                [*level(monthly(date(1978, 9, 15), 3), 100000), (date(1979, 3, 15), 200000),
                 *level(monthly(date(1979, 9, 15), 3), 75000), (date(1980, 2, 1), 100000)],
                "10.22", "1M",
                ((0, 6, Fraction(12, 30)), (3, 12, Fraction(12, 30)), (4, 18, Fraction(12, 30)),
                 (7, 22, Fraction(29, 30)))),
]  # fmt: skip


@pytest.mark.parametrize("example", APPENDIX_J, ids=lambda e: e.ref)
def test_appendix_j_examples_reproduce_the_printed_apr(example: AppJExample) -> None:
    result = compute_apr(flows(example.advance_on, example.advance, example.payments))
    assert result.unit_period.code == example.unit
    assert result.unit_period_inferred
    assert result.method == METHOD == "irr-actuarial-regz-appj"
    percent = result.nominal * 100
    assert str(percent.quantize(Decimal("0.01"), ROUND_HALF_UP)) == example.printed_apr
    # and, a fortiori, within the 1/8-point tolerance of 1026.22(a)(2)
    assert abs(percent - Decimal(example.printed_apr)) <= Decimal("0.125")


@pytest.mark.parametrize("example", APPENDIX_J, ids=lambda e: e.ref)
def test_appendix_j_examples_count_full_and_fractional_unit_periods_as_printed(
    example: AppJExample,
) -> None:
    cash = flows(example.advance_on, example.advance, example.payments)
    placed = positions(cash.start, cash.merged_payments(), UnitPeriod.parse(example.unit))
    for index, full, fraction in example.printed_positions:
        assert (placed[index][1].full, placed[index][1].fraction) == (full, fraction)


def test_appendix_j_regularity_of_the_examples() -> None:
    regular = {e.ref: compute_apr(flows(e.advance_on, e.advance, e.payments)).regular
               for e in APPENDIX_J}  # fmt: skip
    assert [ref for ref, ok in regular.items() if not ok] == [
        "(c)(6)(i) skipped payments, every 4 weeks",
        "(c)(6)(ii) skipped payments plus single payments",
    ]


def test_single_payment_of_255_days_has_365_over_255_unit_periods() -> None:
    result = compute_apr(flows(date(1978, 1, 3), 100000, [(date(1978, 9, 15), 108000)]))
    assert result.unit_periods_per_year == Fraction(365, 255)
    assert result.periodic_rate == Decimal("0.08")
    assert result.as_dict()["unit_periods_per_year"] == "1.431372549"


# ---------------------------------------------------------------------------------------------
# Short single-payment loans in days. Source: the California deferred-deposit fee schedule at
# https://usacashservices.com/fees/california/ ("$100.00 $17.60 $117.60 458.86% 214.13%" for
# terms of 14 and 30 days) - App J (b)(5)(vii): one unit-period, 365/days unit-periods per year.


def test_payday_loan_of_14_days() -> None:
    result = compute_apr(flows(date(2026, 3, 2), 10000, [(date(2026, 3, 16), 11760)]))
    assert (result.unit_period.code, result.nominal_percent, result.nominal_bps) == (
        "14D",
        "458.8571",
        45886,
    )


def test_payday_loan_of_30_days_that_is_not_a_whole_month() -> None:
    result = compute_apr(flows(date(2026, 1, 1), 10000, [(date(2026, 1, 31), 11760)]))
    assert (result.unit_period.code, result.nominal_percent) == ("30D", "214.1333")


def test_single_payment_after_a_whole_month_counts_in_months_or_days_b5vi() -> None:
    cash = flows(date(2026, 4, 1), 10000, [(date(2026, 5, 1), 11760)])
    assert compute_apr(cash).unit_period.code == "1M"
    assert compute_apr(cash).nominal_percent == "211.2000"  # 17.6% x 12
    assert compute_apr(cash, "30D").nominal_percent == "214.1333"  # 17.6% x 365/30


# ---------------------------------------------------------------------------------------------
# PBoC-style example of domain.md R4 (marked unconfirmed there): principal 100,000, upfront fee
# 1,000, 12 monthly payments of 8,833.30. The engine gives a monthly IRR on the net 99,000 of
# 1.066983%, nominal 12.8038% and effective 13.5826%: consistent with "1.0670%, 12.80%, 13.58%".


def _pboc_flows() -> CashFlows:
    schedule = [CashFlow(on, 883330) for on in monthly(date(2026, 2, 15), 12)]
    upfront = Fee("服务费", 100000, date(2026, 1, 15), FeeTiming.UPFRONT)
    return fold_fees(10000000, date(2026, 1, 15), schedule, [upfront])


def test_domain_pboc_example() -> None:
    result = compute_apr(_pboc_flows())
    assert result.periodic_rate.quantize(Decimal("1e-8")) == Decimal("0.01066983")
    assert (result.periodic_rate * 100).quantize(Decimal("0.0001")) == Decimal("1.0670")
    assert result.nominal_percent == "12.8038"
    assert result.effective_percent == "13.5826"
    assert (result.nominal_bps, result.effective_bps) == (1280, 1358)
    assert result.regular and result.unit_period.code == "1M"
    # without the fee the same schedule costs much less: the fee must count (R2)
    schedule = level(monthly(date(2026, 2, 15), 12), 883330)
    plain = compute_apr(flows(date(2026, 1, 15), 10000000, schedule))
    assert plain.nominal_percent == "10.8957"


def test_domain_pboc_example_through_json() -> None:
    body = {
        "advances": [{"date": "2026-01-15", "amount": "100000.00"}],
        "payments": [
            {"date": d.isoformat(), "amount": "8833.30"} for d in monthly(date(2026, 2, 15), 12)
        ],
        "fees": [{"name": "服务费", "amount": "1000", "date": "2026-01-15", "timing": "upfront"}],
    }
    out = apr_from_json(body)
    assert out["apr_nominal"] == "12.8038"
    assert out["apr_effective"] == "13.5826"
    assert out["periodic_rate"] == "0.010669834876"
    assert out["unit_period_inferred"] is True


# ---------------------------------------------------------------------------------------------
# Exactness, special rates, solver range


def test_results_are_decimals_and_json_has_no_floats() -> None:
    result = compute_apr(_pboc_flows())
    assert isinstance(result.nominal, Decimal) and isinstance(result.effective, Decimal)
    assert isinstance(result.periodic_rate, Decimal)
    assert isinstance(result.unit_periods_per_year, Fraction)
    out = result.as_dict()
    assert not any(isinstance(v, float) for v in out.values())
    json.dumps(out)


def test_zero_rate_is_exactly_zero() -> None:
    result = compute_apr(
        flows(date(2026, 1, 1), 120000, level(monthly(date(2026, 2, 1), 12), 10000))
    )
    assert result.periodic_rate == 0
    assert (result.nominal_percent, result.effective_percent, result.nominal_bps) == (
        "0.0000",
        "0.0000",
        0,
    )


def test_negative_rates_are_computed_not_refused() -> None:
    result = compute_apr(
        flows(date(2026, 1, 1), 120000, level(monthly(date(2026, 2, 1), 12), 9000))
    )
    assert result.nominal < 0
    assert result.nominal_percent == "-19.0182"
    assert result.nominal_bps == -1902


def _level_payment(principal: int, rate: Decimal, count: int) -> Decimal:
    if rate == 0:
        return Decimal(principal) / count
    return principal * rate / (1 - (1 + rate) ** -count)


def _dates_for(unit: str, start: date, count: int) -> list[date]:
    parsed = UnitPeriod.parse(unit)
    if parsed.kind == "M":
        return monthly(add_months(start, parsed.count), count, every=parsed.count)
    return weekly(start + timedelta(weeks=parsed.count), count, parsed.count)


@pytest.mark.parametrize("apr_bps", [0, 1, 2400, 3600, 10000, 50000, 100000, 150000, 200000])
@pytest.mark.parametrize("unit", ["1M", "1W", "3M"])
def test_solver_converges_from_zero_to_2000_percent(apr_bps: int, unit: str) -> None:
    w = UnitPeriod.parse(unit).per_year
    with localcontext() as ctx:
        ctx.prec = 50
        rate = Decimal(apr_bps) / 10000 / (Decimal(w.numerator) / w.denominator)
        payment = int(_level_payment(10**9, rate, 36).to_integral_value(ROUND_HALF_UP))
    start = date(2026, 1, 15)
    result = compute_apr(flows(start, 10**9, level(_dates_for(unit, start, 36), payment)))
    assert result.unit_period.code == unit
    assert abs(result.nominal * 10000 - apr_bps) < Decimal("0.01")


def test_no_rate_exists_when_payments_are_negligible() -> None:
    with pytest.raises(AprError) as info:
        compute_apr(flows(date(2026, 1, 1), 10**9, [(date(2026, 2, 1), 1)]))
    assert info.value.code == "APR_NO_SOLUTION"


def test_alternating_flows_with_two_rates_are_refused() -> None:
    # advance 100, pay 255 a month later, borrow 161 a month after that: 15% and 40% a month
    # both solve it (-100 x^2 + 255 x - 161 = 0 with x = 1 + i)
    cash = CashFlows(
        (CashFlow(date(2026, 1, 1), 10000), CashFlow(date(2026, 3, 1), 16100)),
        (CashFlow(date(2026, 2, 1), 25500),),
    )
    with pytest.raises(AprError) as info:
        compute_apr(cash, "1M")
    assert info.value.code == "APR_AMBIGUOUS_RATE"


def test_multiple_advances_are_irregular_and_solved() -> None:
    # two draws, monthly repayments: every advance is discounted from the beginning of the term
    cash = CashFlows(
        (CashFlow(date(2026, 1, 10), 300000), CashFlow(date(2026, 2, 10), 200000)),
        tuple(CashFlow(on, 45000) for on in monthly(date(2026, 3, 10), 12)),
    )
    result = compute_apr(cash)
    assert result.unit_period.code == "1M" and not result.regular
    with localcontext() as ctx:
        ctx.prec = 50
        i = result.periodic_rate
        lhs = 300000 + 200000 / (1 + i)
        rhs = sum(45000 / (1 + i) ** t for t in range(2, 14))
        assert abs(lhs - rhs) < Decimal("1e-30")


def test_term_start_before_the_advance_shifts_the_advance() -> None:
    # finance charge earned from consummation on 1 Jan, money advanced 1 Feb: (b)(2), (b)(8)
    cash = CashFlows(
        (CashFlow(date(2026, 2, 1), 100000),),
        tuple(CashFlow(on, 9000) for on in monthly(date(2026, 3, 1), 12)),
        term_start=date(2026, 1, 1),
    )
    later = CashFlows(cash.advances, cash.payments)
    assert compute_apr(cash).periodic_rate == compute_apr(later).periodic_rate


# ---------------------------------------------------------------------------------------------
# Unit-period choice, App J (b)(3)-(b)(4)


def test_most_frequent_period_wins_and_ties_go_to_the_smaller_b4iA() -> None:
    pays = [date(2026, 2, 1), date(2026, 3, 1), date(2026, 3, 15), date(2026, 3, 29)]
    cash = flows(date(2026, 1, 1), 100000, [(d, 30000) for d in pays])  # 1M,1M,2W,2W
    assert infer_unit_period(cash).code == "2W"
    pays.append(date(2026, 4, 29))  # now a third month
    cash = flows(date(2026, 1, 1), 100000, [(d, 30000) for d in pays])
    assert infer_unit_period(cash).code == "1M"


def test_without_common_period_the_average_is_rounded_b4iB() -> None:
    pays = [date(2026, 2, 1), date(2026, 4, 1), date(2026, 7, 1)]  # 1M, 2M, 3M: avg 60.3 days
    cash = flows(date(2026, 1, 1), 100000, [(d, 40000) for d in pays])
    assert infer_unit_period(cash).code == "2M"
    assert not is_regular(cash)


def test_single_advance_single_payment_unit_is_the_term_capped_at_a_year_b4ii() -> None:
    start = date(2026, 1, 3)
    assert infer_unit_period(flows(start, 1, [(date(2026, 7, 3), 2)])).code == "6M"
    assert infer_unit_period(flows(start, 1, [(date(2026, 7, 4), 2)])).code == "182D"
    assert infer_unit_period(flows(start, 1, [(date(2028, 2, 1), 2)])).code == "12M"


def test_month_end_series_count_whole_months_b3iv() -> None:
    ends = [add_months(date(2026, 1, 31), k) for k in range(1, 13)]  # 28 Feb, 31 Mar, 30 Apr...
    cash = flows(date(2026, 1, 31), 110000, [(d, 10000) for d in ends])
    placed = positions(cash.start, cash.merged_payments(), UnitPeriod("M", 1))
    assert [(p.full, p.fraction) for _, p in placed] == [(k, Fraction(0)) for k in range(1, 13)]
    assert infer_unit_period(cash).code == "1M" and is_regular(cash)


def test_series_on_the_30th_uses_the_last_day_of_february_b3iv() -> None:
    dates = [add_months(date(2026, 1, 30), k, on=30) for k in range(1, 5)]  # 28 Feb, 30 Mar...
    assert dates[0] == date(2026, 2, 28)
    cash = flows(date(2026, 1, 20), 110000, [(d, 30000) for d in dates])
    placed = positions(cash.start, cash.merged_payments(), UnitPeriod("M", 1))
    assert [(p.full, p.fraction) for _, p in placed] == [(k, Fraction(10, 30)) for k in range(1, 5)]


def test_semimonthly_schedules_are_recognised() -> None:
    assert classify_period(date(2026, 3, 1), date(2026, 3, 16)).__str__() == "SM"
    assert str(classify_period(date(2026, 3, 16), date(2026, 4, 1))) == "SM"
    assert str(classify_period(date(2026, 2, 15), date(2026, 2, 28))) == "SM"
    assert str(classify_period(date(2026, 1, 31), date(2026, 2, 15))) == "SM"
    assert str(classify_period(date(2026, 3, 2), date(2026, 3, 16))) == "2W"
    assert str(classify_period(date(2026, 1, 31), date(2026, 2, 28))) == "1M"
    assert classify_period(date(2026, 1, 1), date(2026, 1, 11)) == 10


@pytest.mark.parametrize(
    ("code", "per_year"),
    [("1M", 12), ("2M", 6), ("3M", 4), ("12M", 1), ("SM", 24), ("1W", 52), ("2W", 26),
     ("4W", 13), ("1D", 365), ("255D", Fraction(365, 255))],
)  # fmt: skip
def test_unit_period_codes(code: str, per_year: Fraction) -> None:
    unit = UnitPeriod.parse(code)
    assert unit.code == str(unit) == code
    assert unit.per_year == per_year


@pytest.mark.parametrize("code", ["", "0M", "13M", "SM2", "2SM", "0W", "53W", "1Y", "m", "366D"])
def test_bad_unit_period_codes(code: str) -> None:
    with pytest.raises(AprError):
        UnitPeriod.parse(code)


def test_explicit_unit_period_overrides_inference() -> None:
    cash = flows(date(2026, 1, 1), 100000, level(weekly(date(2026, 1, 15), 10, 2), 10600))
    assert compute_apr(cash).unit_period.code == "2W"
    forced = compute_apr(cash, UnitPeriod("W", 1))
    assert forced.unit_period.code == "1W" and not forced.unit_period_inferred


# ---------------------------------------------------------------------------------------------
# Tolerance, 12 CFR 1026.22(a)(2)-(3)


def test_regular_tolerance_is_an_eighth_of_a_point() -> None:
    example = APPENDIX_J[0]  # 9.6857%
    result = compute_apr(flows(example.advance_on, example.advance, example.payments))
    assert result.regular and result.tolerance_bps == Decimal("12.5")
    assert within_tolerance(969, result) and within_tolerance(981, result)
    assert within_tolerance(957, result)
    assert not within_tolerance(982, result) and not within_tolerance(956, result)
    assert within_tolerance(982, result, regular=False)
    check_disclosed_apr(969, result)
    with pytest.raises(DisclosureMismatchError) as info:
        check_disclosed_apr(982, result)
    assert info.value.code == "DISCLOSURE_RATE_MISMATCH"


def test_irregular_tolerance_is_a_quarter_point() -> None:
    example = APPENDIX_J[15]  # (c)(6)(i), 11.9951%
    result = compute_apr(flows(example.advance_on, example.advance, example.payments))
    assert not result.regular and result.tolerance_bps == Decimal("25")
    assert within_tolerance(1224, result) and within_tolerance(1175, result)
    assert not within_tolerance(1225, result) and not within_tolerance(1174, result)
    assert result.as_dict()["tolerance_percentage_points"] == "0.25"


def test_irregular_first_and_final_payments_keep_a_loan_regular() -> None:
    start = date(2026, 1, 25)  # odd (long) first period to 10 March, odd first amount
    odd_first = [(date(2026, 3, 10), 12000), *level(monthly(date(2026, 4, 10), 10), 10000)]
    assert is_regular(flows(start, 100000, odd_first))
    odd_both = [*odd_first, (date(2027, 2, 10), 5000)]
    assert is_regular(flows(start, 100000, odd_both))
    odd_middle = [
        *level(monthly(date(2026, 2, 10), 5), 10000),
        *level(monthly(date(2026, 7, 10), 5), 11000),
    ]
    assert not is_regular(flows(start, 100000, odd_middle))
    skipped = level([*monthly(date(2026, 2, 10), 5), *monthly(date(2026, 8, 10), 5)], 11000)
    assert not is_regular(flows(start, 100000, skipped))


def test_within_tolerance_needs_integer_bps() -> None:
    result = compute_apr(_pboc_flows())
    with pytest.raises(AprError):
        within_tolerance(12.8, result)  # type: ignore[arg-type]
    with pytest.raises(AprError):
        within_tolerance(True, result)


# ---------------------------------------------------------------------------------------------
# Fee folding (R2/R4)


def test_fee_folding_rules() -> None:
    start = date(2026, 1, 15)
    schedule = [CashFlow(on, 90000) for on in monthly(date(2026, 2, 15), 12)]
    fees = [
        Fee("账户管理费", 5000, start, FeeTiming.UPFRONT),
        Fee("申请费", 1000, start - timedelta(days=3), FeeTiming.SEPARATE),  # paid before: prepaid
        Fee("担保费", 2000, date(2026, 2, 15), FeeTiming.WITH_INSTALMENT),
        Fee("会员费", 3000, date(2026, 3, 1), FeeTiming.SEPARATE),
    ]
    cash = fold_fees(1000000, start, schedule, fees)
    assert cash.advances == (CashFlow(start, 994000),)
    assert cash.payments[0] == CashFlow(date(2026, 2, 15), 92000)
    assert CashFlow(date(2026, 3, 1), 3000) in cash.payments
    assert len(cash.payments) == 13
    assert cash.unit_period == UnitPeriod("M", 1)  # from the schedule alone
    result = compute_apr(cash)
    assert result.unit_period.code == "1M" and not result.regular


def test_fee_folding_errors() -> None:
    start = date(2026, 1, 15)
    schedule = [CashFlow(on, 90000) for on in monthly(date(2026, 2, 15), 12)]
    with pytest.raises(AprError, match="after the disbursement"):
        fold_fees(1000000, start, schedule, [Fee("x", 1, date(2026, 2, 1), FeeTiming.UPFRONT)])
    with pytest.raises(AprError, match="no instalment"):
        fold_fees(
            1000000, start, schedule, [Fee("x", 1, date(2026, 2, 1), FeeTiming.WITH_INSTALMENT)]
        )
    with pytest.raises(AprError) as info:
        fold_fees(1000, start, schedule, [Fee("x", 1000, start, FeeTiming.UPFRONT)])
    assert info.value.code == "APR_INVALID_CASH_FLOWS"
    for bad in [("", 1), ("x", 0), ("x", -5), ("x", True)]:
        with pytest.raises(AprError):
            Fee(bad[0], bad[1], start, FeeTiming.UPFRONT)
    with pytest.raises(AprError):
        Fee("x", 1, start, "daily")  # type: ignore[arg-type]
    with pytest.raises(AprError):
        fold_fees(1000000, start, schedule, ["fee"])  # type: ignore[list-item]


_START = date(2026, 1, 15)


@st.composite
def loans(draw: st.DrawFn) -> tuple[int, list[CashFlow], list[Fee]]:
    """A principal, a monthly schedule and a few valid fees of every kind."""
    principal = draw(st.integers(100_000, 100_000_000))
    count = draw(st.integers(1, 24))
    total = principal * draw(st.integers(100, 160)) // 100
    instalment = max(1, total // count)
    dates = monthly(add_months(_START, 1), count)
    schedule = [CashFlow(on, instalment) for on in dates]
    fees = draw(st.lists(fee_for(principal, dates), max_size=4))
    return principal, schedule, fees


def fee_for(principal: int, dates: list[date]) -> st.SearchStrategy[Fee]:
    amounts = st.integers(1, max(1, principal // 10))
    names = st.sampled_from(["担保费", "服务费", "会员费", "保险费", "咨询费", "guarantee"])
    upfront = st.builds(Fee, names, amounts, st.just(_START), st.just(FeeTiming.UPFRONT))
    with_instalment = st.builds(
        Fee, names, amounts, st.sampled_from(dates), st.just(FeeTiming.WITH_INSTALMENT)
    )
    separate = st.builds(
        Fee,
        names,
        amounts,
        st.integers(-10, (dates[-1] - _START).days).map(lambda n: _START + timedelta(days=n)),
        st.just(FeeTiming.SEPARATE),
    )
    return st.one_of(upfront, with_instalment, separate)


def _same_date_relabel(fee: Fee, dates: list[date]) -> FeeTiming:
    """Another timing that is valid for the same fee on the same date."""
    if fee.charged_on <= _START:
        return FeeTiming.SEPARATE if fee.timing is FeeTiming.UPFRONT else FeeTiming.UPFRONT
    if fee.charged_on in dates:
        if fee.timing is FeeTiming.SEPARATE:
            return FeeTiming.WITH_INSTALMENT
        return FeeTiming.SEPARATE
    return fee.timing


@settings(max_examples=60, deadline=None)
@given(loan=loans(), data=st.data())
def test_relabelling_or_splitting_fees_never_changes_the_rate(
    loan: tuple[int, list[CashFlow], list[Fee]], data: st.DataObject
) -> None:
    principal, schedule, fees = loan
    fees = [*fees, data.draw(fee_for(principal, [c.on for c in schedule]))]
    dates = [c.on for c in schedule]
    original = fold_fees(principal, _START, schedule, fees)
    # relabel every fee (new name, another valid timing), split the ones above 1 fen, reorder
    changed: list[Fee] = []
    for index, fee in enumerate(fees):
        timing = _same_date_relabel(fee, dates)
        if fee.amount >= 2 and data.draw(st.booleans()):
            part = data.draw(st.integers(1, fee.amount - 1))
            changed.append(Fee(f"A{index}", part, fee.charged_on, timing))
            changed.append(Fee(f"B{index}", fee.amount - part, fee.charged_on, fee.timing))
        else:
            changed.append(Fee(f"relabelled {index}", fee.amount, fee.charged_on, timing))
    changed = data.draw(st.permutations(changed))
    relabelled = fold_fees(principal, _START, schedule, changed)
    assert relabelled == original
    assert compute_apr(relabelled) == compute_apr(original)


@settings(max_examples=60, deadline=None)
@given(loan=loans(), data=st.data())
def test_adding_a_positive_fee_never_lowers_the_rate(
    loan: tuple[int, list[CashFlow], list[Fee]], data: st.DataObject
) -> None:
    principal, schedule, fees = loan
    extra = data.draw(fee_for(principal, [c.on for c in schedule]))
    before = compute_apr(fold_fees(principal, _START, schedule, fees))
    after = compute_apr(fold_fees(principal, _START, schedule, [*fees, extra]))
    assert after.unit_period == before.unit_period
    assert after.periodic_rate > before.periodic_rate
    assert after.nominal > before.nominal and after.nominal_bps >= before.nominal_bps
    assert after.effective > before.effective


@settings(max_examples=60, deadline=None)
@given(
    apr_bps=st.integers(0, 100_000),
    unit=st.sampled_from(["1M", "3M", "1W", "2W", "4W"]),
    count=st.integers(1, 60),
    principal=st.integers(1_000_000, 10**10),
)
def test_rate_to_level_schedule_to_rate_round_trip(
    apr_bps: int, unit: str, count: int, principal: int
) -> None:
    w = UnitPeriod.parse(unit).per_year
    with localcontext() as ctx:
        ctx.prec = 50
        rate = Decimal(apr_bps) / 10000 * w.denominator / w.numerator
        payment = int(_level_payment(principal, rate, count).to_integral_value(ROUND_HALF_UP))
    dates = _dates_for(unit, _START, count)

    def solve(amount: int) -> AprResult:
        return compute_apr(flows(_START, principal, level(dates, amount)), unit)

    result = solve(payment)
    # the solved rate reproduces the (rounded) schedule ...
    with localcontext() as ctx:
        ctx.prec = 50
        residue = _level_payment(principal, result.periodic_rate, count) - payment
        assert abs(residue) < Decimal("1e-25")
    # ... and the true rate lies between the rates of one fen less and one fen more
    low, high = solve(payment - 1), solve(payment + 1)
    assert low.periodic_rate <= rate <= high.periodic_rate
    assert abs(result.nominal * 10000 - apr_bps) < 1


# ---------------------------------------------------------------------------------------------
# JSON API


def _appj_c1i_json() -> dict[str, object]:
    return {
        "advances": [{"date": "1978-01-10", "amount": "5000.00"}],
        "payments": [
            {"date": d.isoformat(), "amount": "230.00"} for d in monthly(date(1978, 2, 10), 24)
        ],
    }


def test_json_api_output_shape() -> None:
    out = apr_from_json(_appj_c1i_json())
    assert out == {
        "apr_nominal": "9.6857",
        "apr_effective": "10.1275",
        "apr_nominal_bps": 969,
        "apr_effective_bps": 1013,
        "periodic_rate": "0.008071423385",
        "unit_period": "1M",
        "unit_periods_per_year": "12",
        "unit_period_inferred": True,
        "regular": True,
        "tolerance_percentage_points": "0.125",
        "method": "irr-actuarial-regz-appj",
    }


def test_json_api_accepts_minor_units_explicit_unit_and_term_start() -> None:
    body = _appj_c1i_json()
    body["advances"] = [{"date": "1978-01-10", "amount_minor": 500000}]
    body["unit_period"] = "1M"
    body["term_start"] = "1978-01-10"
    out = apr_from_json(body)
    assert out["apr_nominal"] == "9.6857" and out["unit_period_inferred"] is False


def test_json_api_rounds_amounts_exactly() -> None:
    assert parse_amount("5000") == 500000
    assert parse_amount("0.5") == 50
    assert parse_amount("8833.30") == 883330
    assert parse_amount("0.01") == 1


def _with(**changes: object) -> dict[str, object]:
    body = _appj_c1i_json()
    body.update(changes)
    return body


_ADV = [{"date": "2026-01-01", "amount": "100.00"}]
_PAY = [{"date": "2026-02-01", "amount": "110.00"}]


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        ([], "APR_INVALID_INPUT", "must be an object"),
        ({"advances": _ADV, "payments": _PAY, "extra": 1}, "APR_INVALID_INPUT", "unknown field"),
        ({"payments": _PAY}, "APR_INVALID_INPUT", "advances must be a list"),
        ({"advances": _ADV}, "APR_INVALID_INPUT", "payments must be a list"),
        ({"advances": [], "payments": _PAY}, "APR_NO_ADVANCE", "empty"),
        ({"advances": _ADV, "payments": []}, "APR_NO_PAYMENTS", "empty"),
        ({"advances": _ADV, "payments": "x"}, "APR_INVALID_INPUT", "must be a list"),
        ({"advances": ["x"], "payments": _PAY}, "APR_INVALID_INPUT", "must be an object"),
        ({"advances": [{"amount": "1"}], "payments": _PAY}, "APR_INVALID_INPUT", "no date"),
        ({"advances": [{"date": "2026-02-30", "amount": "1"}], "payments": _PAY},
         "APR_INVALID_INPUT", "not a calendar date"),
        ({"advances": [{"date": "2026/01/01", "amount": "1"}], "payments": _PAY},
         "APR_INVALID_INPUT", "YYYY-MM-DD"),
        ({"advances": [{"date": 20260101, "amount": "1"}], "payments": _PAY},
         "APR_INVALID_INPUT", "YYYY-MM-DD"),
        ({"advances": [{"date": "2026-01-01", "amount": 100.0}], "payments": _PAY},
         "APR_INVALID_INPUT", "must be a string"),
        ({"advances": [{"date": "2026-01-01", "amount": "100.001"}], "payments": _PAY},
         "APR_INVALID_INPUT", "at most 2 decimals"),
        ({"advances": [{"date": "2026-01-01", "amount": "-5"}], "payments": _PAY},
         "APR_INVALID_INPUT", "at most 2 decimals"),
        ({"advances": [{"date": "2026-01-01", "amount": "0.00"}], "payments": _PAY},
         "APR_INVALID_INPUT", "positive"),
        ({"advances": [{"date": "2026-01-01", "amount_minor": 0}], "payments": _PAY},
         "APR_INVALID_INPUT", "positive"),
        ({"advances": [{"date": "2026-01-01", "amount_minor": True}], "payments": _PAY},
         "APR_INVALID_INPUT", "integer"),
        ({"advances": [{"date": "2026-01-01", "amount": "1", "amount_minor": 100}],
          "payments": _PAY}, "APR_INVALID_INPUT", "exactly one of"),
        ({"advances": [{"date": "2026-01-01"}], "payments": _PAY}, "APR_INVALID_INPUT",
         "exactly one of"),
        ({"advances": _ADV, "payments": [{"date": "2025-12-31", "amount": "110.00"}]},
         "APR_PAYMENT_BEFORE_ADVANCE", "before the first advance"),
        ({"advances": _ADV, "payments": _PAY, "unit_period": "13M"}, "APR_INVALID_INPUT",
         "count between 1 and 12"),
        ({"advances": _ADV, "payments": _PAY, "unit_period": 1}, "APR_INVALID_INPUT", "string"),
        ({"advances": _ADV, "payments": _PAY, "unit_period": "20D"}, "APR_INVALID_INPUT",
         "not the term"),
        ({"advances": _ADV, "payments": [*_PAY, {"date": "2026-03-01", "amount": "1.00"}],
          "unit_period": "30D"}, "APR_INVALID_INPUT", "single-payment"),
        ({"advances": _ADV, "payments": _PAY, "term_start": "2026-01-02"}, "APR_INVALID_INPUT",
         "after the first advance"),
        ({"advances": _ADV, "payments": [{"date": "2026-01-01", "amount": "110.00"}]},
         "APR_INVALID_CASH_FLOWS", "no term"),
        ({"advances": [*_ADV, {"date": "2026-01-05", "amount": "1.00"}], "payments": _PAY,
          "fees": []}, "APR_INVALID_INPUT", "exactly one advance"),
        ({"advances": _ADV, "payments": _PAY, "fees": {}}, "APR_INVALID_INPUT", "must be a list"),
        ({"advances": _ADV, "payments": _PAY,
          "fees": [{"name": "x", "amount": "1", "date": "2026-01-01"}]},
         "APR_INVALID_INPUT", "missing timing"),
        ({"advances": _ADV, "payments": _PAY,
          "fees": [{"name": "x", "amount": "1", "date": "2026-01-01", "timing": "weekly"}]},
         "APR_INVALID_INPUT", "timing must be one of"),
        ({"advances": _ADV, "payments": _PAY,
          "fees": [{"name": 3, "amount": "1", "date": "2026-01-01", "timing": "upfront"}]},
         "APR_INVALID_INPUT", "name must be a string"),
        ({"advances": _ADV, "payments": _PAY,
          "fees": [{"name": "x", "amount": "100", "date": "2026-01-01", "timing": "upfront"}]},
         "APR_INVALID_CASH_FLOWS", "leave nothing"),
        ({"advances": _ADV, "payments": _PAY, "term_start": "2025-12-01",
          "fees": [{"name": "x", "amount": "1", "date": "2026-01-01", "timing": "upfront"}]},
         "APR_INVALID_INPUT", "term_start"),
    ],
)  # fmt: skip
def test_json_api_rejects_malformed_input(body: object, code: str, fragment: str) -> None:
    with pytest.raises(AprError) as info:
        apr_from_json(body)  # type: ignore[arg-type]
    assert info.value.code == code
    assert fragment in info.value.message
    assert isinstance(info.value, InputError)


# ---------------------------------------------------------------------------------------------
# Core input validation


def test_cash_flow_validation() -> None:
    with pytest.raises(AprError):
        CashFlow(date(2026, 1, 1), 0)
    with pytest.raises(AprError):
        CashFlow(date(2026, 1, 1), -1)
    with pytest.raises(AprError):
        CashFlow(date(2026, 1, 1), 1.5)  # type: ignore[arg-type]
    with pytest.raises(AprError):
        CashFlow(date(2026, 1, 1), True)
    with pytest.raises(AprError):
        CashFlow(datetime(2026, 1, 1, 12), 1)
    with pytest.raises(AprError):
        CashFlow("2026-01-01", 1)  # type: ignore[arg-type]
    with pytest.raises(AprError):
        CashFlow(date(2026, 1, 1), 10**16)


def test_cash_flows_validation() -> None:
    one = CashFlow(date(2026, 1, 1), 100)
    later = CashFlow(date(2026, 2, 1), 110)
    with pytest.raises(AprError) as info:
        CashFlows((), (later,))
    assert info.value.code == "APR_NO_ADVANCE"
    with pytest.raises(AprError) as info:
        CashFlows((one,), ())
    assert info.value.code == "APR_NO_PAYMENTS"
    with pytest.raises(AprError) as info:
        CashFlows((later,), (one,))
    assert info.value.code == "APR_PAYMENT_BEFORE_ADVANCE"
    with pytest.raises(AprError):
        CashFlows((one,), ("x",))  # type: ignore[arg-type]
    with pytest.raises(AprError):
        CashFlows((one,), (later,), term_start=date(2026, 1, 2))
    with pytest.raises(AprError):
        compute_apr("flows")  # type: ignore[arg-type]
    # lists are accepted and frozen into tuples; same-date flows merge
    cash = CashFlows([one], [later, later])  # type: ignore[arg-type]
    assert cash.payments == (later, later)
    assert cash.merged_payments() == (CashFlow(date(2026, 2, 1), 220),)
