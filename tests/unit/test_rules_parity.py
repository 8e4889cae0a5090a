"""`ledger.rules.check_rules` over the registry rebuilt from events (what the gateway admits
with) gives the contract's `checkLoan` verdict.

Each case breaks one rule (or none); both checkers run on the same record, signatures and time,
and must agree on the outcome and its stable code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account

from ledger.anchoring import SignedLoan
from ledger.chain.state import RegistryState, load_chain_state
from ledger.eip712 import loan_record_id
from ledger.enums import InstitutionType, ParticipantStatus, Role
from ledger.errors import LedgerError
from ledger.records import LoanRecord
from ledger.rules import check_rules
from ledger.signing import LocalSigner
from ledger.testing import Actors, make_loan, setup_actors


@pytest.fixture(scope="module")
def actors() -> Actors:
    a = setup_actors()
    # A suspended platform, whitelisted by Bank A before its suspension.
    signer = LocalSigner.generate()
    pid = a.chain.register_participant(
        a.regulator_account, Role.PLATFORM, signer.address, "Suspended P"
    )
    a.ids["Suspended P"], a.signers[pid] = pid, signer
    a.chain.whitelist(Account.from_key(a.signers[a.ids["Bank A"]].private_key), pid)
    a.client.transact(
        a.regulator_account,
        a.chain.registry.functions.setParticipantStatus(pid, int(ParticipantStatus.SUSPENDED)),
    )
    # A small-loan company, as a co-funder of another institution type.
    signer = LocalSigner.generate()
    sid = a.chain.register_participant(
        a.regulator_account, Role.FUNDER, signer.address, "SL Co", InstitutionType.SMALL_LOAN
    )
    a.ids["SL Co"], a.signers[sid] = sid, signer
    sl_account = Account.from_key(signer.private_key)
    a.client.fund(sl_account.address, 10**20)
    a.chain.whitelist(sl_account, a.ids["Platform 1"])  # a co-funder lists the platform too (R1)
    return a


def resign(
    actors: Actors, loan: SignedLoan, record: LoanRecord, signers: dict[int, Any] | None = None
) -> SignedLoan:
    keys = signers or actors.signers
    record_id = loan_record_id(record, actors.chain.domain)
    stranger = LocalSigner.generate()  # for parties that do not exist
    signatures = tuple(keys.get(p, stranger).sign_digest(record_id) for p in record.signer_ids())
    return replace(loan, record=record, record_id=record_id, signatures=signatures)


def _contract_code(actors: Actors, loan: SignedLoan, at: int) -> str:
    try:
        actors.chain.check_loan(loan, at)
    except LedgerError as exc:
        return exc.code
    return "OK"


def _view(actors: Actors) -> RegistryState:
    """The registry as the gateway sees it: rebuilt from the contracts' events."""
    d = actors.deployment
    return load_chain_state(actors.client, d.registry, d.ledger, d.block_number)[0]


def _python_code(actors: Actors, loan: SignedLoan, at: int) -> str:
    try:
        check_rules(
            loan.record,
            _view(actors),
            at,
            record_id=loan.record_id,
            signatures=loan.signatures,
        )
    except LedgerError as exc:
        return exc.code
    return "OK"


Case = Callable[[Actors], SignedLoan]


def _base(a: Actors, **kw: Any) -> SignedLoan:
    return make_loan(a, "Bank A", "Platform 1", **kw)[0]


def _edit(a: Actors, loan: SignedLoan, **changes: Any) -> SignedLoan:
    return resign(a, loan, loan.record.model_copy(update=changes))


CASES: dict[str, tuple[Case, str]] = {
    "compliant": (lambda a: _base(a), "OK"),
    "compliant with guarantor": (
        lambda a: _base(a, guarantor="Guarantor G", guarantee_fee_per_month=1_000),
        "OK",
    ),
    "zero principal": (lambda a: _edit(a, _base(a), principal=0), "PRINCIPAL_ZERO"),
    "unknown flags": (lambda a: _edit(a, _base(a), flags=2), "FLAGS_UNKNOWN"),
    "issued in the future": (
        lambda a: _edit(a, _base(a), issued_at=_base(a).record.issued_at + 3600),
        "ISSUED_IN_FUTURE",
    ),
    "issued within the clock skew": (
        lambda a: _edit(a, _base(a), issued_at=_base(a).record.issued_at + 600),
        "OK",
    ),
    "over cap": (lambda a: _edit(a, _base(a), apr_bps=2401), "RATE_CAP_EXCEEDED"),
    "at cap": (lambda a: _edit(a, _base(a), apr_bps=2400), "OK"),
    "platform not whitelisted": (
        lambda a: make_loan(a, "Bank B", "Platform 3")[0],
        "PLATFORM_NOT_WHITELISTED",
    ),
    "guarantor not whitelisted": (
        lambda a: make_loan(a, "Bank B", "Platform 2", guarantor="Guarantor G")[0],
        "GUARANTOR_NOT_WHITELISTED",
    ),
    "suspended platform": (
        lambda a: make_loan(a, "Bank A", "Suspended P")[0],
        "PARTICIPANT_NOT_ACTIVE",
    ),
    "unknown funder": (lambda a: _edit(a, _base(a), funder_id=999), "PARTICIPANT_NOT_ACTIVE"),
    "funder is a platform": (
        lambda a: _edit(a, _base(a), funder_id=a.ids["Platform 2"]),
        "PARTICIPANT_WRONG_ROLE",
    ),
    "missing funder signature": (
        lambda a: replace(_base(a), signatures=_base(a).signatures[:1]),
        "SIGNATURE_MISSING",
    ),
    "forged funder signature": (
        lambda a: (
            lambda loan: replace(
                loan,
                signatures=(loan.signatures[0], LocalSigner.generate().sign_digest(loan.record_id)),
            )
        )(_base(a)),
        "SIGNATURE_INVALID",
    ),
    "malformed signature": (
        lambda a: (lambda loan: replace(loan, signatures=(loan.signatures[0], b"\x01" * 64)))(
            _base(a)
        ),
        "SIGNATURE_INVALID",
    ),
    "share without co-funder": (
        lambda a: _edit(a, _base(a), co_funder_share_bps=3000),
        "CO_FUNDING_INVALID",
    ),
    "co-funder is the funder": (
        lambda a: _edit(a, _base(a), co_funder_id=a.ids["Bank A"], co_funder_share_bps=3000),
        "CO_FUNDING_INVALID",
    ),
    "co-funding below floor": (
        lambda a: _edit(a, _base(a), co_funder_id=a.ids["Bank B"], co_funder_share_bps=2999),
        "CO_FUNDING_SHARE_BELOW_FLOOR",
    ),
    "co-funder does not list the platform": (
        lambda a: _edit(a, _base(a), co_funder_id=a.ids["CF Co"], co_funder_share_bps=3000),
        "PLATFORM_NOT_WHITELISTED",
    ),
    "co-funding at floor": (
        lambda a: _edit(a, _base(a), co_funder_id=a.ids["SL Co"], co_funder_share_bps=3000),
        "OK",
    ),
    "legacy before cutoff": (
        lambda a: _base(a, legacy=True, monthly_rate=__import__("fractions").Fraction(3, 100)),
        "OK",
    ),
    "legacy through an unlisted platform": (
        lambda a: make_loan(a, "Bank A", "Platform 3", legacy=True)[0],
        "PLATFORM_NOT_WHITELISTED",
    ),
    "legacy after cutoff": (lambda a: _edit(a, _base(a), flags=1), "LEGACY_AFTER_CUTOFF"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_python_rules_agree_with_the_contract(actors: Actors, name: str) -> None:
    build, expected = CASES[name]
    loan = build(actors)
    at = actors.client.latest_timestamp()
    assert _contract_code(actors, loan, at) == expected
    assert _python_code(actors, loan, at) == expected


def test_prechecks_without_signatures_skip_only_the_signature_rules(actors: Actors) -> None:
    loan = make_loan(actors, "Bank A", "Platform 1")[0]
    view = _view(actors)
    check_rules(loan.record, view, actors.client.latest_timestamp())  # no signatures: passes
    over = loan.record.model_copy(update={"apr_bps": 9999})
    with pytest.raises(LedgerError) as err:
        check_rules(over, view, actors.client.latest_timestamp())
    assert err.value.code == "RATE_CAP_EXCEEDED"
