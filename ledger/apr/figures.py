"""Exact decisions from a proven bracket of the root: basis points, percent strings, tolerance.

`ledger.apr.fast` proves ``lo < root < hi`` with floats. Here the bracket becomes two integers
at the scale 2^-K, widened by a margin (2^-100 + 2^-90 |rate|) that dwarfs every difference
between the true root and the exact engine's figures (its 40-digit root is good to ~1e-45; its
50-digit products and powers to ~1e-49 relative). Every reported figure is a non-decreasing
function of the rate, so when both ends of the widened bracket give the same figure - computed
with Python integers, exactly - the exact engine gives that figure too. When they differ (the
rate sits on a rounding boundary, or a figure is too large for 50 digits) the method returns
``None`` and the caller asks the exact engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

from ledger.apr.exact import GRID, RawTerm, exact_figures

__all__ = ["Figures", "round_half_up"]

_K = 128
_ONE = 1 << _K
#: figures this large (in their own units) are left to the exact engine (50 digits)
_LARGEST = 10**40


def round_half_up(num: int, den: int) -> int:
    """``num / den`` (``den`` > 0) rounded to an integer, halves away from zero."""
    if num >= 0:
        return (2 * num + den) // (2 * den)
    return -((-2 * num + den) // (2 * den))


def _fixed(units: int, places: int) -> str:
    sign = "-" if units < 0 else ""
    whole, part = divmod(abs(units), 10**places)
    return f"{sign}{whole}.{part:0{places}d}"


class Figures:
    """What is known of one rate: a proven bracket, and the exact figures once computed."""

    __slots__ = ("_exact", "_hi", "_lo", "_mid", "_per_year", "_terms")

    def __init__(
        self, lo: float, hi: float, per_year: Fraction, terms: Callable[[], list[RawTerm]]
    ) -> None:
        """``lo < root < hi`` proven; ``terms`` builds the exact engine's terms."""
        lo_num = math.floor(math.ldexp(lo, _K))
        hi_num = math.ceil(math.ldexp(hi, _K))
        self._lo = lo_num - (1 << (_K - 100)) - (abs(lo_num) >> 90) - 1
        self._hi = hi_num + (1 << (_K - 100)) + (abs(hi_num) >> 90) + 1
        self._mid = (lo + hi) / 2
        self._per_year = per_year
        self._terms = terms
        self._exact: tuple[Decimal, Decimal, Decimal] | None = None

    # -- the exact engine, on demand --------------------------------------------------------

    def exact(self) -> tuple[Decimal, Decimal, Decimal]:
        """``(periodic_rate, nominal, effective)`` exactly as the original engine computes them."""
        if self._exact is None:
            self._exact = exact_figures(self._terms(), self._per_year, self.grid_signs())
        return self._exact

    def grid_signs(self) -> list[int | None]:
        """Signs of the (decreasing) equation on the grid: + left of the bracket, - right."""
        lo = Fraction(self._lo, _ONE)
        hi = Fraction(self._hi, _ONE)
        return [1 if rate < lo else (-1 if rate > hi else None) for rate in GRID]

    # -- linear figures: the rate itself and the nominal APR -------------------------------

    def _linear(self, scale: int, nominal: bool) -> int | None:
        p, q = (self._per_year.numerator, self._per_year.denominator) if nominal else (1, 1)
        den = _ONE * q
        low = round_half_up(self._lo * p * scale, den)
        if low != round_half_up(self._hi * p * scale, den) or abs(low) >= _LARGEST:
            return None
        return low

    def nominal_bps(self) -> int | None:
        return self._linear(10_000, True)

    def nominal_percent(self) -> str | None:
        units = self._linear(1_000_000, True)
        return None if units is None else _fixed(units, 4)

    def periodic_text(self) -> str | None:
        """The rate as ``AprResult.as_dict`` prints it (12 decimals, half-up; a negative rate
        that rounds to zero keeps its sign, as `Decimal` does)."""
        units = self._linear(10**12, False)
        if units is None:
            return None
        if units == 0:
            if self._lo > 0:
                return "0.000000000000"
            return "-0.000000000000" if self._hi < 0 else None
        return _fixed(units, 12)

    def within(self, stated_bps: int, tolerance: Decimal) -> bool | None:
        """Whether ``|stated - nominal x 10^4| <= tolerance`` for every rate of the bracket."""
        t_num, t_den = tolerance.as_integer_ratio()
        p, q = self._per_year.numerator, self._per_year.denominator
        # compare nominal x 10^4 = rate x p x 10^4 / q with stated -/+ tolerance, all over t_den
        scale = p * 10_000 * t_den
        den = _ONE * q
        low, high = self._lo * scale, self._hi * scale
        floor_at = (stated_bps * t_den - t_num) * den
        ceiling_at = (stated_bps * t_den + t_num) * den
        if floor_at <= low and high <= ceiling_at:
            return True
        if high < floor_at or low > ceiling_at:
            return False
        return None

    # -- the effective annual rate (1 + i)^w - 1 -----------------------------------------------

    def _effective(self, scale: int) -> int | None:
        p, q = self._per_year.numerator, self._per_year.denominator
        w = p / q
        try:
            estimate = math.expm1(w * math.log1p(self._mid)) * scale
        except (OverflowError, ValueError):
            return None
        if not abs(estimate) < _LARGEST:
            return None
        guess = math.floor(estimate + 0.5) if estimate >= 0 else -math.floor(0.5 - estimate)
        for units in (guess, guess - 1, guess + 1):
            # right iff (units - 1/2) / scale < E(lo) and E(hi) < (units + 1/2) / scale
            if self._above(self._lo, 2 * units - 1, scale, strict=True) and not self._above(
                self._hi, 2 * units + 1, scale, strict=False
            ):
                return units
        return None

    def _above(self, rate_num: int, twice_units: int, scale: int, *, strict: bool) -> bool:
        """Whether E(rate) > twice_units / (2 scale) (or >= when not ``strict``), exactly:
        (1 + r)^p > (1 + c)^q with 1 + r = (2^K + rate_num) / 2^K, 1 + c = (2 scale + twice_units)
        / (2 scale)."""
        p, q = self._per_year.numerator, self._per_year.denominator
        base = 2 * scale + twice_units
        if base <= 0:
            return True  # (1 + r)^w > 0 >= 1 + c
        left: int = (_ONE + rate_num) ** p * (2 * scale) ** q
        right: int = base**q * _ONE**p
        return left > right if strict else left >= right

    def effective_bps(self) -> int | None:
        return self._effective(10_000)

    def effective_percent(self) -> str | None:
        units = self._effective(1_000_000)
        return None if units is None else _fixed(units, 4)
