"""Value types of the APR engine: unit periods, dated cash flows in minor units.

Amounts are integers in minor units (fen / cents); dates are `datetime.date`. Nothing here
uses floats. The rules cited are those of Regulation Z (12 CFR 1026) Appendix J.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from itertools import islice
from typing import Literal

from ledger.errors import AprError

__all__ = [
    "MAX_AMOUNT_MINOR",
    "MAX_FLOWS",
    "METHOD",
    "CashFlow",
    "CashFlows",
    "UnitPeriod",
    "UnitPeriodKind",
    "parse_amount",
]

#: Method label stored with every rate (R4: "store the method with every rate").
METHOD = "irr-actuarial-regz-appj"

#: Largest single amount accepted, in minor units (10^15 fen = 10 trillion yuan).
MAX_AMOUNT_MINOR = 10**15

#: Most cash flows (advances + payments) accepted in one computation.
MAX_FLOWS = 10_000

UnitPeriodKind = Literal["M", "SM", "W", "D"]

_UNIT_CODE = re.compile(r"^(?:SM|(?P<n>[1-9][0-9]{0,2})(?P<k>[MWD]))$")
_AMOUNT = re.compile(r"^(?P<int>[0-9]{1,16})(?:\.(?P<frac>[0-9]{1,2}))?$")


@dataclass(frozen=True, slots=True)
class UnitPeriod:
    """A unit-period of App J (b)(3)(iii)/(b)(4): ``"<m>M"`` (1-12 months, 12M = one year),
    ``"SM"`` (semimonth), ``"<k>W"`` (1-52 weeks) or ``"<n>D"`` (days).

    ``"1D"`` is the daily unit-period of (b)(5)(iv); ``"<n>D"`` with n > 1 is only the term of a
    single-advance, single-payment transaction shorter than a year ((b)(4)(ii), (b)(5)(vi)-(vii)).
    """

    kind: UnitPeriodKind
    count: int = 1

    def __post_init__(self) -> None:
        limits = {"M": 12, "SM": 1, "W": 52, "D": 365}
        if self.kind not in limits:
            raise AprError(f"unknown unit-period kind {self.kind!r}", code="APR_INVALID_INPUT")
        if (
            isinstance(self.count, bool)
            or not isinstance(self.count, int)
            or not 1 <= self.count <= limits[self.kind]
        ):
            raise AprError(
                f"unit-period {self.kind} needs a count between 1 and {limits[self.kind]},"
                f" got {self.count!r}",
                code="APR_INVALID_INPUT",
            )

    @classmethod
    def parse(cls, code: str) -> UnitPeriod:
        """Parse ``"1M"``, ``"3M"``, ``"SM"``, ``"1W"``, ``"2W"``, ``"4W"``, ``"255D"``..."""
        if not isinstance(code, str):
            raise AprError(f"unit_period must be a string, got {code!r}", code="APR_INVALID_INPUT")
        match = _UNIT_CODE.match(code)
        if match is None:
            raise AprError(
                f"unit_period {code!r} is not one of <m>M (1-12), SM, <k>W (1-52), <n>D",
                code="APR_INVALID_INPUT",
            )
        if code == "SM":
            return cls("SM", 1)
        kinds: dict[str, UnitPeriodKind] = {"M": "M", "W": "W", "D": "D"}
        return cls(kinds[match.group("k")], int(match.group("n")))

    @property
    def code(self) -> str:
        """The canonical string form, e.g. ``"1M"``, ``"SM"``, ``"2W"``, ``"255D"``."""
        return "SM" if self.kind == "SM" else f"{self.count}{self.kind}"

    @property
    def per_year(self) -> Fraction:
        """Unit-periods per year, App J (b)(5)(ii)-(vii): 12/m, 24, 52/k, 365/n."""
        if self.kind == "M":
            return Fraction(12, self.count)
        if self.kind == "SM":
            return Fraction(24)
        if self.kind == "W":
            return Fraction(52, self.count)
        return Fraction(365, self.count)

    @property
    def nominal_days(self) -> Fraction:
        """Length in days used only to order unit-periods ((b)(4)(i)(A)-(B)): a month is 365/12."""
        return Fraction(365) / self.per_year

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True, slots=True)
class CashFlow:
    """One dated amount in integer minor units (fen), strictly positive."""

    on: date
    amount: int

    def __post_init__(self) -> None:
        if isinstance(self.on, datetime) or not isinstance(self.on, date):
            raise AprError(
                f"cash-flow date must be a date, got {self.on!r}", code="APR_INVALID_INPUT"
            )
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise AprError(
                f"cash-flow amount must be an integer number of minor units, got {self.amount!r}",
                code="APR_INVALID_INPUT",
            )
        if self.amount <= 0:
            raise AprError(
                f"cash-flow amount must be positive, got {self.amount} on {self.on.isoformat()}",
                code="APR_INVALID_INPUT",
            )
        if self.amount > MAX_AMOUNT_MINOR:
            raise AprError(f"cash-flow amount {self.amount} is too large", code="APR_INVALID_INPUT")


def trusted_flow(on: date, amount: int) -> CashFlow:
    """A `CashFlow` whose date and amount are already known to be valid (no checks)."""
    flow = object.__new__(CashFlow)
    _SET_ON(flow, on)
    _SET_AMOUNT(flow, amount)
    return flow


def check_amount(amount: int) -> None:
    """The ceiling check of `CashFlow` on an amount known to be a positive integer."""
    if amount > MAX_AMOUNT_MINOR:
        raise AprError(f"cash-flow amount {amount} is too large", code="APR_INVALID_INPUT")


def merge_amounts(
    dates: Sequence[date], amounts: Sequence[int]
) -> tuple[Sequence[date], Sequence[int]]:
    """Same-date amounts summed, in date order (each total checked like a `CashFlow`); series
    already strictly in date order are returned as they are."""
    if all(map(operator.lt, dates, islice(dates, 1, None))):
        out_dates, out_amounts = dates, amounts
    else:
        totals: dict[date, int] = {}
        for on, amount in zip(dates, amounts, strict=True):
            totals[on] = totals.get(on, 0) + amount
        out_dates = sorted(totals)
        out_amounts = [totals[on] for on in out_dates]
    if out_amounts and max(out_amounts) > MAX_AMOUNT_MINOR:
        for amount in out_amounts:
            check_amount(amount)
    return out_dates, out_amounts


def _merge(flows: tuple[CashFlow, ...]) -> tuple[CashFlow, ...]:
    days = [flow.on for flow in flows]
    if all(map(operator.lt, days, islice(days, 1, None))):
        return flows  # already one flow per date, in order: nothing to sum
    dates, amounts = merge_amounts(days, [flow.amount for flow in flows])
    return tuple(trusted_flow(on, amount) for on, amount in zip(dates, amounts, strict=True))


class _Memo:
    """Derived data of one `CashFlows` (merged series), filled on first use."""

    __slots__ = ("advances", "folded", "payments")

    def __init__(self) -> None:
        self.advances: tuple[CashFlow, ...] | None = None
        self.payments: tuple[CashFlow, ...] | None = None
        #: the `ledger.apr.fees.Folded` these flows were built from, if any
        self.folded: object = None


class _MemoSlot:
    """Base of `CashFlows` holding its memo in a slot that is not a dataclass field (so equality,
    hashing, ``repr`` and `dataclasses.fields` see only the four documented fields)."""

    __slots__ = ("_memo",)
    _memo: _Memo


@dataclass(frozen=True, slots=True)
class CashFlows(_MemoSlot):
    """Advances (money lent to the borrower) and payments (money the borrower pays), App J (b)(7).

    ``term_start`` is the beginning of the term (App J (b)(2)): consummation, or the later date
    from which the finance charge is earned; it defaults to the first advance. ``unit_period`` pins
    the unit-period (e.g. the one inferred before fees were folded in); ``None`` means infer it.
    Flows on the same date are one flow: they are merged before any computation.
    """

    advances: tuple[CashFlow, ...]
    payments: tuple[CashFlow, ...]
    term_start: date | None = None
    unit_period: UnitPeriod | None = None

    def __post_init__(self) -> None:
        for name in ("advances", "payments"):
            raw: object = getattr(self, name)
            if isinstance(raw, (str, bytes)) or not hasattr(raw, "__iter__"):
                raise AprError(f"{name} must be a sequence of CashFlow", code="APR_INVALID_INPUT")
            items = tuple(raw)
            for item in items:
                if not isinstance(item, CashFlow):
                    raise AprError(
                        f"{name} must contain CashFlow items, got {item!r}",
                        code="APR_INVALID_INPUT",
                    )
            object.__setattr__(self, name, items)
        if not self.advances:
            raise AprError("no advance: at least one amount must be lent", code="APR_NO_ADVANCE")
        if not self.payments:
            raise AprError("no payment: a rate needs at least one payment", code="APR_NO_PAYMENTS")
        if len(self.advances) + len(self.payments) > MAX_FLOWS:
            raise AprError(f"more than {MAX_FLOWS} cash flows", code="APR_INVALID_INPUT")
        first = min(flow.on for flow in self.advances)
        early = [flow.on for flow in self.payments if flow.on < first]
        if early:
            raise AprError(
                f"payment on {min(early).isoformat()} is before the first advance on"
                f" {first.isoformat()}",
                code="APR_PAYMENT_BEFORE_ADVANCE",
            )
        if self.term_start is not None:
            if isinstance(self.term_start, datetime) or not isinstance(self.term_start, date):
                raise AprError("term_start must be a date", code="APR_INVALID_INPUT")
            if self.term_start > first:
                raise AprError(
                    f"term_start {self.term_start.isoformat()} is after the first advance on"
                    f" {first.isoformat()}",
                    code="APR_INVALID_INPUT",
                )
        if self.unit_period is not None and not isinstance(self.unit_period, UnitPeriod):
            raise AprError("unit_period must be a UnitPeriod", code="APR_INVALID_INPUT")
        object.__setattr__(self, "_memo", _Memo())

    def _memo_of(self) -> _Memo:
        try:
            return self._memo
        except AttributeError:  # unpickled or copied: the memo slot is not a field
            memo = _Memo()
            object.__setattr__(self, "_memo", memo)
            return memo

    @property
    def start(self) -> date:
        """Beginning of the term, App J (b)(2)."""
        return self.term_start if self.term_start is not None else self.merged_advances()[0].on

    def merged_advances(self) -> tuple[CashFlow, ...]:
        """Advances summed per date, in date order (computed once)."""
        memo = self._memo_of()
        if memo.advances is None:
            memo.advances = _merge(self.advances)
        return memo.advances

    def merged_payments(self) -> tuple[CashFlow, ...]:
        """Payments summed per date, in date order (computed once)."""
        memo = self._memo_of()
        if memo.payments is None:
            memo.payments = _merge(self.payments)
        return memo.payments


_SET_ON = CashFlow.__dict__["on"].__set__
_SET_AMOUNT = CashFlow.__dict__["amount"].__set__


def trusted_flows(
    advances: tuple[CashFlow, ...],
    payments: tuple[CashFlow, ...],
    unit_period: UnitPeriod | None,
    folded: object = None,
) -> CashFlows:
    """`CashFlows` of series already validated, merged and in date order (no checks);
    ``folded`` is the fee folding they come from (kept for the engine)."""
    flows = object.__new__(CashFlows)
    for name, value in (
        ("advances", advances),
        ("payments", payments),
        ("term_start", None),
        ("unit_period", unit_period),
    ):
        object.__setattr__(flows, name, value)
    memo = _Memo()
    memo.advances, memo.payments, memo.folded = advances, payments, folded
    object.__setattr__(flows, "_memo", memo)
    return flows


def parse_amount(text: str) -> int:
    """``"5000.00"`` (major units, at most 2 decimals) -> ``500000`` minor units; must be > 0."""
    if not isinstance(text, str):
        raise AprError(
            f"amount must be a decimal string like '5000.00', got {text!r}",
            code="APR_INVALID_INPUT",
        )
    match = _AMOUNT.match(text)
    if match is None:
        raise AprError(
            f"amount {text!r} is not a decimal with at most 2 decimals (e.g. '5000.00')",
            code="APR_INVALID_INPUT",
        )
    minor = int(match.group("int")) * 100 + int((match.group("frac") or "0").ljust(2, "0"))
    if minor <= 0:
        raise AprError(f"amount {text!r} must be positive", code="APR_INVALID_INPUT")
    if minor > MAX_AMOUNT_MINOR:
        raise AprError(f"amount {text!r} is too large", code="APR_INVALID_INPUT")
    return minor
