"""The fee disclosure form (综合融资成本明示表, R5) and its consistency with its own numbers.

From 2026-08-01 a lender shows the borrower, before signing, every fee item (name, how it is
charged, rate, who collects it), the annualized cost under normal repayment, the default costs
and a statement that nothing else will be charged; the borrower signs or confirms online after a
forced reading time. The form is hashed in RFC 8785 canonical form (its digest goes into the
loan record) and its stated annualized cost must equal the one computed from its own schedule
and fees (Appendix J tolerance), so a form cannot understate the cost.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ledger.apr import (
    METHOD,
    AprResult,
    CashFlow,
    Fee,
    FeeTiming,
    check_disclosed_apr,
)
from ledger.apr.engine import compute_folded
from ledger.apr.fees import FeeItemRows, Folded, fold_rows
from ledger.apr.model import MAX_AMOUNT_MINOR, MAX_FLOWS, check_amount
from ledger.apr.periods import infer_unit_period_of, money_weighted_unit_period, payment_gaps
from ledger.bounds import CleanText, Date, ParticipantId, UtcDatetime
from ledger.canonical import canonical_model_json
from ledger.errors import AprError, InputError, RuleViolation

__all__ = [
    "APR_METHOD",
    "FORMAT_V1",
    "FORMAT_V2",
    "BorrowerConfirmation",
    "DefaultCost",
    "DisclosurePolicy",
    "FeeCategory",
    "FeeCharge",
    "FeeDisclosure",
    "FeeItem",
    "Instalment",
    "check_disclosure",
    "disclosure_cash_flows",
    "regulatory_apr",
]

#: The rate every disclosure and record states: nominal annual IRR (periodic rate x periods per
#: year), actuarial method of Regulation Z Appendix J, every fee folded in (PBoC 〔2021〕第3号).
APR_METHOD = METHOD

#: hashed whole: the record's digest is SHA-256 of the canonical form
FORMAT_V1 = "fee-disclosure/v1"
#: committed field by field: the digest is a Merkle root of salted leaves (ledger.disclosure_proofs)
FORMAT_V2 = "fee-disclosure/v2"

Money = Annotated[int, Field(ge=0, lt=2**128, description="minor units (fen)")]
PositiveMoney = Annotated[int, Field(gt=0, lt=2**128, description="minor units (fen)")]
Bps = Annotated[int, Field(ge=0, lt=2**32, description="basis points")]


class _Form(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeeCategory(StrEnum):
    """What a fee is called. The label never changes how it counts: every fee is a cost (R2)."""

    INTEREST = "interest"
    GUARANTEE = "guarantee"
    CREDIT_ENHANCEMENT = "credit_enhancement"
    MEMBERSHIP = "membership"
    INSURANCE = "insurance"
    CONSULTING = "consulting"
    SERVICE = "service"
    OTHER = "other"


class FeeCharge(_Form):
    """One dated payment of a fee."""

    on: Date
    amount: PositiveMoney


class FeeItem(_Form):
    """One line of the form: a fee other than the interest in the repayment schedule."""

    name: CleanText = Field(min_length=1, max_length=200)
    category: FeeCategory
    timing: FeeTiming = Field(description="upfront (deducted), with_instalment, or separate")
    rate_bps: Bps | None = Field(default=None, description="the rate the fee is quoted at, if any")
    collector: CleanText = Field(min_length=1, max_length=200, description="who collects it")
    collector_participant_id: ParticipantId | None = None
    charges: tuple[FeeCharge, ...] = Field(min_length=1)


class Instalment(_Form):
    """One scheduled repayment under normal repayment."""

    due: Date
    principal: Money
    interest: Money

    @property
    def amount(self) -> int:
        return self.principal + self.interest


class DefaultCost(_Form):
    """A cost that arises only on default (penalty interest, late fee...): disclosed, not in the APR."""

    name: CleanText = Field(min_length=1, max_length=200)
    basis: CleanText = Field(min_length=1, max_length=500, description="how it is computed")
    rate_bps: Bps | None = None
    amount: Money | None = None


class BorrowerConfirmation(_Form):
    """The borrower's confirmation of the form, before signing the agreement."""

    method: Literal["signature", "online"]
    confirmed_at: UtcDatetime
    reading_seconds: int = Field(ge=0, description="time the form was shown before confirming")


class FeeDisclosure(_Form):
    """综合融资成本明示表: the form as shown to and confirmed by the borrower."""

    format: Literal["fee-disclosure/v1", "fee-disclosure/v2"] = Field(
        default="fee-disclosure/v1",
        description="v1: the digest is SHA-256 of the canonical form; v2: the Merkle root of its"
        " salted fields, so each can be disclosed alone (the gateway's default)",
    )
    lender: CleanText = Field(min_length=1, max_length=200)
    currency: Literal["CNY"] = "CNY"
    principal: PositiveMoney
    disbursed_on: Date
    schedule: tuple[Instalment, ...] = Field(min_length=1)
    fees: tuple[FeeItem, ...] = ()
    stated_apr_bps: Bps = Field(description="annualized comprehensive cost under normal repayment")
    apr_method: Literal["irr-actuarial-regz-appj"] = Field(
        default="irr-actuarial-regz-appj",
        description="stated_apr_bps is the nominal rate of this method",
    )
    default_costs: tuple[DefaultCost, ...] = ()
    no_other_charges: Literal[True] = Field(
        description="the statement that nothing beyond this form will be charged"
    )
    no_other_charges_statement: CleanText = Field(min_length=1, max_length=1000)
    confirmation: BorrowerConfirmation

    @model_validator(mode="after")
    def _schedule_repays_principal(self) -> FeeDisclosure:
        if sum(i.principal for i in self.schedule) != self.principal:
            raise ValueError("the schedule's principal parts must add up to the principal")
        dues = [i.due for i in self.schedule]
        if dues != sorted(dues) or len(set(dues)) != len(dues):
            raise ValueError("instalments must be in strictly increasing date order")
        if dues[0] <= self.disbursed_on:
            raise ValueError("the first instalment must fall after disbursement")
        return self

    def canonical(self) -> bytes:
        """RFC 8785 bytes of the form (what is hashed)."""
        return canonical_model_json(self)

    def digest(self, seed: bytes | None = None) -> bytes:
        """The record's `disclosure_digest`: SHA-256 of the canonical form (v1), or the Merkle
        root of its salted leaves under `seed` (v2, `ledger.disclosure_proofs.form_digest`)."""
        if self.format == FORMAT_V1:
            return hashlib.sha256(canonical_model_json(self)).digest()
        from ledger.disclosure_proofs import form_digest

        return form_digest(self, seed)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class DisclosurePolicy(_Form):
    """Configurable thresholds of R5 (the forced reading time is not fixed by a confirmed text)."""

    min_reading_seconds: int = Field(default=10, ge=0)
    max_confirmation_age_seconds: int = Field(
        default=30 * 86_400,
        ge=0,
        description="how long before the loan is signed the borrower may have confirmed the form",
    )


def disclosure_cash_flows(form: FeeDisclosure) -> tuple[list[CashFlow], list[Fee]]:
    """The repayments and the fees of a form, as the APR engine's inputs."""
    repayments = [CashFlow(i.due, i.amount) for i in form.schedule if i.amount > 0]
    fees = [
        Fee(name=f"{item.name}#{n}", amount=charge.amount, charged_on=charge.on, timing=item.timing)
        for item in form.fees
        for n, charge in enumerate(item.charges)
    ]
    return repayments, fees


_DEFAULT_POLICY = DisclosurePolicy()


def _fee_items(form: FeeDisclosure) -> list[FeeItemRows]:
    """The form's fee items as `fold_rows` takes them (the `Fee` items of
    `disclosure_cash_flows`, whose checks the form's own validation already guarantees)."""
    return [(item.timing, item.name, True, item.charges) for item in form.fees]


def regulatory_apr(folded: Folded) -> AprResult:
    """The rate a form is held to (R2, R4): the Appendix J actuarial rate of every payment the
    borrower makes (instalments and fees alike, merged per date), under whichever of two
    unit-periods gives the higher rate: the one (b)(4) infers from all those payments (counted),
    and the one at which most of the money is paid (`money_weighted_unit_period`).

    So the label of a payment never moves the rate (interest called a fee is the same cash on
    the same day), and tiny payments on odd dates cannot shorten the unit-period to a day and
    lower it. (Appendix J alone infers the unit from the schedule and counts periods: both were
    loopholes; docs/decisions.md.)"""
    start = folded.disbursed_on
    dates, amounts = folded.payment_dates, folded.payment_amounts
    if folded.gaps is not None:  # the payments fall on the schedule's dates: its unit is theirs
        gaps, counted = folded.gaps, folded.unit
    else:
        gaps = payment_gaps(dates, folded.calendar)
        counted = infer_unit_period_of(start, (start,), dates, gaps)
    weighted = money_weighted_unit_period(start, dates, amounts, gaps)
    first = compute_folded(folded._replace(unit=counted, gaps=gaps))
    if weighted == counted:
        return first
    second = compute_folded(folded._replace(unit=weighted, gaps=gaps))
    return second if second.nominal > first.nominal else first


def computed_apr(form: FeeDisclosure) -> AprResult:
    """The rate a form's own numbers give (`regulatory_apr` of its schedule and fees), whatever
    it states; `InputError` / `AprError` for cash flows that make no sense."""
    schedule = form.schedule
    amounts = [instalment.principal + instalment.interest for instalment in schedule]
    dates = [instalment.due for instalment in schedule]
    if 0 in amounts:  # an instalment of nothing is no payment
        dates = [on for on, amount in zip(dates, amounts, strict=True) if amount > 0]
        amounts = [amount for amount in amounts if amount > 0]
    if amounts and max(amounts) > MAX_AMOUNT_MINOR:
        for amount in amounts:
            check_amount(amount)
    if not dates:
        raise InputError("the schedule has no payment")
    check_amount(form.principal)
    if 1 + len(dates) > MAX_FLOWS:
        raise AprError(f"more than {MAX_FLOWS} cash flows", code="APR_INVALID_INPUT")
    folded = fold_rows(form.principal, form.disbursed_on, dates, amounts, _fee_items(form), None)
    return regulatory_apr(folded)


def check_disclosure(
    form: FeeDisclosure,
    policy: DisclosurePolicy | None = None,
    *,
    signed_at: datetime | None = None,
) -> AprResult:
    """Checks a form against R5 and returns the APR computed from its own numbers.

    Raises `DisclosureMismatchError` if the stated APR is off by more than the Appendix J
    tolerance, `RuleViolation` if the reading time is short or the confirmation came after
    signing or too long before it, `InputError` for a form whose cash flows make no sense.

    The APR is `computed_apr(form)`, the regulatory rate (`regulatory_apr`): the same as
    ``compute_apr(fold_fees(form.principal, form.disbursed_on, *disclosure_cash_flows(form)))``
    whenever the payments' unit-periods are the schedule's, as for the market's usual shapes.
    """
    policy = policy or _DEFAULT_POLICY
    computed = computed_apr(form)
    check_disclosed_apr(form.stated_apr_bps, computed)
    if form.confirmation.reading_seconds < policy.min_reading_seconds:
        raise RuleViolation(
            f"the borrower confirmed after {form.confirmation.reading_seconds} s of reading;"
            f" the policy requires {policy.min_reading_seconds} s",
            code="DISCLOSURE_READING_TIME_SHORT",
        )
    if signed_at is not None and signed_at.tzinfo is None:
        raise InputError("signed_at must carry a time zone (UTC recommended)")
    if signed_at is not None and form.confirmation.confirmed_at > signed_at:
        raise RuleViolation(
            "the fee disclosure was confirmed after the loan was signed; it must come before",
            code="DISCLOSURE_CONFIRMED_AFTER_SIGNING",
        )
    if signed_at is not None and (
        (signed_at - form.confirmation.confirmed_at).total_seconds()
        > policy.max_confirmation_age_seconds
    ):
        raise RuleViolation(
            f"the fee disclosure was confirmed on {form.confirmation.confirmed_at.isoformat()},"
            f" more than {policy.max_confirmation_age_seconds // 86_400} days before the loan was"
            " signed: it is not this loan's disclosure",
            code="DISCLOSURE_STALE",
        )
    return computed
