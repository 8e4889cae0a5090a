"""The actuarial method of Regulation Z Appendix J: the general equation, solved exactly.

General equation, App J (b)(8), with i the percentage rate per unit-period::

    sum_k A_k / ((1 + e_k i)(1 + i)^q_k)  =  sum_j P_j / ((1 + f_j i)(1 + i)^t_j)

The fraction of a unit-period earns simple interest (b)(6), hence ``(1 + f i)`` rather than
``(1 + i)^f``. The APR is ``i x w`` (b)(1) with ``w`` unit-periods per year; the effective annual
rate ``(1 + i)^w - 1`` is reported alongside. All arithmetic is `decimal.Decimal` at 50 digits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_UP, Context, Decimal, localcontext
from fractions import Fraction
from itertools import pairwise

from ledger.apr.model import METHOD, CashFlows, UnitPeriod
from ledger.apr.periods import (
    infer_unit_period,
    is_regular,
    is_single_advance_single_payment,
    positions,
)
from ledger.errors import AprError, DisclosureMismatchError

__all__ = [
    "IRREGULAR_TOLERANCE_BPS",
    "REGULAR_TOLERANCE_BPS",
    "AprResult",
    "check_disclosed_apr",
    "compute_apr",
    "tolerance_bps",
    "within_tolerance",
]

#: 12 CFR 1026.22(a)(2): 1/8 of one percentage point, in basis points.
REGULAR_TOLERANCE_BPS = Decimal("12.5")
#: 12 CFR 1026.22(a)(3): 1/4 of one percentage point for irregular transactions.
IRREGULAR_TOLERANCE_BPS = Decimal("25")

_PRECISION = 50
_TOLERANCE = Decimal("1e-40")
_MAX_ITERATIONS = 400
#: Unit-period rates probed for a sign change of the general equation (-99% .. 10^6 per period).
_GRID = tuple(
    Decimal(x)
    for x in (
        "-0.99", "-0.9", "-0.5", "-0.2", "0", "0.005", "0.02", "0.05", "0.1", "0.25", "0.5",
        "1", "2", "5", "10", "50", "100", "1000", "10000", "100000", "1000000",
    )
)  # fmt: skip
_FOUR_PLACES = Decimal("0.0001")


def _context() -> Context:
    return Context(prec=_PRECISION, rounding=ROUND_HALF_UP, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _to_decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _percent_text(fraction: Decimal) -> str:
    text = (fraction * 100).quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP)
    return f"{text.copy_abs() if text.is_zero() else text:f}"


def _bps(fraction: Decimal) -> int:
    return int((fraction * 10_000).to_integral_value(rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class AprResult:
    """An annual percentage rate computed by the App J actuarial method.

    ``nominal`` and ``effective`` are decimal fractions (``0.128`` = 12.8%); ``nominal`` is the
    Regulation Z APR, (b)(1), and the figure checked against caps. Basis points round half away
    from zero (half-up); percent strings carry 4 decimals.
    """

    periodic_rate: Decimal
    unit_period: UnitPeriod
    unit_periods_per_year: Fraction
    nominal: Decimal
    effective: Decimal
    regular: bool
    unit_period_inferred: bool
    method: str = METHOD

    @property
    def nominal_bps(self) -> int:
        """Nominal APR in basis points, rounded half-up."""
        return _bps(self.nominal)

    @property
    def effective_bps(self) -> int:
        """Effective annual rate in basis points, rounded half-up."""
        return _bps(self.effective)

    @property
    def nominal_percent(self) -> str:
        """Nominal APR as a percent string with 4 decimals, e.g. ``"12.8040"``."""
        return _percent_text(self.nominal)

    @property
    def effective_percent(self) -> str:
        """Effective annual rate as a percent string with 4 decimals."""
        return _percent_text(self.effective)

    @property
    def tolerance_bps(self) -> Decimal:
        """The 1026.22(a)(2)/(3) accuracy tolerance that applies to this transaction."""
        return tolerance_bps(self.regular)

    def as_dict(self) -> dict[str, str | int | bool]:
        """JSON-ready view (strings for every non-integer number)."""
        per_year = _to_decimal_text(self.unit_periods_per_year)
        return {
            "apr_nominal": self.nominal_percent,
            "apr_effective": self.effective_percent,
            "apr_nominal_bps": self.nominal_bps,
            "apr_effective_bps": self.effective_bps,
            "periodic_rate": f"{self.periodic_rate.quantize(Decimal('1e-12'), ROUND_HALF_UP):f}",
            "unit_period": self.unit_period.code,
            "unit_periods_per_year": per_year,
            "unit_period_inferred": self.unit_period_inferred,
            "regular": self.regular,
            "tolerance_percentage_points": f"{(self.tolerance_bps / 100).normalize():f}",
            "method": self.method,
        }


def _to_decimal_text(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    with localcontext(_context()):
        text = _to_decimal(value).quantize(Decimal("1e-10"), ROUND_HALF_UP).normalize()
    return f"{text:f}"


def tolerance_bps(regular: bool) -> Decimal:
    """12.5 bps (1/8 point) for regular transactions, 25 bps (1/4 point) for irregular ones."""
    return REGULAR_TOLERANCE_BPS if regular else IRREGULAR_TOLERANCE_BPS


_Term = tuple[Decimal, int, Decimal]


def _terms(flows: CashFlows, unit: UnitPeriod) -> list[_Term]:
    """Signed amounts with their (full, fraction) positions: payments +, advances -."""
    start = flows.start
    terms: list[_Term] = []
    for sign, series in ((-1, flows.merged_advances()), (1, flows.merged_payments())):
        for flow, pos in positions(start, series, unit):
            terms.append((Decimal(sign * flow.amount), pos.full, _to_decimal(pos.fraction)))
    return terms


def _equation(terms: Sequence[_Term], rate: Decimal) -> tuple[Decimal, Decimal]:
    """Payments minus advances, each discounted per (b)(8), and the derivative in ``rate``."""
    one = Decimal(1)
    growth = one + rate
    value = Decimal(0)
    slope = Decimal(0)
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


def _solve(terms: Sequence[_Term]) -> Decimal:
    """The unit-period rate solving the general equation: a sign change is bracketed on a grid
    from -99% to 10^8 % per unit-period, then refined by Newton's method kept inside the bracket
    by bisection (the result is the root to ~40 digits; App J (b)(9) iterates to the same root)."""
    values = [(rate, _equation(terms, rate)[0]) for rate in _GRID]
    brackets: list[tuple[Decimal, Decimal, Decimal, Decimal]] = []
    exact: list[Decimal] = []
    for (lo, f_lo), (hi, f_hi) in pairwise(values):
        if f_lo.is_zero():
            exact.append(lo)
        elif not f_hi.is_zero() and f_lo.is_signed() != f_hi.is_signed():
            brackets.append((lo, hi, f_lo, f_hi))
    if values[-1][1].is_zero():
        exact.append(values[-1][0])
    if len(brackets) + len(exact) == 0:
        raise AprError(
            "no rate between -99% and 100,000,000% per unit-period makes the payments repay the"
            " advances (Appendix J general equation has no solution)",
            code="APR_NO_SOLUTION",
        )
    if len(brackets) + len(exact) > 1:
        raise AprError(
            "these cash flows admit more than one rate (the payments and advances alternate)",
            code="APR_AMBIGUOUS_RATE",
        )
    if exact:
        return exact[0]
    lo, hi, f_lo, f_hi = brackets[0]
    rate = lo - f_lo * (hi - lo) / (f_hi - f_lo)
    for _ in range(_MAX_ITERATIONS):
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
        if abs(step - rate) <= _TOLERANCE or hi - lo <= _TOLERANCE:
            return step
        rate = step
    raise AprError("the rate did not converge", code="APR_NO_SOLUTION")  # pragma: no cover


def _validate_unit(flows: CashFlows, unit: UnitPeriod) -> None:
    if unit.kind != "D" or unit.count == 1:
        return
    if not is_single_advance_single_payment(flows):
        raise AprError(
            f"unit-period {unit.code}: a multi-day unit-period is only the term of a"
            " single-advance, single-payment transaction (App J (b)(4)(ii));"
            " use 1D, <k>W, SM or <m>M",
            code="APR_INVALID_INPUT",
        )
    days = (flows.merged_payments()[0].on - flows.start).days
    if days != unit.count:
        raise AprError(
            f"unit-period {unit.code} is not the term of this transaction ({days} days)",
            code="APR_INVALID_INPUT",
        )


def compute_apr(flows: CashFlows, unit_period: UnitPeriod | str | None = None) -> AprResult:
    """Annual percentage rate of ``flows`` by the App J actuarial method.

    The unit-period is ``unit_period`` if given, else ``flows.unit_period``, else the one App J
    (b)(4) prescribes (`infer_unit_period`). Negative rates (payments below the advances) are
    computed, not refused: a regulator wants to see them. Raises `AprError` when no rate exists.
    """
    if not isinstance(flows, CashFlows):
        raise AprError("compute_apr needs CashFlows", code="APR_INVALID_INPUT")
    if isinstance(unit_period, str):
        unit_period = UnitPeriod.parse(unit_period)
    chosen = unit_period if unit_period is not None else flows.unit_period
    unit = chosen if chosen is not None else infer_unit_period(flows)
    _validate_unit(flows, unit)
    per_year = unit.per_year
    with localcontext(_context()):
        terms = _terms(flows, unit)
        # the root is good to ~1e-45; drop the noise digits so exact rates print exactly
        rate = _solve(terms).quantize(_TOLERANCE)
        w = _to_decimal(per_year)
        nominal = rate * w
        growth = Decimal(1) + rate
        effective = (growth**per_year.numerator if per_year.denominator == 1 else growth**w) - 1
    return AprResult(
        periodic_rate=rate,
        unit_period=unit,
        unit_periods_per_year=per_year,
        nominal=nominal,
        effective=effective,
        regular=is_regular(flows),
        unit_period_inferred=chosen is None,
    )


def within_tolerance(stated_bps: int, computed: AprResult, *, regular: bool | None = None) -> bool:
    """Whether a stated APR (basis points) is accurate per 12 CFR 1026.22(a)(2)-(3): within 1/8
    point of the computed APR for regular transactions, 1/4 point for irregular ones (``regular``
    defaults to the computed transaction's own regularity). Compared to the unrounded rate."""
    if isinstance(stated_bps, bool) or not isinstance(stated_bps, int):
        raise AprError(
            f"stated APR must be integer basis points, got {stated_bps!r}", code="APR_INVALID_INPUT"
        )
    tolerance = tolerance_bps(computed.regular if regular is None else regular)
    with localcontext(_context()):
        return abs(Decimal(stated_bps) - computed.nominal * 10_000) <= tolerance


def check_disclosed_apr(
    stated_bps: int, computed: AprResult, *, regular: bool | None = None
) -> None:
    """Raise `DisclosureMismatchError` unless ``stated_bps`` is `within_tolerance` (R5)."""
    if not within_tolerance(stated_bps, computed, regular=regular):
        tolerance = tolerance_bps(computed.regular if regular is None else regular)
        raise DisclosureMismatchError(
            f"stated APR {stated_bps} bps differs from the computed {computed.nominal_percent}%"
            f" ({computed.method}, unit-period {computed.unit_period.code}) by more than"
            f" {tolerance} bps"
        )
