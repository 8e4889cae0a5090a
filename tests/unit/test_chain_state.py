"""The registry and ledger state rebuilt from events answers exactly what the contracts' views
answer, at every time, after a history of rotations, suspensions, whitelist and policy changes,
batches, per-record anchors, retirements — and keeps answering so when it follows the chain."""

from __future__ import annotations

from eth_account import Account

from ledger.chain.state import load_chain_state
from ledger.enums import InstitutionType, ParticipantStatus
from ledger.hashing import keccak256
from ledger.records import Retirement
from ledger.signing import LocalSigner
from ledger.testing import Actors, make_loan, promise, setup_actors
from ledger.verify import LiveChainFacts, SnapshotChainFacts


def _history(actors: Actors) -> tuple[list[int], list[int]]:
    """A busy registry; returns the interesting times (every change, and around it), and those
    of the whitelist changes."""
    c, chain, reg = actors.client, actors.chain, actors.regulator_account
    fns = chain.registry.functions
    times = [c.latest_timestamp()]
    bank_a, p1 = actors.ids["Bank A"], actors.ids["Platform 1"]
    new_key = LocalSigner.generate()
    c.transact(reg, fns.rotateSigner(actors.ids["Platform 2"], new_key.address))
    actors.signers[actors.ids["Platform 2"]] = new_key
    times.append(c.latest_timestamp())
    c.transact(reg, fns.setParticipantStatus(p1, int(ParticipantStatus.SUSPENDED)))
    times.append(c.latest_timestamp())
    c.advance_time(50)
    c.transact(reg, fns.setParticipantStatus(p1, int(ParticipantStatus.ACTIVE)))
    times.append(c.latest_timestamp())
    now = c.latest_timestamp()
    c.transact(reg, fns.setRateCap(int(InstitutionType.SMALL_LOAN), 1200, now + 1_000))
    c.transact(reg, fns.setRateCap(int(InstitutionType.BANK), 2000, 0))
    c.transact(reg, fns.setLpr(310, now + 500))
    # a cap linked to the LPR (4 x), before and after the LPR change, then fixed again
    c.transact(reg, fns.setRateCapAsLprMultiple(int(InstitutionType.TRUST), 40_000, now + 400))
    c.transact(reg, fns.setRateCap(int(InstitutionType.TRUST), 1500, now + 800))
    times += [now + 399, now + 400, now + 401, now + 799, now + 800]
    c.transact(reg, fns.setCoFundingFloor(3500))
    c.transact(reg, fns.setLegacyCutoff(now - 86_400))
    times += [now + 499, now + 500, now + 999, now + 1_000, now + 1_001]
    funder = Account.from_key(actors.signers[bank_a].private_key)
    c.transact(funder, fns.removeFromWhitelist(p1, now + 300))
    c.transact(funder, fns.addToWhitelist(actors.ids["Platform 3"], now + 200))
    listed = [now + 199, now + 200, now + 201, now + 299, now + 300, now + 301, 0]
    times += listed
    c.transact(reg, fns.rotateEd25519Key(actors.ids["Gateway"], keccak256(b"new gateway key")))
    times.append(c.latest_timestamp())
    return sorted({t + d for t in times for d in (-1, 0, 1)} | {0}), listed


def _compare(
    actors: Actors, snapshot: SnapshotChainFacts, times: list[int], whitelist_times: list[int]
) -> int:
    live = LiveChainFacts(actors.client, actors.deployment.registry, actors.deployment.ledger)
    fns = actors.chain.registry.functions
    call = actors.client.call
    compared = 0
    ids = range(0, len(actors.ids) + 3)  # every participant, and some that do not exist
    funders = [actors.ids[n] for n in ("Bank A", "Bank B", "CF Co")]
    for t in sorted(t for t in set(times) | set(whitelist_times) if t >= 0):
        for pid in ids:
            assert snapshot.epoch_at(pid, t) == live.epoch_at(pid, t), (pid, t)
            compared += 1
        for institution in InstitutionType:
            assert snapshot.rate_cap_at(int(institution), t) == live.rate_cap_at(
                int(institution), t
            ), (institution, t)
        if t not in whitelist_times:  # isWhitelisted is many calls: at the changes only
            continue
        for funder in funders:
            for partner in ids:
                assert snapshot.state.is_whitelisted(funder, partner, t) == bool(
                    call(fns.isWhitelisted(funder, partner, t))
                ), (funder, partner, t)
        assert snapshot.legacy_cutoff_at(t) == live.legacy_cutoff_at(t)
        assert snapshot.state.lpr_at(t) == int(call(fns.lprAt(t)))
        assert snapshot.state.co_funding_floor_at(t) == int(call(fns.coFundingFloorAt(t)))
    for pid in ids:
        assert snapshot.role_of(pid) == live.role_of(pid)
    assert snapshot.is_regulator(actors.regulator.address)
    assert not snapshot.is_regulator(actors.gateway_account.address)
    return compared


def test_registry_state_equals_the_contract_views_at_every_time() -> None:
    actors = setup_actors()
    times, listed = _history(actors)
    d = actors.deployment
    snapshot = SnapshotChainFacts.load(actors.client, d.registry, d.ledger, d.block_number)
    assert _compare(actors, snapshot, times, listed) > 200


def test_ledger_state_and_following_the_chain() -> None:
    actors = setup_actors()
    d = actors.deployment
    snapshot = SnapshotChainFacts.load(actors.client, d.registry, d.ledger, d.block_number)
    loans = [promise(actors, make_loan(actors, "Bank A", "Platform 1")[0]) for _ in range(3)]
    batch = actors.chain.anchor_batch(actors.gateway_account, loans)
    single = make_loan(actors, "Bank A", "Platform 1")[0]
    tx = actors.chain.anchor_loan(actors.gateway_account, single)
    assert snapshot.batch(batch.root) is None  # not yet followed
    times, listed = _history(actors)  # registry changes after the snapshot, too
    retire = Retirement(
        record_id="0x" + single.record_id.hex(),
        reason_code=3,
        retired_at=actors.client.latest_timestamp(),
    )
    actors.chain.retire(actors.gateway_account, single.record, retire, [actors.regulator])
    assert snapshot.follow(actors.client) > 0
    live = LiveChainFacts(actors.client, d.registry, d.ledger)
    assert snapshot.batch(batch.root) is not None
    found, expected = snapshot.batch(batch.root), live.batch(batch.root)
    assert found is not None and expected is not None
    assert (found.gateway_id, found.anchored_at, found.block_number, found.record_count) == (
        expected.gateway_id,
        expected.anchored_at,
        expected.block_number,
        expected.record_count,
    )
    assert snapshot.anchor_tx(tx.transaction_hash) == live.anchor_tx(tx.transaction_hash)
    assert snapshot.retirement(single.record_id) == live.retirement(single.record_id)
    assert snapshot.retirement(loans[0].record_id) is None is live.retirement(loans[0].record_id)
    anchored = snapshot.per_record_anchor(single.record_id)
    assert anchored is not None and anchored.anchored_at == tx.block_time
    assert snapshot.block_time(tx.block_number) == live.block_time(tx.block_number)
    _compare(actors, snapshot, times, listed)
    # the same state read from scratch
    reg, led = load_chain_state(actors.client, d.registry, d.ledger, d.block_number)
    assert reg.participants == snapshot.state.participants and led.batches.keys() == {batch.root}
