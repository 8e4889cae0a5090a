"""anchorLoan / checkLoan: every rule of a loan record, with the exact custom error of each."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.eip712 import loan_record_id, retirement_digest, signatures_hash, typed_data
from ledger.enums import InstitutionType, RecordStatus, Role
from ledger.merkle import leaf_hash
from ledger.records import LoanRecord, Retirement
from ledger.signing import LocalSigner, recover_address
from tests.strategies import loan_records

from .conftest import LEAF_TYPES, ZERO32, ZERO_ADDRESS, Env

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
FUNDER, PLATFORM, CREDIT_ENHANCER = int(Role.FUNDER), int(Role.PLATFORM), int(Role.CREDIT_ENHANCER)


def high_s(signature: bytes) -> bytes:
    """The malleable twin of a signature (s -> n - s, v flipped): same signer, rejected by OZ."""
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])


# ------------------------------------------------------------------------------ happy paths


def test_anchor_loan(backend: Env) -> None:
    record = backend.make_loan()
    record_id = backend.record_id(record)
    signatures = backend.sign(record)
    assert backend.call(backend.ledger.functions.loanRecordId(record.as_tuple())) == record_id
    assert backend.check(record, signatures) == record_id
    fn = backend.ledger.functions.anchorLoan(record.as_tuple(), signatures)
    assert backend.call(fn, backend.outsider) == record_id  # the return value
    receipt = backend.transact(backend.outsider, fn)
    at = backend.block_time(receipt)
    assert backend.event(receipt, backend.ledger, "LoanAnchored") == {
        "recordId": record_id,
        "funderId": backend.bank.id,
        "platformId": backend.platform.id,
        "guarantorId": 0,
        "coFunderId": 0,
        "principal": record.principal,
        "aprBps": 1800,
        "issuedAt": record.issued_at,
        "flags": 0,
    }
    assert backend.call(backend.ledger.functions.recordState(record_id)) == (
        int(RecordStatus.ANCHORED),
        at,
        0,
        0,
        ZERO32,
    )
    assert backend.call(backend.ledger.functions.violationOf(record_id)) == b"\0" * 4


def test_anchor_with_guarantor_and_co_funder(backend: Env) -> None:
    bank, small, guarantor = backend.bank, backend.small_loan, backend.guarantor
    # the co-funder lists the platform and the guarantor too (R1)
    with backend.reverts("EvidenceLedgerGuarantorNotWhitelisted", small.id, guarantor.id):
        backend.anchor(
            backend.make_loan(guarantor=guarantor, co_funder=small, co_funder_share_bps=3000)
        )
    backend.whitelist(small, guarantor)
    backend.whitelist(bank, backend.platform2)  # listed by the lead funder only
    with backend.reverts("EvidenceLedgerPlatformNotWhitelisted", small.id, backend.platform2.id):
        backend.anchor(
            backend.make_loan(platform=backend.platform2, co_funder=small, co_funder_share_bps=3000)
        )
    record = backend.make_loan(
        guarantor=guarantor, co_funder=small, co_funder_share_bps=3000, principal=2**128 - 1
    )
    assert record.signer_ids() == [backend.platform.id, bank.id, guarantor.id, small.id]
    receipt = backend.anchor(record)
    event = backend.event(receipt, backend.ledger, "LoanAnchored")
    assert (event["guarantorId"], event["coFunderId"], event["principal"]) == (
        guarantor.id,
        small.id,
        2**128 - 1,
    )


def test_anchor_with_guarantor_only(backend: Env) -> None:
    record = backend.make_loan(guarantor=backend.guarantor)
    assert len(backend.sign(record)) == 3
    backend.anchor(record)


def test_anchor_co_funded_without_guarantor(backend: Env) -> None:
    # the co-funder's signature comes third when there is no guarantor
    record = backend.make_loan(co_funder=backend.small_loan, co_funder_share_bps=5000)
    backend.anchor(record)


def test_anchor_by_a_participant_or_outsider(backend: Env) -> None:
    for sender in (backend.platform, backend.regulator, backend.outsider, backend.gateway):
        backend.anchor(backend.make_loan(), sender=sender)


def test_wallet_signatures_are_accepted(backend: Env) -> None:
    """Signatures made by eth-account over the EIP-712 JSON are the ones the contract wants."""
    record = backend.make_loan(guarantor=backend.guarantor)
    message = encode_typed_data(full_message=typed_data(record, backend.domain))
    signatures = [
        bytes(Account.sign_message(message, backend.party(pid).signer.private_key).signature)
        for pid in record.signer_ids()
    ]
    assert signatures == backend.sign(record)
    backend.anchor(record, signatures)


def test_rate_exactly_at_cap(backend: Env) -> None:
    backend.anchor(backend.make_loan(apr_bps=2400))
    backend.anchor(backend.make_loan(apr_bps=0))


# ------------------------------------------------------------------------------ required rule errors


def test_over_cap(backend: Env) -> None:
    with backend.reverts("EvidenceLedgerRateCapExceeded", 2401, 2400):
        backend.anchor(backend.make_loan(apr_bps=2401))
    with backend.reverts("EvidenceLedgerRateCapExceeded", 2**32 - 1, 2400):
        backend.anchor(backend.make_loan(apr_bps=2**32 - 1))


def test_platform_not_whitelisted(backend: Env) -> None:
    with backend.reverts(
        "EvidenceLedgerPlatformNotWhitelisted", backend.bank.id, backend.platform2.id
    ):
        backend.anchor(backend.make_loan(platform=backend.platform2))


def test_guarantor_not_whitelisted(backend: Env) -> None:
    small, guarantor = backend.small_loan, backend.guarantor
    with backend.reverts("EvidenceLedgerGuarantorNotWhitelisted", small.id, guarantor.id):
        backend.anchor(backend.make_loan(funder=small, guarantor=guarantor))


def test_missing_funder_signature(backend: Env) -> None:
    record = backend.make_loan()
    with backend.reverts("EvidenceLedgerSignatureCountMismatch", 2, 1):
        backend.anchor(record, backend.sign(record, [backend.platform]))


@pytest.mark.parametrize(
    ("extra", "signatures", "expected"),
    [
        ({}, 0, 2),
        ({}, 3, 2),
        ({"guarantor": "guarantor"}, 2, 3),
        ({"co_funder": "small_loan", "co_funder_share_bps": 3000}, 2, 3),
        ({"guarantor": "guarantor", "co_funder": "small_loan", "co_funder_share_bps": 3000}, 3, 4),
        ({"guarantor": "guarantor", "co_funder": "small_loan", "co_funder_share_bps": 3000}, 5, 4),
    ],
)
def test_signature_count_mismatch(
    backend: Env, extra: dict[str, object], signatures: int, expected: int
) -> None:
    overrides = {k: backend.parties[v] if isinstance(v, str) else v for k, v in extra.items()}
    record = backend.make_loan(**overrides)
    given_signatures = (backend.sign(record) * 2)[:signatures]
    with backend.reverts("EvidenceLedgerSignatureCountMismatch", expected, signatures):
        backend.anchor(record, given_signatures)


def test_forged_funder_signature(backend: Env) -> None:
    record = backend.make_loan()
    forger = LocalSigner.generate()
    with backend.reverts("EvidenceLedgerInvalidSignature", backend.bank.id, forger.address):
        backend.anchor(record, backend.sign(record, [backend.platform, forger]))


def test_funder_signature_by_another_participant(backend: Env) -> None:
    record = backend.make_loan()
    with backend.reverts(
        "EvidenceLedgerInvalidSignature", backend.bank.id, backend.small_loan.address
    ):
        backend.anchor(record, backend.sign(record, [backend.platform, backend.small_loan]))


@pytest.mark.parametrize("who", ["platform", "bank", "guarantor", "small_loan"])
def test_suspended_participant(backend: Env, who: str) -> None:
    party = backend.parties[who]
    backend.whitelist(backend.small_loan, backend.guarantor)
    record = backend.make_loan(
        guarantor=backend.guarantor, co_funder=backend.small_loan, co_funder_share_bps=3000
    )
    backend.suspend(party)
    with backend.reverts("EvidenceLedgerParticipantNotActive", party.id):
        backend.anchor(record)
    backend.reactivate(party)
    backend.anchor(record)


def test_co_funding_share_below_floor(backend: Env) -> None:
    with backend.reverts("EvidenceLedgerCoFundingShareBelowFloor", 2999, 3000):
        backend.anchor(backend.make_loan(co_funder=backend.small_loan, co_funder_share_bps=2999))
    with backend.reverts("EvidenceLedgerCoFundingShareBelowFloor", 0, 3000):
        backend.anchor(backend.make_loan(co_funder=backend.small_loan, co_funder_share_bps=0))
    backend.anchor(backend.make_loan(co_funder=backend.small_loan, co_funder_share_bps=3000))
    backend.anchor(backend.make_loan(co_funder=backend.small_loan, co_funder_share_bps=9999))


def test_duplicate_record(backend: Env) -> None:
    record = backend.make_loan()
    backend.anchor(record)
    with backend.reverts("EvidenceLedgerDuplicateRecord", backend.record_id(record)):
        backend.anchor(record)
    # the duplicate check comes first: even broken signatures report the duplicate
    with backend.reverts("EvidenceLedgerDuplicateRecord", backend.record_id(record)):
        backend.anchor(record, [])


# ------------------------------------------------------------------------------ other rule errors


def test_zero_principal(backend: Env) -> None:
    with backend.reverts("EvidenceLedgerZeroPrincipal"):
        backend.anchor(backend.make_loan(principal=0))
    # it is the first rule checked
    with backend.reverts("EvidenceLedgerZeroPrincipal"):
        backend.anchor(backend.make_loan(principal=0, flags=2, apr_bps=9999), [])


@pytest.mark.parametrize("flags", [2, 3, 0x80, 0xFF])
def test_unknown_flags(backend: Env, flags: int) -> None:
    with backend.reverts("EvidenceLedgerUnknownFlags", flags):
        backend.anchor(backend.make_loan(flags=flags))


@pytest.mark.parametrize(
    ("slot", "who", "expected_role"),
    [
        ("platform", "bank", PLATFORM),
        ("platform", "guarantor", PLATFORM),
        ("funder", "platform", FUNDER),
        ("funder", "auditor", FUNDER),
        ("guarantor", "platform2", CREDIT_ENHANCER),
        ("guarantor", "gateway", CREDIT_ENHANCER),
        ("co_funder", "guarantor", FUNDER),
    ],
)
def test_wrong_role(backend: Env, slot: str, who: str, expected_role: int) -> None:
    party = backend.parties[who]
    overrides: dict[str, object] = {slot: party}
    if slot == "co_funder":
        overrides["co_funder_share_bps"] = 3000
    record = backend.make_loan(**overrides)
    with backend.reverts("EvidenceLedgerWrongRole", party.id, expected_role):
        backend.anchor(record)


@pytest.mark.parametrize("slot", ["platform", "funder", "guarantor", "co_funder"])
def test_unregistered_participant(backend: Env, slot: str) -> None:
    overrides: dict[str, object] = {f"{slot}_id": 99}
    if slot == "co_funder":
        overrides["co_funder_share_bps"] = 3000
    record = backend.make_loan(**overrides)
    signers = [backend.party(pid) if pid != 99 else backend.platform for pid in record.signer_ids()]
    with backend.reverts("EvidenceLedgerParticipantNotActive", 99):
        backend.anchor(record, backend.sign(record, signers))
    with backend.reverts("EvidenceLedgerParticipantNotActive", 99):
        backend.check(record, backend.sign(record, signers), at=2**64 - 1)


def test_signatures_in_wrong_order(backend: Env) -> None:
    record = backend.make_loan()
    with backend.reverts(
        "EvidenceLedgerInvalidSignature", backend.platform.id, backend.bank.address
    ):
        backend.anchor(record, backend.sign(record, [backend.bank, backend.platform]))


def test_signature_over_another_record(backend: Env) -> None:
    record, other = backend.make_loan(), backend.make_loan()
    signatures = backend.sign(other)
    recovered = recover_address(backend.record_id(record), signatures[0])
    with backend.reverts("EvidenceLedgerInvalidSignature", backend.platform.id, recovered):
        backend.anchor(record, signatures)


def test_signature_for_another_deployment(backend: Env) -> None:
    """The EIP-712 domain binds the record id to this chain and contract."""
    from ledger.eip712 import Domain

    record = backend.make_loan()
    elsewhere = Domain(backend.domain.chain_id + 1, backend.domain.verifying_contract)
    digest = loan_record_id(record, elsewhere)
    signatures = [
        backend.platform.signer.sign_digest(digest),
        backend.bank.signer.sign_digest(digest),
    ]
    recovered = recover_address(backend.record_id(record), signatures[0])
    with backend.reverts("EvidenceLedgerInvalidSignature", backend.platform.id, recovered):
        backend.anchor(record, signatures)


@pytest.mark.parametrize("kind", ["empty", "short", "long", "high_s", "bad_v", "zero"])
def test_malformed_signature(backend: Env, kind: str) -> None:
    record = backend.make_loan()
    good = backend.sign(record)
    funder_signature = {
        "empty": b"",
        "short": good[1][:64],
        "long": good[1] + b"\0",
        "high_s": high_s(good[1]),
        "bad_v": good[1][:64] + bytes([29]),
        "zero": b"\0" * 65,
    }[kind]
    with backend.reverts("EvidenceLedgerInvalidSignature", backend.bank.id, ZERO_ADDRESS):
        backend.anchor(record, [good[0], funder_signature])


@pytest.mark.parametrize(
    "overrides",
    [
        {"co_funder_share_bps": 3000},  # a share without a partner
        {"co_funder": "bank", "co_funder_share_bps": 5000},  # the funder co-funding with itself
        {"co_funder": "small_loan", "co_funder_share_bps": 10_000},  # the whole loan
        {"co_funder": "small_loan", "co_funder_share_bps": 65_535},
    ],
)
def test_invalid_co_funding(backend: Env, overrides: dict[str, object]) -> None:
    record = backend.make_loan(
        **{k: backend.parties[v] if isinstance(v, str) else v for k, v in overrides.items()}
    )
    signatures = backend.sign(record)
    with backend.reverts("EvidenceLedgerInvalidCoFunding"):
        backend.anchor(record, signatures)


def test_co_funder_must_sign(backend: Env) -> None:
    record = backend.make_loan(co_funder=backend.small_loan, co_funder_share_bps=4000)
    with backend.reverts(
        "EvidenceLedgerInvalidSignature", backend.small_loan.id, backend.guarantor.address
    ):
        backend.anchor(
            record, backend.sign(record, [backend.platform, backend.bank, backend.guarantor])
        )


def test_stricter_co_funder_cap_applies(backend: Env) -> None:
    backend.transact(
        backend.regulator,
        backend.registry.functions.setRateCap(int(InstitutionType.SMALL_LOAN), 1500, 0),
    )
    backend.anchor(backend.make_loan(apr_bps=2000))  # the bank alone may charge 20%
    with backend.reverts("EvidenceLedgerRateCapExceeded", 2000, 1500):
        backend.anchor(
            backend.make_loan(apr_bps=2000, co_funder=backend.small_loan, co_funder_share_bps=3000)
        )
    # and the other way round: the small-loan company funds, the bank co-funds
    with backend.reverts("EvidenceLedgerRateCapExceeded", 2000, 1500):
        backend.anchor(
            backend.make_loan(
                apr_bps=2000,
                funder=backend.small_loan,
                co_funder=backend.bank,
                co_funder_share_bps=3000,
            )
        )
    backend.anchor(
        backend.make_loan(apr_bps=1500, co_funder=backend.small_loan, co_funder_share_bps=3000)
    )


def test_rule_order_signatures_before_whitelist_before_cap(backend: Env) -> None:
    record = backend.make_loan(platform=backend.platform2, apr_bps=5000)
    forger = LocalSigner.generate()
    with backend.reverts("EvidenceLedgerInvalidSignature", backend.bank.id, forger.address):
        backend.anchor(record, backend.sign(record, [backend.platform2, forger]))
    with backend.reverts(
        "EvidenceLedgerPlatformNotWhitelisted", backend.bank.id, backend.platform2.id
    ):
        backend.anchor(record)


# ------------------------------------------------------------------------------ legacy loans (R8)


def test_legacy_over_cap_before_cutoff_anchors(backend: Env) -> None:
    cutoff = backend.now() + 60  # soon: loans may be dated at most 15 minutes ahead
    backend.transact(backend.regulator, backend.registry.functions.setLegacyCutoff(cutoff))
    record = backend.make_loan(apr_bps=3600, flags=1, issued_at=cutoff - 1)
    receipt = backend.anchor(record)
    assert backend.event(receipt, backend.ledger, "LoanAnchored")["flags"] == 1
    # without the flag the same loan breaks the cap
    with backend.reverts("EvidenceLedgerRateCapExceeded", 3600, 2400):
        backend.anchor(backend.make_loan(apr_bps=3600, issued_at=cutoff - 1))


def test_legacy_after_cutoff(backend: Env) -> None:
    cutoff = backend.now() + 60  # soon: loans may be dated at most 15 minutes ahead
    backend.transact(backend.regulator, backend.registry.functions.setLegacyCutoff(cutoff))
    with backend.reverts("EvidenceLedgerLegacyAfterCutoff", cutoff, cutoff):
        backend.anchor(backend.make_loan(apr_bps=3600, flags=1, issued_at=cutoff))
    # the flag is refused after the cutoff even for a loan within the cap
    with backend.reverts("EvidenceLedgerLegacyAfterCutoff", cutoff + 5, cutoff):
        backend.anchor(backend.make_loan(apr_bps=1000, flags=1, issued_at=cutoff + 5))


def test_legacy_after_genesis_cutoff(backend: Env) -> None:
    """The genesis cutoff (2025-10-01 Beijing) lies before any loan issued on this chain."""
    genesis_cutoff = backend.policy.legacy_cutoff
    record = backend.make_loan(apr_bps=3600, flags=1)
    assert record.issued_at >= genesis_cutoff
    with backend.reverts("EvidenceLedgerLegacyAfterCutoff", record.issued_at, genesis_cutoff):
        backend.anchor(record)


def test_stock_loan_issued_before_the_ledger_existed(backend: Env) -> None:
    """R8: stock loans predate the whitelists (R1) and today's caps (R3).

    Whitelists cannot be backdated, so a loan issued before the ledger existed could never show
    its partners listed at issue time: it is cleared through partners its funder lists when it is
    anchored, and a partner the funder never listed cannot bring in stock.
    """
    cutoff = backend.policy.legacy_cutoff
    issued = cutoff - 30 * 86_400
    record = backend.make_loan(apr_bps=3600, flags=1, issued_at=issued)
    assert not backend.call(
        backend.registry.functions.isWhitelisted(backend.bank.id, backend.platform.id, issued)
    )
    receipt = backend.anchor(record)
    event = backend.event(receipt, backend.ledger, "LoanAnchored")
    assert (event["flags"], event["issuedAt"], event["aprBps"]) == (1, issued, 3600)
    # never-listed partners cannot
    with backend.reverts(
        "EvidenceLedgerPlatformNotWhitelisted", backend.small_loan.id, backend.platform2.id
    ):
        backend.anchor(
            backend.make_loan(
                platform=backend.platform2, funder=backend.small_loan, flags=1, issued_at=issued
            )
        )
    with backend.reverts(
        "EvidenceLedgerGuarantorNotWhitelisted", backend.small_loan.id, backend.guarantor.id
    ):
        backend.anchor(
            backend.make_loan(
                guarantor=backend.guarantor, funder=backend.small_loan, flags=1, issued_at=issued
            )
        )
    # once listed, they can
    backend.whitelist(backend.small_loan, backend.platform2)
    backend.whitelist(backend.small_loan, backend.guarantor)
    backend.anchor(
        backend.make_loan(
            platform=backend.platform2,
            guarantor=backend.guarantor,
            funder=backend.small_loan,
            flags=1,
            issued_at=issued,
        )
    )
    # without the flag the same loan breaks R1 first
    with backend.reverts(
        "EvidenceLedgerPlatformNotWhitelisted", backend.bank.id, backend.platform.id
    ):
        backend.anchor(backend.make_loan(apr_bps=3600, issued_at=issued))


def test_legacy_cutoff_is_checked_before_whitelists(backend: Env) -> None:
    record = backend.make_loan(platform=backend.platform2, flags=1)
    with backend.reverts(
        "EvidenceLedgerLegacyAfterCutoff", record.issued_at, backend.policy.legacy_cutoff
    ):
        backend.anchor(record)


def test_legacy_loan_still_needs_valid_parties(backend: Env) -> None:
    issued = backend.policy.legacy_cutoff - 86_400
    record = backend.make_loan(
        flags=1, issued_at=issued, co_funder=backend.small_loan, co_funder_share_bps=1000
    )
    with backend.reverts("EvidenceLedgerCoFundingShareBelowFloor", 1000, 3000):
        backend.anchor(record)
    record = backend.make_loan(flags=1, issued_at=issued)
    forger = LocalSigner.generate()
    with backend.reverts("EvidenceLedgerInvalidSignature", backend.bank.id, forger.address):
        backend.anchor(record, backend.sign(record, [backend.platform, forger]))
    backend.suspend(backend.platform)
    with backend.reverts("EvidenceLedgerParticipantNotActive", backend.platform.id):
        backend.anchor(record)


# ------------------------------------------------------------------------------ time and key history


def test_status_is_taken_at_anchoring_time(backend: Env) -> None:
    record = backend.make_loan()
    before = backend.now()
    backend.advance(10)
    backend.suspend(backend.platform)
    with backend.reverts("EvidenceLedgerParticipantNotActive", backend.platform.id):
        backend.anchor(record)
    # checkLoan judges as of any time: before the suspension the record was fine
    assert backend.check(record, at=before) == backend.record_id(record)


def test_check_before_registration(backend: Env) -> None:
    record = backend.make_loan()
    registered = backend.call(backend.registry.functions.participant(backend.platform.id))[2]
    with backend.reverts("EvidenceLedgerParticipantNotActive", backend.platform.id):
        backend.check(record, at=registered - 1)


def test_key_rotation_keeps_history(backend: Env) -> None:
    bank = backend.bank
    record = backend.make_loan()
    old_signatures = backend.sign(record)
    before = backend.now()
    backend.advance(10)
    old = backend.rotate_signer(bank)
    # the old key no longer speaks for the funder...
    with backend.reverts("EvidenceLedgerInvalidSignature", bank.id, old.address):
        backend.anchor(record, old_signatures)
    # ...though evidence made while it was in force still checks as of that time
    assert backend.check(record, old_signatures, at=before) == backend.record_id(record)
    with backend.reverts("EvidenceLedgerInvalidSignature", bank.id, bank.address):
        backend.check(record, backend.sign(record), at=before)
    backend.anchor(record, backend.sign(record))


def test_future_issue_time_is_refused_beyond_the_clock_skew(backend: Env) -> None:
    """A loan dated ahead could pick up a cap or whitelist entry scheduled for later."""
    at = backend.sim_time()
    far = backend.make_loan(issued_at=at + 365 * 86_400)
    with backend.reverts("EvidenceLedgerIssuedInFuture", at + 365 * 86_400, at):
        backend.anchor(far)
    # up to 15 minutes of clock skew is tolerated
    backend.anchor(backend.make_loan(issued_at=backend.sim_time() + 15 * 60 - 5))


# ------------------------------------------------------------------------------ hashing views


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(record=loan_records)
def test_loan_record_id_matches_python(backend: Env, record: LoanRecord) -> None:
    assert backend.call(
        backend.ledger.functions.loanRecordId(record.as_tuple())
    ) == backend.record_id(record)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    record_id=st.binary(min_size=32, max_size=32),
    successor=st.binary(min_size=32, max_size=32),
    reason=st.integers(0, 2**16 - 1),
    at=st.integers(0, 2**64 - 1),
)
def test_retirement_digest_matches_python(
    backend: Env, record_id: bytes, successor: bytes, reason: int, at: int
) -> None:
    for superseded_by in (ZERO32, successor):
        retirement = Retirement(
            record_id="0x" + record_id.hex(),
            superseded_by="0x" + superseded_by.hex(),
            reason_code=reason,
            retired_at=at,
        )
        onchain = backend.call(
            backend.ledger.functions.retirementDigest(
                retirement.as_tuple(), retirement.is_amendment
            )
        )
        assert onchain == retirement_digest(retirement, backend.domain)


def test_leaf_and_signatures_hash_match_python(backend: Env) -> None:
    record = backend.make_loan(guarantor=backend.guarantor)
    record_id, signatures = backend.record_id(record), backend.sign(record)
    sh = signatures_hash(signatures)
    assert backend.call(backend.ledger.functions.leafOf(record_id, sh)) == leaf_hash(
        LEAF_TYPES, [record_id, sh]
    )


def test_eip712_domain(backend: Env) -> None:
    fields, name, version, chain_id, contract, salt, extensions = backend.call(
        backend.ledger.functions.eip712Domain()
    )
    assert (fields, name, version, chain_id, contract, salt, extensions) == (
        b"\x0f",
        "LoanEvidenceLedger",
        "1",
        backend.client.chain_id,
        backend.deployment.ledger,
        ZERO32,
        [],
    )
