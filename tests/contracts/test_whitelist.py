"""Funders' whitelists (R1): effective times, history, no backdating, who may change them."""

from __future__ import annotations

import pytest

from ledger.enums import InstitutionType, Role

from .conftest import Env


def listed(backend: Env, funder_id: int, partner_id: int, at: int) -> bool:
    result: bool = backend.call(backend.registry.functions.isWhitelisted(funder_id, partner_id, at))
    return result


def history(backend: Env, funder_id: int, partner_id: int) -> list[tuple[int, int]]:
    return [
        tuple(p)
        for p in backend.call(backend.registry.functions.whitelistHistory(funder_id, partner_id))
    ]


def test_base_whitelists(backend: Env) -> None:
    bank, small, platform, guarantor = (
        backend.bank,
        backend.small_loan,
        backend.platform,
        backend.guarantor,
    )
    now = backend.now()
    assert listed(backend, bank.id, platform.id, now)
    assert listed(backend, bank.id, guarantor.id, now)
    assert listed(backend, small.id, platform.id, now)
    assert not listed(backend, small.id, guarantor.id, now)
    assert not listed(backend, bank.id, backend.platform2.id, now)
    assert history(backend, bank.id, backend.platform2.id) == []
    ((start, end),) = history(backend, bank.id, platform.id)
    assert end == 0 and start <= now
    assert not listed(backend, bank.id, platform.id, start - 1)
    # whitelists are per funder: the platform's entry does not list it for anybody else
    assert not listed(backend, platform.id, bank.id, now)


def test_add_now(backend: Env) -> None:
    bank, platform2 = backend.bank, backend.platform2
    receipt = backend.whitelist(bank, platform2)
    at = backend.block_time(receipt)
    assert backend.event(receipt, backend.registry, "WhitelistEntryAdded") == {
        "funderId": bank.id,
        "partnerId": platform2.id,
        "validFrom": at,
    }
    assert history(backend, bank.id, platform2.id) == [(at, 0)]
    assert not listed(backend, bank.id, platform2.id, at - 1)
    assert listed(backend, bank.id, platform2.id, at)
    assert listed(backend, bank.id, platform2.id, 2**64 - 1)


def test_future_dated_entry(backend: Env) -> None:
    bank, platform2 = backend.bank, backend.platform2
    start = backend.now() + 1000
    receipt = backend.whitelist(bank, platform2, start)
    assert backend.event(receipt, backend.registry, "WhitelistEntryAdded")["validFrom"] == start
    now = backend.now()
    assert not listed(backend, bank.id, platform2.id, now)
    assert not listed(backend, bank.id, platform2.id, start - 1)
    assert listed(backend, bank.id, platform2.id, start)
    # a loan issued before the entry takes effect breaks R1, one issued from then on keeps it
    early = backend.make_loan(platform=platform2)
    with backend.reverts("EvidenceLedgerPlatformNotWhitelisted", bank.id, platform2.id):
        backend.anchor(early)
    backend.advance(1000)
    backend.anchor(backend.make_loan(platform=platform2, issued_at=start))
    # already scheduled: cannot be added again
    with backend.reverts("WhitelistAlreadyListed", bank.id, platform2.id):
        backend.whitelist(bank, platform2, start + 10)


def test_remove_now(backend: Env) -> None:
    bank, platform = backend.bank, backend.platform
    ((start, _),) = history(backend, bank.id, platform.id)
    backend.advance(50)
    receipt = backend.unwhitelist(bank, platform)
    until = backend.block_time(receipt)
    assert backend.event(receipt, backend.registry, "WhitelistEntryRemoved") == {
        "funderId": bank.id,
        "partnerId": platform.id,
        "validUntil": until,
    }
    assert history(backend, bank.id, platform.id) == [(start, until)]
    assert listed(backend, bank.id, platform.id, until - 1)
    assert not listed(backend, bank.id, platform.id, until)
    # loans issued before the removal still keep R1; loans issued after do not
    backend.anchor(backend.make_loan(issued_at=until - 1))
    with backend.reverts("EvidenceLedgerPlatformNotWhitelisted", bank.id, platform.id):
        backend.anchor(backend.make_loan(issued_at=until))


def test_future_removal(backend: Env) -> None:
    bank, guarantor = backend.bank, backend.guarantor
    until = backend.now() + 500
    receipt = backend.unwhitelist(bank, guarantor, until)
    assert backend.event(receipt, backend.registry, "WhitelistEntryRemoved")["validUntil"] == until
    assert listed(backend, bank.id, guarantor.id, backend.now())
    assert listed(backend, bank.id, guarantor.id, until - 1)
    assert not listed(backend, bank.id, guarantor.id, until)
    # still listed now, but a scheduled removal cannot be removed (or brought forward) again
    with backend.reverts("WhitelistNotListed", bank.id, guarantor.id):
        backend.unwhitelist(bank, guarantor)
    # nor can the partner be re-added before the removal takes effect...
    with backend.reverts("WhitelistAlreadyListed", bank.id, guarantor.id):
        backend.whitelist(bank, guarantor, until - 1)
    # ...but from the end of the period on it can, without waiting
    backend.whitelist(bank, guarantor, until)
    assert listed(backend, bank.id, guarantor.id, until)
    assert len(history(backend, bank.id, guarantor.id)) == 2


def test_re_adding_keeps_history(backend: Env) -> None:
    small, platform = backend.small_loan, backend.platform
    ((first_start, _),) = history(backend, small.id, platform.id)
    backend.advance(100)
    first_end = backend.block_time(backend.unwhitelist(small, platform))
    backend.advance(100)
    second_start = backend.block_time(backend.whitelist(small, platform))
    backend.advance(100)
    second_end = backend.now() + 100
    backend.unwhitelist(small, platform, second_end)
    third_start = second_end + 1000
    backend.whitelist(small, platform, third_start)
    assert history(backend, small.id, platform.id) == [
        (first_start, first_end),
        (second_start, second_end),
        (third_start, 0),
    ]
    expectations = {
        first_start - 1: False,
        first_start: True,
        first_end - 1: True,
        first_end: False,
        second_start - 1: False,
        second_start: True,
        second_end - 1: True,
        second_end: False,
        third_start - 1: False,
        third_start: True,
        third_start + 10**6: True,
    }
    assert {t: listed(backend, small.id, platform.id, t) for t in expectations} == expectations


def test_add_when_already_listed(backend: Env) -> None:
    with backend.reverts("WhitelistAlreadyListed", backend.bank.id, backend.platform.id):
        backend.whitelist(backend.bank, backend.platform)


def test_no_backdating(backend: Env) -> None:
    bank = backend.bank
    past = backend.now() - 1
    with backend.reverts("WhitelistBackdatedChange", past, backend.sim_time()):
        backend.whitelist(bank, backend.platform2, past)
    with backend.reverts("WhitelistBackdatedChange", 1, backend.sim_time()):
        backend.whitelist(bank, backend.platform2, 1)
    with backend.reverts("WhitelistBackdatedChange", past, backend.sim_time()):
        backend.unwhitelist(bank, backend.platform, past)


def test_removal_before_start(backend: Env) -> None:
    bank, platform2 = backend.bank, backend.platform2
    start = backend.now() + 300
    backend.whitelist(bank, platform2, start)
    with backend.reverts("WhitelistRemovalBeforeStart", backend.sim_time(), start):
        backend.unwhitelist(bank, platform2)
    with backend.reverts("WhitelistRemovalBeforeStart", start - 1, start):
        backend.unwhitelist(bank, platform2, start - 1)
    # ending the period when it starts cancels it: an empty period
    backend.unwhitelist(bank, platform2, start)
    assert history(backend, bank.id, platform2.id) == [(start, start)]
    assert not listed(backend, bank.id, platform2.id, start)


def test_remove_not_listed(backend: Env) -> None:
    bank = backend.bank
    with backend.reverts("WhitelistNotListed", bank.id, backend.platform2.id):
        backend.unwhitelist(bank, backend.platform2)
    with backend.reverts("WhitelistNotListed", bank.id, 99):
        backend.transact(bank, backend.registry.functions.removeFromWhitelist(99, 0))
    backend.unwhitelist(bank, backend.platform)
    with backend.reverts("WhitelistNotListed", bank.id, backend.platform.id):
        backend.unwhitelist(bank, backend.platform)


@pytest.mark.parametrize("target", ["small_loan", "gateway", "auditor", "regulator", "bank", 0, 99])
def test_only_platforms_and_credit_enhancers_can_be_listed(backend: Env, target: str | int) -> None:
    partner_id = target if isinstance(target, int) else backend.parties[target].id
    with backend.reverts("WhitelistInvalidPartner", partner_id):
        backend.transact(backend.bank, backend.registry.functions.addToWhitelist(partner_id, 0))


def test_credit_enhancer_can_be_listed(backend: Env) -> None:
    receipt = backend.whitelist(backend.small_loan, backend.guarantor)
    assert (
        backend.event(receipt, backend.registry, "WhitelistEntryAdded")["partnerId"]
        == backend.guarantor.id
    )
    enhancer = backend.register(Role.CREDIT_ENHANCER)
    backend.whitelist(backend.small_loan, enhancer)
    assert listed(backend, backend.small_loan.id, enhancer.id, backend.now())


@pytest.mark.parametrize(
    "caller", ["regulator", "platform", "guarantor", "gateway", "auditor", "outsider"]
)
def test_only_funders_manage_whitelists(backend: Env, caller: str) -> None:
    sender = backend.outsider if caller == "outsider" else backend.parties[caller]
    with backend.reverts("WhitelistCallerNotActiveFunder", sender.address):
        backend.transact(sender, backend.registry.functions.addToWhitelist(backend.platform2.id, 0))
    with backend.reverts("WhitelistCallerNotActiveFunder", sender.address):
        backend.transact(
            sender, backend.registry.functions.removeFromWhitelist(backend.platform.id, 0)
        )


def test_suspended_funder_cannot_manage_whitelist(backend: Env) -> None:
    bank = backend.bank
    backend.suspend(bank)
    with backend.reverts("WhitelistCallerNotActiveFunder", bank.address):
        backend.whitelist(bank, backend.platform2)
    with backend.reverts("WhitelistCallerNotActiveFunder", bank.address):
        backend.unwhitelist(bank, backend.platform)
    backend.reactivate(bank)
    backend.whitelist(bank, backend.platform2)


def test_whitelist_survives_funder_key_rotation(backend: Env) -> None:
    bank = backend.bank
    old_account = bank.account
    backend.rotate_signer(bank)
    with backend.reverts("WhitelistCallerNotActiveFunder", old_account.address):
        backend.transact(
            old_account, backend.registry.functions.addToWhitelist(backend.platform2.id, 0)
        )
    # the list belongs to the funder id, not to the key
    assert listed(backend, bank.id, backend.platform.id, backend.now())
    receipt = backend.whitelist(bank, backend.platform2)
    assert backend.event(receipt, backend.registry, "WhitelistEntryAdded")["funderId"] == bank.id


def test_new_funder_manages_its_own_list(backend: Env) -> None:
    trust = backend.register(Role.FUNDER, InstitutionType.TRUST)
    backend.whitelist(trust, backend.platform2)
    now = backend.now()
    assert listed(backend, trust.id, backend.platform2.id, now)
    assert not listed(backend, backend.bank.id, backend.platform2.id, now)
    backend.anchor(backend.make_loan(funder=trust, platform=backend.platform2))
