"""The actuarial method of Regulation Z Appendix J: the general equation, solved exactly.

General equation, App J (b)(8), with i the percentage rate per unit-period::

    sum_k A_k / ((1 + e_k i)(1 + i)^q_k)  =  sum_j P_j / ((1 + f_j i)(1 + i)^t_j)

The fraction of a unit-period earns simple interest (b)(6), hence ``(1 + f i)`` rather than
``(1 + i)^f``. The APR is ``i x w`` (b)(1) with ``w`` unit-periods per year; the effective annual
rate ``(1 + i)^w - 1`` is reported alongside.

Every figure is the one the exact computation (`ledger.apr.exact`: `decimal.Decimal` at 50
digits) gives. For the common shape - one advance at the beginning of the term - the root is first
bracketed with floats and a proven error bound (`ledger.apr.fast`) and the reported figures are
decided from that bracket with integers (`ledger.apr.figures`); the 40-digit `Decimal` values
(``periodic_rate``, ``nominal``, ``effective``) are computed only when read, and any figure the
bracket cannot decide is taken from them. Floats are never returned.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ledger.apr.dates import Calendar, calendar_of, series_positions
from ledger.apr.exact import (
    GRID,
    RawTerm,
    context,
    exact_figures,
    figures_at,
    no_solution,
    to_decimal,
)
from ledger.apr.fast import grid_signs, solve_single_advance
from ledger.apr.fees import Folded
from ledger.apr.figures import Figures
from ledger.apr.model import METHOD, CashFlows, UnitPeriod
from ledger.apr.periods import (
    infer_unit_period,
    is_regular_of,
    payment_gaps,
)
from ledger.errors import AprError, DisclosureMismatchError

__all__ = [
    "IRREGULAR_TOLERANCE_BPS",
    "REGULAR_TOLERANCE_BPS",
    "AprResult",
    "check_disclosed_apr",
    "compute_apr",
    "compute_folded",
    "tolerance_bps",
    "within_tolerance",
]

#: 12 CFR 1026.22(a)(2): 1/8 of one percentage point, in basis points.
REGULAR_TOLERANCE_BPS = Decimal("12.5")
#: 12 CFR 1026.22(a)(3): 1/4 of one percentage point for irregular transactions.
IRREGULAR_TOLERANCE_BPS = Decimal("25")

_FOUR_PLACES = Decimal("0.0001")
_LAZY_FIELDS = ("periodic_rate", "nominal", "effective")


def _percent_text(fraction: Decimal) -> str:
    text = (fraction * 100).quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP)
    return f"{text.copy_abs() if text.is_zero() else text:f}"


def _bps(fraction: Decimal) -> int:
    return int((fraction * 10_000).to_integral_value(rounding=ROUND_HALF_UP))


class _LazyFigures:
    """Base of `AprResult`: a slot (not a dataclass field) for the proven bracket of a result
    computed by `compute_apr`, whose ``periodic_rate``, ``nominal`` and ``effective`` fields are
    then filled from the exact engine on first read."""

    __slots__ = ("_figures",)
    _figures: Figures | None

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:  # only reached for an unset slot
            if name == "_figures":
                return None
            figures = self._figures
            if figures is None or name not in _LAZY_FIELDS:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            values = figures.exact()
            for field, value in zip(_LAZY_FIELDS, values, strict=True):
                object.__setattr__(self, field, value)
            return values[_LAZY_FIELDS.index(name)]


def _figures_of(result: object) -> Figures | None:
    figures = getattr(result, "_figures", None)
    return figures if isinstance(figures, Figures) else None


@dataclass(frozen=True, slots=True)
class AprResult(_LazyFigures):
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
        figures = self._figures
        found = figures.nominal_bps() if figures is not None else None
        return found if found is not None else _bps(self.nominal)

    @property
    def effective_bps(self) -> int:
        """Effective annual rate in basis points, rounded half-up."""
        figures = self._figures
        found = figures.effective_bps() if figures is not None else None
        return found if found is not None else _bps(self.effective)

    @property
    def nominal_percent(self) -> str:
        """Nominal APR as a percent string with 4 decimals, e.g. ``"12.8040"``."""
        figures = self._figures
        found = figures.nominal_percent() if figures is not None else None
        return found if found is not None else _percent_text(self.nominal)

    @property
    def effective_percent(self) -> str:
        """Effective annual rate as a percent string with 4 decimals."""
        figures = self._figures
        found = figures.effective_percent() if figures is not None else None
        return found if found is not None else _percent_text(self.effective)

    @property
    def tolerance_bps(self) -> Decimal:
        """The 1026.22(a)(2)/(3) accuracy tolerance that applies to this transaction."""
        return tolerance_bps(self.regular)

    def as_dict(self) -> dict[str, str | int | bool]:
        """JSON-ready view (strings for every non-integer number)."""
        per_year = _to_decimal_text(self.unit_periods_per_year)
        figures = self._figures
        periodic = figures.periodic_text() if figures is not None else None
        if periodic is None:
            periodic = f"{self.periodic_rate.quantize(Decimal('1e-12'), ROUND_HALF_UP):f}"
        return {
            "apr_nominal": self.nominal_percent,
            "apr_effective": self.effective_percent,
            "apr_nominal_bps": self.nominal_bps,
            "apr_effective_bps": self.effective_bps,
            "periodic_rate": periodic,
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
    with localcontext(context()):
        text = to_decimal(value).quantize(Decimal("1e-10"), ROUND_HALF_UP).normalize()
    return f"{text:f}"


def tolerance_bps(regular: bool) -> Decimal:
    """12.5 bps (1/8 point) for regular transactions, 25 bps (1/4 point) for irregular ones."""
    return REGULAR_TOLERANCE_BPS if regular else IRREGULAR_TOLERANCE_BPS


_SETTERS = tuple(
    AprResult.__dict__[name].__set__
    for name in (
        "unit_period",
        "unit_periods_per_year",
        "regular",
        "unit_period_inferred",
        "method",
    )
)
_SET_FIGURES = _LazyFigures.__dict__["_figures"].__set__
_PER_YEAR: dict[tuple[str, int], Fraction] = {}


def _lazy_result(
    unit: UnitPeriod, per_year: Fraction, regular: bool, inferred: bool, figures: Figures
) -> AprResult:
    result = object.__new__(AprResult)
    set_unit, set_per_year, set_regular, set_inferred, set_method = _SETTERS
    set_unit(result, unit)
    set_per_year(result, per_year)
    set_regular(result, regular)
    set_inferred(result, inferred)
    set_method(result, METHOD)
    _SET_FIGURES(result, figures)
    return result


def _per_year(unit: UnitPeriod) -> Fraction:
    key = (unit.kind, unit.count)
    found = _PER_YEAR.get(key)
    if found is None:
        found = _PER_YEAR[key] = unit.per_year  # at most 12 + 1 + 52 + 365 units
    return found


def _compute(
    start: date,
    advance_dates: Sequence[date],
    advance_amounts: Sequence[int],
    payment_dates: Sequence[date],
    payment_amounts: Sequence[int],
    unit: UnitPeriod,
    inferred: bool,
    gaps: Sequence[UnitPeriod | int] | None,
    calendar: Calendar | None = None,
) -> AprResult:
    """The rate of merged series from ``start`` (no advance or payment before it);
    ``gaps`` and ``calendar`` describe the payment dates when already known."""
    per_year = _per_year(unit)
    if calendar is None and (gaps is None or unit.kind not in ("D", "W")):
        calendar = calendar_of(payment_dates)
    if len(advance_dates) == 1 and advance_dates[0] == start:  # (0, 0/1): the term start
        adv_full, adv_num, adv_den = [0], [0], [1]
    else:
        adv_full, adv_num, adv_den = series_positions(start, advance_dates, unit)
    fulls, nums, dens = series_positions(start, payment_dates, unit, calendar)

    def terms() -> list[RawTerm]:
        """Signed amounts with their positions, advances first (the exact engine's order)."""
        return [
            *zip([-a for a in advance_amounts], adv_full, adv_num, adv_den, strict=True),
            *zip(payment_amounts, fulls, nums, dens, strict=True),
        ]

    if gaps is None:
        gaps = payment_gaps(payment_dates, calendar)
    regular = is_regular_of(len(advance_dates), payment_amounts, gaps)
    if (
        len(advance_amounts) == 1
        and adv_full[0] == adv_num[0] == 0
        and all(map(operator.le, nums, dens))
        and (any(fulls) or any(nums))
    ):
        # one advance at the term start: f is strictly decreasing, a single root at most
        if sum(payment_amounts) == advance_amounts[0]:  # f(0) = 0 exactly: the grid's own 0
            rate, nominal, effective = figures_at(GRID[4], per_year)
            return AprResult(rate, unit, per_year, nominal, effective, regular, inferred)
        bracket = solve_single_advance(advance_amounts[0], payment_amounts, fulls, nums, dens)
        if bracket == "none":
            raise no_solution()
        if isinstance(bracket, tuple):
            figures = Figures(bracket[0], bracket[1], per_year, terms)
            return _lazy_result(unit, per_year, regular, inferred, figures)
    raw = terms()
    rate, nominal, effective = exact_figures(raw, per_year, grid_signs(raw))
    return AprResult(rate, unit, per_year, nominal, effective, regular, inferred)


def _validate_unit(
    start: date, advances: int, payment_dates: Sequence[date], unit: UnitPeriod
) -> None:
    if unit.kind != "D" or unit.count == 1:
        return
    if advances != 1 or len(payment_dates) != 1:
        raise AprError(
            f"unit-period {unit.code}: a multi-day unit-period is only the term of a"
            " single-advance, single-payment transaction (App J (b)(4)(ii));"
            " use 1D, <k>W, SM or <m>M",
            code="APR_INVALID_INPUT",
        )
    days = (payment_dates[0] - start).days
    if days != unit.count:
        raise AprError(
            f"unit-period {unit.code} is not the term of this transaction ({days} days)",
            code="APR_INVALID_INPUT",
        )


def compute_folded(folded: Folded) -> AprResult:
    """`compute_apr` of the `CashFlows` that `fold_fees` makes of ``folded``."""
    start = folded.disbursed_on
    _validate_unit(start, 1, folded.payment_dates, folded.unit)
    return _compute(
        start,
        (start,),
        (folded.advance,),
        folded.payment_dates,
        folded.payment_amounts,
        folded.unit,
        False,
        folded.gaps,
        folded.calendar,
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
    folded = flows._memo_of().folded
    if isinstance(folded, Folded) and chosen == folded.unit:
        return compute_folded(folded)
    unit = chosen if chosen is not None else infer_unit_period(flows)
    advances = flows.merged_advances()
    start = flows.start
    if len(advances) != 1:  # a multi-day unit is refused before the payments are merged
        _validate_unit(start, len(advances), (), unit)
    payments = flows.merged_payments()
    _validate_unit(start, len(advances), [p.on for p in payments], unit)
    return _compute(
        start,
        [a.on for a in advances],
        [a.amount for a in advances],
        [p.on for p in payments],
        [p.amount for p in payments],
        unit,
        chosen is None,
        None,
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
    figures = _figures_of(computed)
    verdict = figures.within(stated_bps, tolerance) if figures is not None else None
    if verdict is not None:
        return verdict
    with localcontext(context()):
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
