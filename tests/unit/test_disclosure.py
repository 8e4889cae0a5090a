"""The fee disclosure form: consistent with its own numbers, labels never change the rate, R5."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import computed_apr_bps, consistent_form, disclosure_form_kwargs
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ledger.canonical import canonical_digest, canonical_json
from ledger.disclosure import (
    APR_METHOD,
    BorrowerConfirmation,
    DisclosurePolicy,
    FeeCategory,
    FeeCharge,
    FeeDisclosure,
    FeeItem,
    check_disclosure,
)
from ledger.errors import DisclosureMismatchError, InputError, RuleViolation

CONFIRMED_AT = datetime(2026, 3, 14, 8, 0, tzinfo=UTC)


def rebuilt(form: FeeDisclosure, **changes: Any) -> FeeDisclosure:
    """The form with `changes`, validated again (model_copy would skip validation)."""
    return FeeDisclosure.model_validate({**form.model_dump(), **changes})


def test_consistent_form_passes(fee_form: FeeDisclosure) -> None:
    computed = check_disclosure(fee_form)
    assert computed.nominal_bps == fee_form.stated_apr_bps
    assert 0 < fee_form.stated_apr_bps <= 2400  # within the genesis cap the chain fixtures use
    assert fee_form.apr_method == APR_METHOD
    # every fee counts: the same loan without its fees costs less
    assert check_disclosure(consistent_form(fees=())).nominal < computed.nominal


def test_stated_apr_within_tolerance_passes_beyond_fails(fee_form: FeeDisclosure) -> None:
    computed = check_disclosure(fee_form)
    tolerance = int(computed.tolerance_bps)  # 12 (regular) or 25 (irregular): floor of 12.5 / 25
    exact = computed.nominal * 10_000
    for stated in (fee_form.stated_apr_bps - 1, fee_form.stated_apr_bps + 1):
        check_disclosure(rebuilt(fee_form, stated_apr_bps=stated))
    for stated in (
        int(exact) - tolerance - 2,
        int(exact) + tolerance + 2,
        0,
        fee_form.stated_apr_bps // 2,
    ):
        with pytest.raises(DisclosureMismatchError) as info:
            check_disclosure(rebuilt(fee_form, stated_apr_bps=stated))
        assert info.value.code == "DISCLOSURE_RATE_MISMATCH"
        assert isinstance(info.value, RuleViolation)


def test_understating_by_hiding_a_fee_is_caught(fee_form: FeeDisclosure) -> None:
    # The form states the rate of the loan without its guarantee fee, but lists the fee.
    rate_without_guarantee = computed_apr_bps(
        {**disclosure_form_kwargs(), "fees": fee_form.fees[:1]}
    )
    assert rate_without_guarantee < fee_form.stated_apr_bps - 25
    with pytest.raises(DisclosureMismatchError):
        check_disclosure(rebuilt(fee_form, stated_apr_bps=rate_without_guarantee))


@pytest.mark.parametrize("category", list(FeeCategory))
def test_relabelling_a_fee_does_not_change_the_rate(
    fee_form: FeeDisclosure, category: FeeCategory
) -> None:
    base = check_disclosure(fee_form)
    fees = [fee.model_dump() for fee in fee_form.fees]
    for fee in fees:
        fee["category"] = category
        fee["name"] = f"{category.value} 费用 (renamed)"
        fee["collector"] = "someone else"
        fee["rate_bps"] = None
    relabelled = rebuilt(fee_form, fees=fees)
    assert relabelled.digest() != fee_form.digest()  # the form changed...
    assert check_disclosure(relabelled).nominal == base.nominal  # ...the rate did not


@pytest.mark.parametrize(
    ("index", "timing"),
    [(0, "separate"), (0, "with_instalment"), (1, "separate")],
    ids=["upfront-as-separate", "upfront-as-with-instalment", "with-instalment-as-separate"],
)
def test_how_a_fee_is_said_to_be_collected_does_not_change_the_rate(
    fee_form: FeeDisclosure, index: int, timing: str
) -> None:
    # A fee charged at disbursement is deducted whatever its label; a fee on an instalment date
    # is paid on that date whether "with the instalment" or "separately".
    fees = [fee.model_dump() for fee in fee_form.fees]
    fees[index]["timing"] = timing
    relabelled = rebuilt(fee_form, fees=fees)
    assert check_disclosure(relabelled).nominal == check_disclosure(fee_form).nominal


def _split(fee: FeeItem, parts: int) -> list[FeeItem]:
    """`fee` as `parts` items with the same charge dates, amounts split (same totals per date)."""
    items = []
    for k in range(parts):
        charges = []
        for charge in fee.charges:
            share = charge.amount // parts + (charge.amount % parts if k == 0 else 0)
            if share:
                charges.append(FeeCharge(on=charge.on, amount=share))
        items.append(
            fee.model_copy(update={"name": f"{fee.name} part {k + 1}", "charges": tuple(charges)})
        )
    return items


@pytest.mark.parametrize("parts", [2, 3])
def test_splitting_a_fee_does_not_change_the_rate(fee_form: FeeDisclosure, parts: int) -> None:
    base = check_disclosure(fee_form)
    for index in range(len(fee_form.fees)):
        fees = [
            *fee_form.fees[:index],
            *_split(fee_form.fees[index], parts),
            *fee_form.fees[index + 1 :],
        ]
        split = rebuilt(fee_form, fees=[f.model_dump() for f in fees])
        assert len(split.fees) == len(fee_form.fees) + parts - 1
        assert check_disclosure(split).nominal == base.nominal


def test_splitting_charges_within_one_item_does_not_change_the_rate(
    fee_form: FeeDisclosure,
) -> None:
    base = check_disclosure(fee_form)
    upfront = fee_form.fees[0]
    (charge,) = upfront.charges
    halves = (FeeCharge(on=charge.on, amount=charge.amount - 1), FeeCharge(on=charge.on, amount=1))
    fees = [upfront.model_copy(update={"charges": halves}), *fee_form.fees[1:]]
    assert (
        check_disclosure(rebuilt(fee_form, fees=[f.model_dump() for f in fees])).nominal
        == base.nominal
    )


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_split_or_relabel_keeps_the_rate(fee_form: FeeDisclosure, data: st.DataObject) -> None:
    base = check_disclosure(fee_form).nominal
    fees: list[FeeItem] = []
    for fee in fee_form.fees:
        category = data.draw(st.sampled_from(list(FeeCategory)))
        first, second = [], []
        for charge in fee.charges:
            cut = data.draw(st.integers(0, charge.amount))
            if cut:
                first.append(FeeCharge(on=charge.on, amount=cut))
            if charge.amount - cut:
                second.append(FeeCharge(on=charge.on, amount=charge.amount - cut))
        for n, charges in enumerate((first, second)):
            if charges:
                fees.append(
                    fee.model_copy(
                        update={"category": category, "name": f"x{n}", "charges": tuple(charges)}
                    )
                )
    fees = data.draw(st.permutations(fees))
    assert check_disclosure(rebuilt(fee_form, fees=[f.model_dump() for f in fees])).nominal == base


def test_short_reading_time_is_a_rule_violation(fee_form: FeeDisclosure) -> None:
    hurried = rebuilt(
        fee_form,
        confirmation=BorrowerConfirmation(
            method="online", confirmed_at=CONFIRMED_AT, reading_seconds=3
        ),
    )
    with pytest.raises(RuleViolation) as info:
        check_disclosure(hurried)
    assert info.value.code == "DISCLOSURE_READING_TIME_SHORT"
    assert not isinstance(info.value, DisclosureMismatchError)
    # the threshold is policy
    check_disclosure(hurried, DisclosurePolicy(min_reading_seconds=3))
    with pytest.raises(RuleViolation):
        check_disclosure(fee_form, DisclosurePolicy(min_reading_seconds=31))


def test_confirmation_after_signing_is_a_rule_violation(fee_form: FeeDisclosure) -> None:
    confirmed = fee_form.confirmation.confirmed_at
    check_disclosure(fee_form, signed_at=confirmed + timedelta(minutes=5))
    check_disclosure(fee_form, signed_at=confirmed)  # at the same instant: not after
    with pytest.raises(RuleViolation) as info:
        check_disclosure(fee_form, signed_at=confirmed - timedelta(seconds=1))
    assert info.value.code == "DISCLOSURE_CONFIRMED_AFTER_SIGNING"
    # times are compared as instants: 16:00 in Beijing (UTC+8) is 08:00 UTC
    beijing = timezone(timedelta(hours=8))
    check_disclosure(fee_form, signed_at=datetime(2026, 3, 14, 16, 0, tzinfo=beijing))
    with pytest.raises(RuleViolation):
        check_disclosure(fee_form, signed_at=datetime(2026, 3, 14, 15, 59, 59, tzinfo=beijing))


def test_naive_signing_time_is_an_input_error(fee_form: FeeDisclosure) -> None:
    # (a TypeError from comparing naive and aware datetimes before this was fixed)
    with pytest.raises(InputError):
        check_disclosure(fee_form, signed_at=datetime(2026, 3, 15, 9, 0))


def test_naive_confirmation_time_is_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        BorrowerConfirmation(
            method="online", confirmed_at=datetime(2026, 3, 14, 8, 0), reading_seconds=30
        )


def test_schedule_principal_must_sum_to_the_principal(fee_form: FeeDisclosure) -> None:
    for principal in (fee_form.principal + 1, fee_form.principal - 100_000):
        with pytest.raises(ValidationError, match="add up to the principal"):
            rebuilt(fee_form, principal=principal)
    schedule = [i.model_dump() for i in fee_form.schedule]
    schedule[-1]["principal"] += 1
    with pytest.raises(ValidationError, match="add up to the principal"):
        rebuilt(fee_form, schedule=schedule)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: list(reversed(s)),  # out of order
        lambda s: [*s[:-1], {**s[-1], "due": s[-2]["due"]}],  # duplicate date
    ],
    ids=["unordered", "duplicate-date"],
)
def test_schedule_dates_must_increase(fee_form: FeeDisclosure, change: Any) -> None:
    schedule = change([i.model_dump() for i in fee_form.schedule])
    with pytest.raises(ValidationError, match="increasing date order"):
        rebuilt(fee_form, schedule=schedule)


def test_first_instalment_must_follow_disbursement(fee_form: FeeDisclosure) -> None:
    with pytest.raises(ValidationError, match="after disbursement"):
        rebuilt(fee_form, disbursed_on=fee_form.schedule[0].due)


@pytest.mark.parametrize(
    "changes",
    [
        {"no_other_charges": False},
        {"stated_apr_bps": 18.5},
        {"principal": 0},
        {"currency": "USD"},
        {"unknown_field": 1},
        {"apr_method": "flat-rate"},
    ],
    ids=["no-statement", "float-apr", "zero-principal", "currency", "extra-field", "method"],
)
def test_malformed_forms_are_refused(fee_form: FeeDisclosure, changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        rebuilt(fee_form, **changes)


def test_digest_is_stable_across_key_order(fee_form: FeeDisclosure) -> None:
    data = fee_form.as_json()

    def reverse_keys(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reverse_keys(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse_keys(v) for v in value]
        return value

    shuffled = reverse_keys(data)
    assert list(shuffled) != list(data)
    assert canonical_digest(shuffled) == fee_form.digest()
    reparsed = FeeDisclosure.model_validate_json(json.dumps(shuffled, indent=3))
    assert reparsed == fee_form
    assert reparsed.digest() == fee_form.digest() == canonical_digest(data)
    assert reparsed.canonical() == fee_form.canonical() == canonical_json(data)
    assert consistent_form().digest() == fee_form.digest()  # deterministic construction


def test_digest_changes_with_any_content(fee_form: FeeDisclosure) -> None:
    changed = [
        rebuilt(fee_form, lender="Bank B"),
        rebuilt(fee_form, no_other_charges_statement="另收其他费用"),
        rebuilt(fee_form, stated_apr_bps=fee_form.stated_apr_bps + 1),
        rebuilt(fee_form, default_costs=[]),
        rebuilt(
            fee_form,
            confirmation=BorrowerConfirmation(
                method="signature",
                confirmed_at=fee_form.confirmation.confirmed_at,
                reading_seconds=30,
            ),
        ),
    ]
    digests = {form.digest() for form in changed}
    assert fee_form.digest() not in digests
    assert len(digests) == len(changed)
