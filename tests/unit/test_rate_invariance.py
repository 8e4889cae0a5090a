"""The regulatory rate does not move with the shape of a form (R2, R4): relabelling interest as a
fee, moving a fee to another collector or splitting it never changes it; tiny extra payments never
lower it by more than a basis point; and the two loopholes found by probing stay closed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.disclosure import (
    BorrowerConfirmation,
    FeeCharge,
    FeeDisclosure,
    FeeItem,
    Instalment,
    check_disclosure,
    computed_apr,
)
from ledger.testing import build_disclosure

START = date(2026, 9, 1)
FIRST_DUE = 30  # days from START to the first instalment (2026-10-01)
CONFIRMED = datetime(2026, 8, 31, 12, tzinfo=UTC)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1)


def rate(form: FeeDisclosure) -> Decimal:
    """The computed nominal rate, whatever the form states."""
    return computed_apr(form).nominal


def restated(form: FeeDisclosure, **changes: Any) -> FeeDisclosure:
    """The form with `changes` (validated again), stating the rate its own numbers give."""
    draft = FeeDisclosure.model_validate({**form.model_dump(), **changes, "stated_apr_bps": 0})
    return draft.model_copy(update={"stated_apr_bps": computed_apr(draft).nominal_bps})


def interest_only(principal: int, months: int, monthly_interest: int) -> FeeDisclosure:
    """先息后本: interest every month, the principal with the last instalment."""
    schedule = tuple(
        Instalment(
            due=_add_months(START, n),
            principal=principal if n == months else 0,
            interest=monthly_interest,
        )
        for n in range(1, months + 1)
    )
    return restated(_blank(principal, schedule))


def _blank(principal: int, schedule: tuple[Instalment, ...]) -> FeeDisclosure:
    return FeeDisclosure(
        lender="Bank",
        principal=principal,
        disbursed_on=START,
        schedule=schedule,
        stated_apr_bps=0,
        no_other_charges=True,
        no_other_charges_statement="No charge beyond this form.",
        confirmation=BorrowerConfirmation(
            method="online", confirmed_at=CONFIRMED, reading_seconds=15
        ),
    )


def relabelled(form: FeeDisclosure, collector: str = "Platform") -> FeeDisclosure:
    """The same cash, with every instalment's interest called a service fee."""
    schedule = tuple(i.model_copy(update={"interest": 0}) for i in form.schedule)
    fee = FeeItem(
        name="服务费 service fee",
        category="service",  # type: ignore[arg-type]
        timing="separate",  # type: ignore[arg-type]
        collector=collector,
        charges=tuple(FeeCharge(on=i.due, amount=i.interest) for i in form.schedule if i.interest),
    )
    return restated(form, schedule=schedule, fees=(*form.fees, fee))


def level(months: int, monthly_rate: Fraction, principal: int = 1_000_000) -> FeeDisclosure:
    """等额本息 through the project's own builder."""
    return build_disclosure(
        principal, months, monthly_rate, START, lender="Bank", confirmed_at=CONFIRMED
    )


# ---------------------------------------------------------------------- the two findings


def test_relabelling_interest_as_a_fee_does_not_raise_the_rate() -> None:
    """An honest 先息后本 loan at 22.0 % computed 24.25 % once its interest was called 服务费:
    the schedule alone then had one payment, and Appendix J took the whole term as the unit."""
    honest = interest_only(1_000_000, 12, 18_333)  # 1.8333 % a month: 22.0 %
    assert abs(rate(honest) - Decimal("0.22")) < Decimal("0.0001")
    assert rate(relabelled(honest)) == rate(honest)


def test_tiny_daily_instalments_do_not_lower_the_rate() -> None:
    """A 12-month 等额本息 loan at 24.20 % plus twenty one-fen daily instalments (the same money,
    20 fen earlier) made the day the unit-period and computed 23.99 %, under the 24 % cap."""
    base = level(12, Fraction(20167, 1_000_000))
    assert rate(base) > Decimal("0.2419")
    first, *rest = base.schedule
    last = rest[-1]
    tiny = tuple(
        Instalment(due=START + timedelta(days=d), principal=1, interest=0) for d in range(1, 21)
    )
    reshaped = restated(
        base,
        schedule=(
            *tiny,
            first,
            *rest[:-1],
            last.model_copy(update={"principal": last.principal - 20}),
        ),
    )
    assert rate(reshaped) >= rate(base) - Decimal("0.0001")
    assert check_disclosure(reshaped).nominal_bps > 2400  # refused at a 24 % cap


# ---------------------------------------------------------------------- properties

shapes = st.one_of(
    st.builds(
        level,
        st.integers(min_value=3, max_value=36),
        st.fractions(
            min_value=Fraction(1, 1000), max_value=Fraction(3, 100), max_denominator=10_000
        ),
    ),
    st.builds(
        interest_only,
        st.integers(min_value=100_000, max_value=5_000_000),
        st.integers(min_value=3, max_value=24),
        st.integers(min_value=100, max_value=60_000),
    ),
)


@settings(max_examples=40, deadline=None)
@given(form=shapes, collector=st.sampled_from(["Platform", "Guarantor G", "Bank"]))
def test_relabelling_never_changes_the_rate(form: FeeDisclosure, collector: str) -> None:
    assert rate(relabelled(form, collector)) == rate(form)


@settings(max_examples=40, deadline=None)
@given(form=shapes, parts=st.integers(min_value=2, max_value=5))
def test_splitting_a_fee_or_moving_it_to_another_collector_never_changes_the_rate(
    form: FeeDisclosure, parts: int
) -> None:
    one = relabelled(form, "Platform")
    fee = one.fees[-1]
    split = tuple(
        fee.model_copy(
            update={
                "name": f"fee part {k}",
                "collector": f"collector {k}",
                "charges": tuple(
                    FeeCharge(
                        on=c.on, amount=c.amount // parts + (c.amount % parts if k == 0 else 0)
                    )
                    for c in fee.charges
                    if c.amount // parts + (c.amount % parts if k == 0 else 0) > 0
                ),
            }
        )
        for k in range(parts)
    )
    split = tuple(item for item in split if item.charges)
    assert rate(restated(one, fees=(*one.fees[:-1], *split))) == rate(one)


@settings(max_examples=60, deadline=None)
@given(
    form=shapes,
    extra=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=1_100), st.integers(min_value=1, max_value=100)
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_tiny_extra_payments_never_lower_the_rate(
    form: FeeDisclosure, extra: list[tuple[int, int]]
) -> None:
    """Up to 30 separate payments of 1-100 fen on any day after disbursement: never more than
    1 bp lower (the unit-period may change, the money-weighted one cannot)."""
    charges = tuple(
        FeeCharge(on=START + timedelta(days=day), amount=amount) for day, amount in extra
    )
    fee = FeeItem(
        name="杂费 sundry",
        category="other",  # type: ignore[arg-type]
        timing="separate",  # type: ignore[arg-type]
        collector="Platform",
        charges=charges,
    )
    assert rate(restated(form, fees=(*form.fees, fee))) >= rate(form) - Decimal("0.0001")


def test_one_fen_beside_an_instalment_does_not_move_the_money_weighted_unit() -> None:
    """Hypothesis found it: one fen three days after two of a 3-month loan's instalments made the
    gaps before the next ones four weeks, which carried the money-weighted unit: the rate fell
    1.0002 bp. The unit now comes from the payments that carry the money."""
    form, days = level(3, Fraction(120, 10_000)), (33, 63)
    fee = FeeItem(
        name="杂费 sundry",
        category="other",  # type: ignore[arg-type]
        timing="separate",  # type: ignore[arg-type]
        collector="Platform",
        charges=tuple(FeeCharge(on=START + timedelta(days=d), amount=1) for d in days),
    )
    padded = restated(form, fees=(*form.fees, fee))
    assert rate(padded) > rate(form)
    assert computed_apr(padded).unit_period.code == "1M"


@pytest.mark.parametrize("months", [3, 12, 36])
def test_standard_shapes_keep_their_appendix_j_rate(months: int) -> None:
    """For the shapes the market uses, the regulatory rate is Appendix J's own (monthly unit)."""
    form = level(months, Fraction(1, 100))
    assert check_disclosure(form).unit_period.code == "1M"
    assert abs(rate(form) - Decimal("0.12")) < Decimal("0.00001")
