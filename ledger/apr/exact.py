"""The exact solver: the general equation of App J (b)(8) in `decimal.Decimal` at 50 digits.

This is the reference computation of every figure (`ledger.apr.engine` proves most figures
faster, with floats and integers, and falls back to this whenever it cannot). Its results are
bit-for-bit those of the original engine: same terms in the same order, same grid, same Newton
iteration. The only shortcut is that a grid point whose sign is already known for certain (see
`ledger.apr.fast.grid_signs`) is not evaluated, which cannot change the bracket the scan finds.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_UP, Context, Decimal, localcontext
from fractions import Fraction

from ledger.errors import AprError

__all__ = [
    "GRID",
    "RawTerm",
    "Term",
    "context",
    "decimal_terms",
    "exact_figures",
    "figures_at",
    "no_solution",
    "solve",
    "to_decimal",
]

_PRECISION = 50
_TOLERANCE = Decimal("1e-40")
_MAX_ITERATIONS = 400
#: Unit-period rates probed for a sign change of the general equation (-99% .. 10^6 per period).
GRID = tuple(
    Decimal(x)
    for x in (
        "-0.99", "-0.9", "-0.5", "-0.2", "0", "0.005", "0.02", "0.05", "0.1", "0.25", "0.5",
        "1", "2", "5", "10", "50", "100", "1000", "10000", "100000", "1000000",
    )
)  # fmt: skip

#: A signed amount (payments +, advances -) with its position ``(full, numerator, denominator)``.
RawTerm = tuple[int, int, int, int]
Term = tuple[Decimal, int, Decimal]


def context() -> Context:
    return Context(prec=_PRECISION, rounding=ROUND_HALF_UP, Emax=MAX_EMAX, Emin=MIN_EMIN)


def to_decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def decimal_terms(raw: Sequence[RawTerm]) -> list[Term]:
    """The solver's terms (call inside the 50-digit `context`)."""
    return [
        (Decimal(amount), full, to_decimal(Fraction(num, den))) for amount, full, num, den in raw
    ]


def _equation(terms: Sequence[Term], rate: Decimal) -> tuple[Decimal, Decimal]:
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


def no_solution() -> AprError:
    return AprError(
        "no rate between -99% and 100,000,000% per unit-period makes the payments repay the"
        " advances (Appendix J general equation has no solution)",
        code="APR_NO_SOLUTION",
    )


def solve(terms: Sequence[Term], signs: Sequence[int | None] | None = None) -> Decimal:
    """The unit-period rate solving the general equation: a sign change is bracketed on a grid
    from -99% to 10^8 % per unit-period, then refined by Newton's method kept inside the bracket
    by bisection (the result is the root to ~40 digits; App J (b)(9) iterates to the same root).

    ``signs[k]``, when not ``None``, is the certain (non-zero) sign of the equation at ``GRID[k]``.
    """
    values: dict[int, Decimal] = {}

    def value(k: int) -> Decimal:
        found = values.get(k)
        if found is None:
            found = values[k] = _equation(terms, GRID[k])[0]
        return found

    def sign(k: int) -> int:
        hint = signs[k] if signs is not None else None
        if hint is not None:
            return hint
        v = value(k)
        return 0 if v.is_zero() else (-1 if v.is_signed() else 1)

    grid_signs = [sign(k) for k in range(len(GRID))]
    brackets: list[int] = []
    exact: list[Decimal] = []
    for k in range(len(GRID) - 1):
        s_lo, s_hi = grid_signs[k], grid_signs[k + 1]
        if s_lo == 0:
            exact.append(GRID[k])
        elif s_hi != 0 and s_lo != s_hi:
            brackets.append(k)
    if grid_signs[-1] == 0:
        exact.append(GRID[-1])
    if len(brackets) + len(exact) == 0:
        raise no_solution()
    if len(brackets) + len(exact) > 1:
        raise AprError(
            "these cash flows admit more than one rate (the payments and advances alternate)",
            code="APR_AMBIGUOUS_RATE",
        )
    if exact:
        return exact[0]
    k = brackets[0]
    lo, hi, f_lo, f_hi = GRID[k], GRID[k + 1], value(k), value(k + 1)
    rate = lo - f_lo * (hi - lo) / (f_hi - f_lo)
    for _ in range(_MAX_ITERATIONS):
        v, slope = _equation(terms, rate)
        if v.is_zero():
            return rate
        if v.is_signed() == f_lo.is_signed():
            lo, f_lo = rate, v
        else:
            hi = rate
        step = rate - v / slope if not slope.is_zero() else lo
        if not lo < step < hi:
            step = (lo + hi) / 2
        if abs(step - rate) <= _TOLERANCE or hi - lo <= _TOLERANCE:
            return step
        rate = step
    raise AprError("the rate did not converge", code="APR_NO_SOLUTION")  # pragma: no cover


def figures_at(root: Decimal, per_year: Fraction) -> tuple[Decimal, Decimal, Decimal]:
    """``(periodic_rate, nominal, effective)`` from the solver's root (in the 50-digit context):
    the root is good to ~1e-45; the noise digits are dropped so exact rates print exactly."""
    with localcontext(context()):
        rate = root.quantize(_TOLERANCE)
        w = to_decimal(per_year)
        nominal = rate * w
        growth = Decimal(1) + rate
        effective = (growth**per_year.numerator if per_year.denominator == 1 else growth**w) - 1
    return rate, nominal, effective


def exact_figures(
    raw: Sequence[RawTerm], per_year: Fraction, signs: Sequence[int | None] | None = None
) -> tuple[Decimal, Decimal, Decimal]:
    """``(periodic_rate, nominal, effective)`` of the terms, exactly as the original engine."""
    with localcontext(context()):
        root = solve(decimal_terms(raw), signs)
    return figures_at(root, per_year)
