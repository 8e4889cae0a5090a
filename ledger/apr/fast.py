"""A float64 accelerator for the general equation, with proven error bounds.

Floats never leave this module as figures: it returns either the proven sign of the equation at a
point, or a proven bracket ``lo < root < hi`` (two floats) that `ledger.apr.figures` turns into
exact integer decisions. Every evaluation comes with a bound ``B`` on ``|computed - true|``
(a forward error analysis of the operations below with unit roundoff u = 2^-53, inflated by a few
percent for second-order terms), so ``computed > B`` proves the true value positive.

For one advance at the beginning of the term and positive payments later (every loan built by
`fold_fees`), the equation ``f(i) = sum_j P_j / ((1 + f_j i)(1 + i)^t_j) - A`` is strictly
decreasing and convex on ``i > -1``: it has at most one root, which Newton's method finds from
either side. Payments sharing a fraction ``f_j`` are one polynomial in ``v = 1 / (1 + i)``,
evaluated by Horner's rule - or, for level instalments, as a few runs of equal amounts, each a
geometric series ``c v^a (1 - v^m) / (1 - v)`` with ``1 - v^m = -expm1(-m log1p(i))`` and
``1 - v = i v`` (no cancellation). Library functions (``pow``, ``log1p``, ``expm1``) are taken
to be within 2 ulp (glibc documents 1 ulp for them on x86-64).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import groupby

from ledger.apr.exact import GRID, RawTerm

__all__ = ["GRID_FLOATS", "Bracket", "grid_signs", "solve_single_advance"]

_U = 2.0**-53
_TINY = 2.0**-900
GRID_FLOATS = tuple(float(x) for x in GRID)
_LOW, _HIGH = GRID_FLOATS[0], GRID_FLOATS[-1]
#: the float just below -0.99 (the float nearest -0.99 is above it)
_FLOOR = math.nextafter(_LOW, -1.0)

#: ``(lo, hi)``: the root is proven strictly inside; ``"none"``: proven to have no root in the
#: grid's range; ``None``: not proven either way (use the exact solver).
Bracket = tuple[float, float]

# a run of equal amounts: (amount, first unit-period, number of unit-periods)
_Run = tuple[float, int, int]
# one group of payments sharing a fraction: (fraction, first full, coefficients from the highest
# power of v down, error constant of the group, the coefficients as runs when there are few)
_Group = tuple[float, int, tuple[float, ...], float, tuple[_Run, ...] | None]


def _group(phi: float, first: int, coeffs: tuple[float, ...]) -> _Group:
    last = first + len(coeffs) - 1
    kappa = 2.02 * (2 * (last - first) + first) + 9
    if len(coeffs) < 16:  # Horner's rule is as quick
        return phi, first, coeffs, kappa, None
    runs: list[_Run] = []
    start = first
    for amount, same in groupby(reversed(coeffs)):  # in increasing unit-periods
        length = len(list(same))
        if amount:
            runs.append((amount, start, length))
            if len(runs) > 4:
                return phi, first, coeffs, kappa, None
        start += length
    return phi, first, coeffs, kappa, tuple(runs)


def _groups(
    amounts: Sequence[int], fulls: Sequence[int], nums: Sequence[int], dens: Sequence[int]
) -> list[_Group]:
    n = len(amounts)
    first, last = fulls[0], fulls[-1]
    if (
        last - first == n - 1
        and nums.count(nums[0]) == n
        and dens.count(dens[0]) == n
        and list(fulls) == list(range(first, last + 1))
    ):  # one fraction, consecutive unit-periods: the usual instalment schedule
        return [_group(nums[0] / dens[0], first, tuple(map(float, reversed(amounts))))]
    by_fraction: dict[tuple[int, int], tuple[list[int], list[int]]] = {}
    for amount, full, num, den in zip(amounts, fulls, nums, dens, strict=True):
        entry = by_fraction.get((num, den))
        if entry is None:
            by_fraction[num, den] = ([full], [amount])
        else:
            entry[0].append(full)
            entry[1].append(amount)
    groups: list[_Group] = []
    for (num, den), (times, sums) in by_fraction.items():
        phi = num / den
        low, high = times[0], times[-1]
        if high - low == len(times) - 1 and times == list(range(low, high + 1)):
            # consecutive unit-periods (a single one, often)
            groups.append(_group(phi, low, tuple(map(float, reversed(sums)))))
            continue
        series: dict[int, int] = {}
        for full, amount in zip(times, sums, strict=True):
            series[full] = series.get(full, 0) + amount
        low, high = min(series), max(series)
        if high - low > 4 * len(series) + 16:  # sparse: a group per term
            groups.extend(_group(phi, t, (float(series[t]),)) for t in sorted(series))
        else:
            coeffs = tuple(float(series.get(t, 0)) for t in range(high, low - 1, -1))
            groups.append(_group(phi, low, coeffs))
    return groups


class _Overflow(Exception):
    """The equation is beyond float range at this point (there: certainly positive)."""


def _runs(
    runs: Sequence[_Run], x: float, v: float, log_growth: float, slope: bool
) -> tuple[float, float, float]:
    """``(sum, error weight, derivative)`` of runs of amounts, as geometric series: a run is
    ``c v^a G`` with ``G = sum_k<m v^k = -expm1(-m log1p(x)) / (x v)``. Relative error of a run:
    log1p 4u, times m u, expm1 4u plus its condition (at most 1 + |y|) times 5u; x v 3.02u, the
    quotient u; v^a (2.02 a + 4)u; the products and the amount 3u; the sum of the runs len(runs) u.
    The derivative (for Newton only) uses ``sum_k<m k v^k = (G - 1 - (m - 1) v^m) / (1 - v)``."""
    total = weight = derivative = 0.0
    xv = x * v
    for c, a, m in runs:
        if x == 0.0:
            y, series, top = 0.0, float(m), 1.0
        else:
            y = -m * log_growth
            less = math.expm1(y)  # v^m - 1
            series, top = -less / xv, less + 1.0
        power = v**a
        value = c * power * series
        total += value
        weight += value * (20.2 + 5.05 * abs(y) + 2.02 * a + len(runs))
        if slope:
            if abs(x) > 1e-4:
                tilted = (series - 1.0 - (m - 1) * top) / xv
            else:  # near v = 1: sum k v^k to first order in 1 - v
                tilted = m * (m - 1) / 2 - xv * (m - 1) * m * (2 * m - 1) / 6
            derivative -= c * power * v * (a * series + tilted)
    return total, weight, derivative


def _evaluate(
    groups: Sequence[_Group], advance: float, x: float, slope: bool
) -> tuple[float, float, float]:
    """``(value, bound, derivative)`` at ``x`` > -1 (the derivative only if ``slope``)."""
    v = 1.0 / (1.0 + x)
    log_growth = math.log1p(x)
    total = -advance
    weighted = 0.0
    absolute = advance
    derivative = 0.0
    try:
        for phi, first, coeffs, kappa, runs in groups:
            simple = 1.0 + phi * x
            if runs is not None:
                acc, weight, dacc = _runs(runs, x, v, log_growth, slope)
                part = acc / simple
                if part == math.inf:
                    raise _Overflow
                weighted += weight / simple + part * (2 + 2.02 * abs(phi * x) / simple)
                if slope:
                    derivative += dacc / simple - part * phi / simple
                total += part
                absolute += part
                continue
            acc = 0.0
            dacc = 0.0
            if slope:
                for c in coeffs:
                    dacc = dacc * v + acc
                    acc = acc * v + c
            else:
                for c in coeffs:
                    acc = acc * v + c
            power = v**first
            part = acc * power / simple
            if part == math.inf:
                raise _Overflow
            total += part
            absolute += part
            weighted += part * (kappa + 2.02 * abs(phi * x) / simple)
            if slope:
                derivative -= power * v * (first * acc + v * dacc) / simple + part * phi / simple
    except OverflowError:
        raise _Overflow from None
    if not math.isfinite(total):
        raise _Overflow
    bound = 1.02 * _U * (weighted + len(groups) * absolute) + _TINY
    return total, bound, derivative


def _sign(groups: Sequence[_Group], advance: float, x: float) -> int:
    """The proven sign of the equation at ``x``, or 0 if the bound does not decide it."""
    try:
        value, bound, _ = _evaluate(groups, advance, x, False)
    except _Overflow:
        return 1 if x < 0 else 0
    if value > bound:
        return 1
    return -1 if value < -bound else 0


def _brackets(groups: Sequence[_Group], advance: float, lo: float, hi: float) -> bool:
    """Whether the equation is proven positive at ``lo`` and negative at ``hi`` (`_evaluate` at
    both points in one pass)."""
    if any(group[4] is not None for group in groups):
        return _sign(groups, advance, lo) > 0 and _sign(groups, advance, hi) < 0
    v_lo, v_hi = 1.0 / (1.0 + lo), 1.0 / (1.0 + hi)
    total_lo = total_hi = -advance
    weighted_lo = weighted_hi = 0.0
    absolute_lo = absolute_hi = advance
    try:
        for phi, first, coeffs, kappa, _ in groups:
            acc_lo = acc_hi = 0.0
            for c in coeffs:
                acc_lo = acc_lo * v_lo + c
                acc_hi = acc_hi * v_hi + c
            simple_lo, simple_hi = 1.0 + phi * lo, 1.0 + phi * hi
            part_lo = acc_lo * v_lo**first / simple_lo
            part_hi = acc_hi * v_hi**first / simple_hi
            if part_lo == math.inf or part_hi == math.inf:
                raise _Overflow
            total_lo += part_lo
            total_hi += part_hi
            absolute_lo += part_lo
            absolute_hi += part_hi
            weighted_lo += part_lo * (kappa + 2.02 * abs(phi * lo) / simple_lo)
            weighted_hi += part_hi * (kappa + 2.02 * abs(phi * hi) / simple_hi)
    except (OverflowError, _Overflow):
        return _sign(groups, advance, lo) > 0 and _sign(groups, advance, hi) < 0
    count = len(groups)
    bound_lo = 1.02 * _U * (weighted_lo + count * absolute_lo) + _TINY
    bound_hi = 1.02 * _U * (weighted_hi + count * absolute_hi) + _TINY
    return total_lo > bound_lo and total_hi < -bound_hi


def _newton(
    groups: Sequence[_Group], advance: float, guess: float
) -> tuple[float, float, float] | None:
    """Newton's method kept in the sign bracket; from a point where the step is below 2^-26
    relative (or the noise of the bound), quadratic convergence makes the next iterate the root
    to about machine precision (the proof that follows checks it). Returns the root with the
    bound and slope of the last evaluation."""
    lo, hi = _FLOOR, math.inf  # a root below the grid is reported as the floor
    x = max(guess, _FLOOR)
    for _ in range(100):
        try:
            value, bound, slope = _evaluate(groups, advance, x, True)
        except _Overflow:
            lo = x
            x = (x + hi) / 2 if hi < math.inf else x / 2
            continue
        if abs(value) <= bound:
            return x, bound, slope
        if value > 0:
            lo = x
        else:
            hi = x
        step = x - value / slope if slope < 0 else math.nan
        if not lo < step < hi:
            step = (lo + hi) / 2 if hi < math.inf else 2 * x + 1
        elif abs(step - x) <= 2.0**-26 * abs(x) + 4 * bound / -slope:
            return step, bound, slope
        if step > 10 * _HIGH:
            return step, bound, slope
        x = step
    return None


def _guess(advance: int, groups: Sequence[_Group]) -> float:
    """A starting rate: with d = ln(1 + i) and the payments' times t (weighted by amount, mean m,
    variance s2), sum P exp(-d t) = A to second order in d is s2 d^2 / 2 - m d = ln(A / S);
    each group's times are taken as evenly weighted over its span (exact for level payments)."""
    total = moment = square = 0.0
    for phi, first, coeffs, _, _ in groups:
        weight = sum(coeffs)
        count = len(coeffs)
        middle = first + phi + (count - 1) / 2
        total += weight
        moment += weight * middle
        square += weight * (middle * middle + (count * count - 1) / 12)
    mean = moment / total
    spread = square / total - mean * mean
    gain = math.log(total / advance)
    rate = gain / mean
    discriminant = mean * mean - 2 * spread * gain
    if spread > 1e-12 * mean * mean and discriminant > 0:
        rate = (mean - math.sqrt(discriminant)) / spread
    return math.expm1(max(min(rate, 13.0), -4.0))


def solve_single_advance(
    advance: int,
    amounts: Sequence[int],
    fulls: Sequence[int],
    nums: Sequence[int],
    dens: Sequence[int],
) -> Bracket | str | None:
    """Bracket of the root of ``sum payments - advance`` (advance at the term start, payments
    with positive amounts at positions ``fulls + nums / dens``, fractions at most 1, not all at
    the term start)."""
    groups = _groups(amounts, fulls, nums, dens)
    a = float(advance)
    found = _newton(groups, a, _guess(advance, groups))
    if found is None:
        return None
    root, bound, slope = found
    if root <= _LOW:
        # below -0.99, so that f(-0.99) <= f(there) (f is decreasing)
        return "none" if _sign(groups, a, _FLOOR) < 0 else None
    if root >= _HIGH:
        return "none" if _sign(groups, a, _HIGH) > 0 else None
    # just beyond the noise of the evaluation (bound / slope) on either side of the float root
    delta = 2 * bound / abs(slope or 1.0) + abs(root) * 2.0**-51 + 2.0**-1000
    for _ in range(6):
        lo, hi = root - delta, root + delta
        if lo <= _LOW or hi >= _HIGH:
            return None
        if _brackets(groups, a, lo, hi):
            return lo, hi
        delta *= 4
    return None


def grid_signs(terms: Sequence[RawTerm]) -> list[int | None]:
    """The proven sign of the equation at each grid rate, ``None`` where not proven. The grid
    rates are decimals: their binary rounding (half an ulp) enters the bound."""
    if any(num > den for _, _, num, den in terms):
        return [None] * len(GRID_FLOATS)
    prepared = [(float(a), full, num / den) for a, full, num, den in terms]
    return [_grid_sign(prepared, x) for x in GRID_FLOATS]


def _grid_sign(prepared: Sequence[tuple[float, int, float]], x: float) -> int | None:
    g = 1.0 + x
    # relative error of g against the decimal 1 + x: the sum's rounding and x's own
    spread = 1.01 * (1.0 + 0.5 * abs(x) / g)
    total = 0.0
    weighted = 0.0
    absolute = 0.0
    slack = _TINY
    for amount, full, phi in prepared:
        try:
            power = g**full
        except OverflowError:
            if g < 1.0:
                return None
            slack += abs(amount) * 2.0**-1000  # the term is below |amount| / 2^1024
            continue
        if power < 2.0**-1000:
            return None
        simple = 1.0 + phi * x
        part = amount / (simple * power)
        total += part
        size = abs(part)
        absolute += size
        weighted += size * (spread * full + 8 + 2.6 * abs(phi * x) / simple)
    if not math.isfinite(weighted) or absolute > 1e300:
        return None
    bound = 1.02 * _U * (weighted + len(prepared) * absolute) + slack
    if total > bound:
        return 1
    return -1 if total < -bound else None
