"""Rate policy (R3, R6, R8): caps per institution type, LPR, co-funding floor, legacy cutoff."""

from __future__ import annotations

import pytest
from eth_account import Account

from ledger.chain.deploy import GenesisPolicy, deploy_contracts
from ledger.enums import InstitutionType, Role
from ledger.signing import LocalSigner

from .conftest import GAS_MONEY, Env

SMALL_LOAN = int(InstitutionType.SMALL_LOAN)
BANK = int(InstitutionType.BANK)


def cap_at(backend: Env, institution: int, at: int) -> list[object]:
    result: list[object] = backend.call(backend.registry.functions.rateCapAt(institution, at))
    return result


# ------------------------------------------------------------------------------ rate caps


def test_set_rate_cap_now(backend: Env) -> None:
    reg = backend.registry
    genesis_from = backend.call(reg.functions.rateCapHistory(SMALL_LOAN))[0][1]
    backend.advance(10)
    receipt = backend.transact(backend.regulator, reg.functions.setRateCap(SMALL_LOAN, 1500, 0))
    at = backend.block_time(receipt)
    assert backend.event(receipt, reg, "RateCapSet") == {
        "institutionType": SMALL_LOAN,
        "capBps": 1500,
        "effectiveFrom": at,
    }
    assert backend.call(reg.functions.rateCapHistory(SMALL_LOAN)) == [
        (2400, genesis_from, 0),
        (1500, at, 0),
    ]
    assert cap_at(backend, SMALL_LOAN, at - 1) == [True, 2400]
    assert cap_at(backend, SMALL_LOAN, at) == [True, 1500]
    # before the first entry, the first entry applies (stock loans are still held to a cap)
    assert cap_at(backend, SMALL_LOAN, 0) == [True, 2400]
    # other types are untouched
    assert cap_at(backend, BANK, at) == [True, 2400]


def test_future_cap_applies_by_issue_time(backend: Env) -> None:
    """The small-loan cap falls to 4 x LPR (1200 bps) from a future date."""
    reg, small = backend.registry, backend.small_loan
    lpr = backend.call(reg.functions.lprAt(backend.now()))
    start = backend.now() + 86_400
    backend.transact(backend.regulator, reg.functions.setRateCap(SMALL_LOAN, 4 * lpr, start))
    assert cap_at(backend, SMALL_LOAN, start - 1) == [True, 2400]
    assert cap_at(backend, SMALL_LOAN, start) == [True, 1200]
    backend.advance(86_400)
    # a loan issued before the change may still cost up to 24%, even anchored after it ...
    backend.anchor(backend.make_loan(funder=small, apr_bps=2400, issued_at=start - 1))
    # ... one issued from the change on only 12%
    with backend.reverts("EvidenceLedgerRateCapExceeded", 1201, 1200):
        backend.anchor(backend.make_loan(funder=small, apr_bps=1201, issued_at=start))
    backend.anchor(backend.make_loan(funder=small, apr_bps=1200))
    with backend.reverts("EvidenceLedgerRateCapExceeded", 2400, 1200):
        backend.anchor(backend.make_loan(funder=small, apr_bps=2400))


def test_same_effective_time_latest_entry_wins(backend: Env) -> None:
    reg = backend.registry
    start = backend.now() + 100
    backend.transact(backend.regulator, reg.functions.setRateCap(BANK, 2000, start))
    backend.transact(backend.regulator, reg.functions.setRateCap(BANK, 1900, start))
    assert cap_at(backend, BANK, start) == [True, 1900]
    assert len(backend.call(reg.functions.rateCapHistory(BANK))) == 3


@pytest.mark.parametrize("bps", [0, 1_000_001, 2**32 - 1])
def test_rate_cap_invalid_rate(backend: Env, bps: int) -> None:
    with backend.reverts("RatePolicyInvalidRate", bps):
        backend.transact(backend.regulator, backend.registry.functions.setRateCap(BANK, bps, 0))


def test_rate_cap_limits_accepted(backend: Env) -> None:
    backend.transact(backend.regulator, backend.registry.functions.setRateCap(BANK, 1_000_000, 0))
    backend.transact(backend.regulator, backend.registry.functions.setRateCap(BANK, 1, 0))
    assert cap_at(backend, BANK, backend.now()) == [True, 1]


def test_rate_cap_invalid_institution_type(backend: Env) -> None:
    with backend.reverts("RatePolicyInvalidInstitutionType"):
        backend.transact(backend.regulator, backend.registry.functions.setRateCap(0, 2400, 0))


def test_rate_cap_no_backdating(backend: Env) -> None:
    past = backend.now() - 1
    with backend.reverts("RatePolicyBackdatedChange", past, backend.sim_time()):
        backend.transact(backend.regulator, backend.registry.functions.setRateCap(BANK, 2000, past))


def test_rate_cap_out_of_order(backend: Env) -> None:
    reg = backend.registry
    later = backend.now() + 1000
    backend.transact(backend.regulator, reg.functions.setRateCap(BANK, 2000, later))
    with backend.reverts("RatePolicyOutOfOrder", later - 1, later):
        backend.transact(backend.regulator, reg.functions.setRateCap(BANK, 1900, later - 1))
    with backend.reverts("RatePolicyOutOfOrder", backend.sim_time(), later):
        backend.transact(backend.regulator, reg.functions.setRateCap(BANK, 1900, 0))
    # the order is per institution type
    backend.transact(backend.regulator, reg.functions.setRateCap(SMALL_LOAN, 1900, 0))


def test_no_rate_cap_for_the_funder_type(backend: Env) -> None:
    """A deployment whose genesis policy caps banks only: a trust's loans cannot be checked."""
    admin_signer = LocalSigner.generate()
    admin = Account.from_key(admin_signer.private_key)
    backend.client.fund(admin.address, GAS_MONEY)
    policy = GenesisPolicy(rate_caps_bps={InstitutionType.BANK: 2400})
    deployment = deploy_contracts(backend.client, admin, policy)
    reg = backend.client.contract("ParticipantRegistry", deployment.registry)
    ledger = backend.client.contract("EvidenceLedger", deployment.ledger)
    assert backend.call(reg.functions.rateCapAt(int(InstitutionType.TRUST), backend.now())) == [
        False,
        0,
    ]

    trust, platform = LocalSigner.generate(), LocalSigner.generate()
    backend.client.fund(trust.address, GAS_MONEY)
    for role, institution, signer in (
        (Role.FUNDER, InstitutionType.TRUST, trust),
        (Role.PLATFORM, 0, platform),
    ):
        backend.transact(
            admin,
            reg.functions.registerParticipant(
                int(role), int(institution), signer.address, b"\0" * 32, "x"
            ),
        )
    backend.transact(Account.from_key(trust.private_key), reg.functions.addToWhitelist(3, 0))
    from ledger.eip712 import Domain, loan_record_id

    record = backend.make_loan(funder_id=2, platform_id=3)
    record_id = loan_record_id(record, Domain(backend.client.chain_id, deployment.ledger))
    signatures = [platform.sign_digest(record_id), trust.sign_digest(record_id)]
    with backend.reverts("EvidenceLedgerNoRateCap", int(InstitutionType.TRUST)):
        backend.transact(
            backend.outsider, ledger.functions.anchorLoan(record.as_tuple(), signatures)
        )
    # once the regulator sets one, the same record anchors
    backend.transact(admin, reg.functions.setRateCap(int(InstitutionType.TRUST), 2400, 0))
    backend.transact(backend.outsider, ledger.functions.anchorLoan(record.as_tuple(), signatures))


# ------------------------------------------------------------------------------ LPR


def test_set_lpr_history(backend: Env) -> None:
    reg = backend.registry
    genesis = backend.now()
    assert backend.call(reg.functions.lprAt(genesis)) == 300
    assert backend.call(reg.functions.lprAt(0)) == 0  # before the first entry: none recorded
    backend.advance(10)
    receipt = backend.transact(backend.regulator, reg.functions.setLpr(310, 0))
    at = backend.block_time(receipt)
    assert backend.event(receipt, reg, "LprSet") == {"lprBps": 310, "effectiveFrom": at}
    later = at + 30 * 86_400
    receipt = backend.transact(backend.regulator, reg.functions.setLpr(290, later))
    assert backend.event(receipt, reg, "LprSet") == {"lprBps": 290, "effectiveFrom": later}
    assert backend.call(reg.functions.lprAt(at - 1)) == 300
    assert backend.call(reg.functions.lprAt(at)) == 310
    assert backend.call(reg.functions.lprAt(later - 1)) == 310
    assert backend.call(reg.functions.lprAt(later)) == 290


def test_set_lpr_errors(backend: Env) -> None:
    reg = backend.registry
    for bps in (0, 1_000_001):
        with backend.reverts("RatePolicyInvalidRate", bps):
            backend.transact(backend.regulator, reg.functions.setLpr(bps, 0))
    past = backend.now() - 5
    with backend.reverts("RatePolicyBackdatedChange", past, backend.sim_time()):
        backend.transact(backend.regulator, reg.functions.setLpr(300, past))
    later = backend.now() + 100
    backend.transact(backend.regulator, reg.functions.setLpr(300, later))
    with backend.reverts("RatePolicyOutOfOrder", later - 1, later):
        backend.transact(backend.regulator, reg.functions.setLpr(300, later - 1))


# ------------------------------------------------------------------------------ co-funding floor


def test_set_co_funding_floor(backend: Env) -> None:
    reg = backend.registry
    before = backend.now()
    receipt = backend.transact(backend.regulator, reg.functions.setCoFundingFloor(4000))
    at = backend.block_time(receipt)
    assert backend.event(receipt, reg, "CoFundingFloorSet") == {
        "floorBps": 4000,
        "effectiveFrom": at,
    }
    assert backend.call(reg.functions.coFundingFloorBps()) == 4000
    # history: loans issued before the change keep the floor of their issue time
    assert backend.call(reg.functions.coFundingFloorAt(at)) == 4000
    assert backend.call(reg.functions.coFundingFloorAt(before - 1)) == 3000
    assert backend.call(reg.functions.coFundingFloorAt(0)) == 3000
    backend.transact(backend.regulator, reg.functions.setCoFundingFloor(9999))
    backend.transact(backend.regulator, reg.functions.setCoFundingFloor(1))
    assert backend.call(reg.functions.coFundingFloorBps()) == 1
    assert backend.call(reg.functions.coFundingFloorAt(before - 1)) == 3000


@pytest.mark.parametrize("bps", [0, 10_000, 65_535])
def test_co_funding_floor_invalid(backend: Env, bps: int) -> None:
    with backend.reverts("RatePolicyInvalidRate", bps):
        backend.transact(backend.regulator, backend.registry.functions.setCoFundingFloor(bps))


def test_raised_floor_applies_to_new_loans(backend: Env) -> None:
    backend.transact(backend.regulator, backend.registry.functions.setCoFundingFloor(4000))
    record = backend.make_loan(co_funder=backend.small_loan, co_funder_share_bps=3500)
    with backend.reverts("EvidenceLedgerCoFundingShareBelowFloor", 3500, 4000):
        backend.anchor(record)


# ------------------------------------------------------------------------------ legacy cutoff


def test_set_legacy_cutoff(backend: Env) -> None:
    reg = backend.registry
    genesis_cutoff = backend.call(reg.functions.legacyCutoff())
    cutoff = backend.now() + 86_400
    receipt = backend.transact(backend.regulator, reg.functions.setLegacyCutoff(cutoff))
    at = backend.block_time(receipt)
    assert backend.event(receipt, reg, "LegacyCutoffSet") == {"cutoff": cutoff, "effectiveFrom": at}
    assert backend.call(reg.functions.legacyCutoff()) == cutoff
    # history: a batch anchored before the change is judged by the cutoff then in force
    assert backend.call(reg.functions.legacyCutoffAt(at)) == cutoff
    assert backend.call(reg.functions.legacyCutoffAt(at - 1)) == genesis_cutoff
    # no validation of the value itself: any time, even 0, is accepted
    backend.transact(backend.regulator, reg.functions.setLegacyCutoff(0))
    assert backend.call(reg.functions.legacyCutoff()) == 0
    assert backend.call(reg.functions.legacyCutoffAt(at)) == cutoff


def test_policy_setters_require_regulator_role(backend: Env) -> None:
    from .conftest import REGULATOR_ROLE

    reg = backend.registry
    for fn in (
        reg.functions.setRateCap(BANK, 2000, 0),
        reg.functions.setLpr(300, 0),
        reg.functions.setCoFundingFloor(3000),
        reg.functions.setLegacyCutoff(0),
    ):
        with backend.reverts(
            "AccessControlUnauthorizedAccount", backend.bank.address, REGULATOR_ROLE
        ):
            backend.transact(backend.bank, fn)


def test_floor_of_the_issue_time_applies(backend: Env) -> None:
    """Loans are held to the co-funding floor in force when they were issued (R6)."""
    issued = backend.now()
    record = backend.make_loan(
        co_funder=backend.small_loan, co_funder_share_bps=3000, issued_at=issued
    )
    backend.advance(10)
    backend.transact(backend.regulator, backend.registry.functions.setCoFundingFloor(4000))
    backend.anchor(record)  # issued under the 30% floor
    later = backend.make_loan(co_funder=backend.small_loan, co_funder_share_bps=3000)
    with backend.reverts("EvidenceLedgerCoFundingShareBelowFloor", 3000, 4000):
        backend.anchor(later)


def test_cutoff_of_the_anchoring_time_applies(backend: Env) -> None:
    """A legacy loan is judged by the cutoff in force when it is anchored (R8)."""
    cutoff = backend.now() + 86_400
    backend.transact(backend.regulator, backend.registry.functions.setLegacyCutoff(cutoff))
    record = backend.make_loan(flags=1, apr_bps=3600)
    earlier = record.issued_at - 1
    backend.transact(backend.regulator, backend.registry.functions.setLegacyCutoff(earlier))
    with backend.reverts("EvidenceLedgerLegacyAfterCutoff", record.issued_at, earlier):
        backend.anchor(record)
    assert backend.check(record, at=backend.now() - 1) == backend.record_id(record)


@pytest.mark.parametrize("floor", [0, 10_000])
def test_constructor_rejects_invalid_floor(backend: Env, floor: int) -> None:
    admin = Account.from_key(LocalSigner.generate().private_key)
    backend.client.fund(admin.address, GAS_MONEY)
    with backend.reverts("RatePolicyInvalidRate", floor):
        deploy_contracts(backend.client, admin, GenesisPolicy(co_funding_floor_bps=floor))


def test_constructor_genesis_entries_govern_all_earlier_times(backend: Env) -> None:
    reg = backend.registry
    assert backend.call(reg.functions.coFundingFloorAt(0)) == 3000
    assert backend.call(reg.functions.legacyCutoffAt(0)) == backend.policy.legacy_cutoff
    assert backend.call(reg.functions.legacyCutoffAt(2**64 - 1)) == backend.policy.legacy_cutoff


def test_a_cap_linked_to_the_lpr_follows_it(backend: Env) -> None:
    """Small-loan companies: 4 x LPR, defined once; every LPR change moves the cap."""
    reg = backend.registry.functions
    receipt = backend.transact(
        backend.regulator, reg.setRateCapAsLprMultiple(SMALL_LOAN, 40_000, 0)
    )
    at = backend.block_time(receipt)
    assert backend.event(receipt, backend.registry, "RateCapLinkedToLpr") == {
        "institutionType": SMALL_LOAN,
        "lprMultipleBps": 40_000,
        "effectiveFrom": at,
    }
    assert cap_at(backend, SMALL_LOAN, at) == [True, 1200]  # 4 x the genesis LPR of 3.00 %
    assert cap_at(backend, SMALL_LOAN, at - 1) == [True, 2400]  # the fixed cap before it
    later = backend.now() + 3600
    backend.transact(backend.regulator, reg.setLpr(305, later))
    assert cap_at(backend, SMALL_LOAN, later - 1) == [True, 1200]
    assert cap_at(backend, SMALL_LOAN, later) == [True, 1220]
    assert cap_at(backend, BANK, later) == [True, 2400]  # fixed caps do not move
    # the rules bind the linked cap
    with backend.reverts("EvidenceLedgerRateCapExceeded", 1300, 1200):
        backend.anchor(backend.make_loan(funder=backend.small_loan, apr_bps=1300))
    backend.anchor(backend.make_loan(funder=backend.small_loan, apr_bps=1200))
    with backend.reverts("RatePolicyInvalidRate", 0):
        backend.transact(backend.regulator, reg.setRateCapAsLprMultiple(SMALL_LOAN, 0, 0))
    with backend.reverts("RatePolicyInvalidInstitutionType"):
        backend.transact(backend.regulator, reg.setRateCapAsLprMultiple(0, 40_000, 0))
