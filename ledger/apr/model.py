"""Value types of the APR engine: unit periods, dated cash flows in minor units.

Amounts are integers in minor units (fen / cents); dates are `datetime.date`. Nothing here
uses floats. The rules cited are those of Regulation Z (12 CFR 1026) Appendix J.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
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


def _merge(flows: tuple[CashFlow, ...]) -> tuple[CashFlow, ...]:
    totals: dict[date, int] = {}
    for flow in flows:
        totals[flow.on] = totals.get(flow.on, 0) + flow.amount
    return tuple(CashFlow(on, totals[on]) for on in sorted(totals))


@dataclass(frozen=True, slots=True)
class CashFlows:
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

    @property
    def start(self) -> date:
        """Beginning of the term, App J (b)(2)."""
        return self.term_start if self.term_start is not None else self.merged_advances()[0].on

    def merged_advances(self) -> tuple[CashFlow, ...]:
        """Advances summed per date, in date order."""
        return _merge(self.advances)

    def merged_payments(self) -> tuple[CashFlow, ...]:
        """Payments summed per date, in date order."""
        return _merge(self.payments)


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
