"""reportViolation: re-checking batched records and recording proven violations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi.abi import encode

from ledger.chain.client import ContractRevert
from ledger.eip712 import signatures_hash
from ledger.enums import Role
from ledger.hashing import keccak256
from ledger.records import LoanRecord
from ledger.signing import LocalSigner

from .conftest import ZERO_ADDRESS, BatchInfo, Env, selector


@dataclass(frozen=True)
class Broken:
    """A batched record that breaks a rule, and the custom error the re-check must record."""

    build: Callable[[Env], tuple[LoanRecord, list[bytes], tuple[Any, ...]]]
    signature: str  # the error's signature, e.g. "EvidenceLedgerRateCapExceeded(uint32,uint32)"

    def reason(self, args: tuple[Any, ...]) -> bytes:
        types = self.signature[self.signature.index("(") + 1 : -1]
        return selector(self.signature) + (encode(types.split(","), list(args)) if types else b"")


def _signed(backend: Env, record: LoanRecord) -> tuple[LoanRecord, list[bytes]]:
    return record, backend.sign(record)


def _over_cap(b: Env) -> tuple[LoanRecord, list[bytes], tuple[Any, ...]]:
    return (*_signed(b, b.make_loan(apr_bps=2401)), (2401, 2400))


def _platform_not_whitelisted(b: Env) -> tuple[LoanRecord, list[bytes], tuple[Any, ...]]:
    return (*_signed(b, b.make_loan(platform=b.platform2)), (b.bank.id, b.platform2.id))


def _guarantor_not_whitelisted(b: Env) -> tuple[LoanRecord, list[bytes], tuple[Any, ...]]:
    record = b.make_loan(funder=b.small_loan, guarantor=b.guarantor)
    return (*_signed(b, record), (b.small_loan.id, b.guarantor.id))


def _forged_signature(b: Env) -> tuple[LoanRecord, list[bytes], tuple[Any, ...]]:
    record, forger = b.make_loan(), LocalSigner.generate()
    return record, b.sign(record, [b.platform, forger]), (b.bank.id, forger.address)


def _malformed_signature(b: Env) -> tuple[LoanRecord, list[bytes], tuple[Any, ...]]:
    record = b.make_loan()
    good = b.sign(record)
    return record, [good[0], good[1][:64]], (b.bank.id, ZERO_ADDRESS)


def _missing_signature(b: Env) -> tuple[LoanRecord, list[bytes], tuple[Any, ...]]:
    record = b.make_loan(guarantor=b.guarantor)
    return record, b.sign(record)[:2], (3, 2)


def _below_floor(b: Env) -> tuple[LoanRecord, list[bytes], tuple[Any, ...]]:
    record = b.make_loan(co_funder=b.small_loan, co_funder_share_bps=2999)
    return (*_signed(b, record), (2999, 3000))


def _zero_principal(b: Env) -> tuple[LoanRecord, list[bytes], tuple[Any, ...]]:
    return (*_signed(b, b.make_loan(principal=0)), ())


def _unknown_flags(b: Env) -> tuple[LoanRecord, list[bytes], tuple[Any, ...]]:
    return (*_signed(b, b.make_loan(flags=4)), (4,))


def _wrong_role(b: Env) -> tuple[LoanRecord, list[bytes], tuple[Any, ...]]:
    record = b.make_loan(guarantor=b.platform2)
    return (*_signed(b, record), (b.platform2.id, int(Role.CREDIT_ENHANCER)))


def _not_active(b: Env) -> tuple[LoanRecord, list[bytes], tuple[Any, ...]]:
    record = b.make_loan()
    signatures = b.sign(record)
    b.suspend(b.platform)  # suspended when the batch is anchored
    return record, signatures, (b.platform.id,)


def _legacy_after_cutoff(b: Env) -> tuple[LoanRecord, list[bytes], tuple[Any, ...]]:
    record = b.make_loan(flags=1, apr_bps=3600)
    return (*_signed(b, record), (record.issued_at, b.policy.legacy_cutoff))


def _invalid_co_funding(b: Env) -> tuple[LoanRecord, list[bytes], tuple[Any, ...]]:
    return (*_signed(b, b.make_loan(co_funder_share_bps=5000)), ())


BROKEN = {
    "over_cap": Broken(_over_cap, "EvidenceLedgerRateCapExceeded(uint32,uint32)"),
    "platform_not_whitelisted": Broken(
        _platform_not_whitelisted, "EvidenceLedgerPlatformNotWhitelisted(uint64,uint64)"
    ),
    "guarantor_not_whitelisted": Broken(
        _guarantor_not_whitelisted, "EvidenceLedgerGuarantorNotWhitelisted(uint64,uint64)"
    ),
    "forged_signature": Broken(_forged_signature, "EvidenceLedgerInvalidSignature(uint64,address)"),
    "malformed_signature": Broken(
        _malformed_signature, "EvidenceLedgerInvalidSignature(uint64,address)"
    ),
    "missing_signature": Broken(
        _missing_signature, "EvidenceLedgerSignatureCountMismatch(uint256,uint256)"
    ),
    "below_floor": Broken(_below_floor, "EvidenceLedgerCoFundingShareBelowFloor(uint16,uint16)"),
    "zero_principal": Broken(_zero_principal, "EvidenceLedgerZeroPrincipal()"),
    "unknown_flags": Broken(_unknown_flags, "EvidenceLedgerUnknownFlags(uint8)"),
    "wrong_role": Broken(_wrong_role, "EvidenceLedgerWrongRole(uint64,uint8)"),
    "not_active": Broken(_not_active, "EvidenceLedgerParticipantNotActive(uint64)"),
    "legacy_after_cutoff": Broken(
        _legacy_after_cutoff, "EvidenceLedgerLegacyAfterCutoff(uint64,uint64)"
    ),
    "invalid_co_funding": Broken(_invalid_co_funding, "EvidenceLedgerInvalidCoFunding()"),
}


def report_fn(
    backend: Env, batch: BatchInfo, index: int, signatures: list[bytes] | None = None
) -> Any:
    record = batch.records[index]
    sigs = batch.signatures[index] if signatures is None else signatures
    return backend.ledger.functions.reportViolation(
        record.as_tuple(), sigs, batch.root, batch.proof(index)
    )


@pytest.mark.parametrize("kind", list(BROKEN))
def test_violation_is_proven(backend: Env, kind: str) -> None:
    broken = BROKEN[kind]
    record, signatures, args = broken.build(backend)
    batch = backend.anchor_batch([(record, signatures)], fillers=2)
    record_id = batch.record_ids[0]
    reason = broken.reason(args)
    code = reason[:4]
    # the gateway's promise was wrong: the re-check finds the rule, with the same error anchorLoan gives
    with backend.reverts(broken.signature[: broken.signature.index("(")], *args):
        backend.check(
            record, signatures, at=backend.call(backend.ledger.functions.batch(batch.root))[1]
        )
    fn = report_fn(backend, batch, 0)
    assert backend.call(fn, backend.outsider) == code
    receipt = backend.transact(backend.outsider, fn)
    assert backend.event(receipt, backend.ledger, "ViolationProven") == {
        "recordId": record_id,
        "root": batch.root,
        "gatewayId": backend.gateway.id,
        "code": code,
        "reason": reason,
        "reporter": backend.outsider.address,
    }
    assert backend.call(backend.ledger.functions.violationOf(record_id)) == code
    with backend.reverts("EvidenceLedgerViolationAlreadyReported", record_id):
        backend.transact(backend.auditor, fn)


def test_compliant_record_no_violation(backend: Env) -> None:
    batch = backend.anchor_batch([backend.make_loan(guarantor=backend.guarantor)], fillers=3)
    with backend.reverts("EvidenceLedgerNoViolation", batch.record_ids[0]):
        backend.transact(backend.outsider, report_fn(backend, batch, 0))
    assert backend.call(backend.ledger.functions.violationOf(batch.record_ids[0])) == b"\0" * 4


def test_legacy_stock_loan_no_violation(backend: Env) -> None:
    record = backend.make_loan(flags=1, apr_bps=3600, issued_at=backend.policy.legacy_cutoff - 1)
    batch = backend.anchor_batch([record], fillers=1)
    with backend.reverts("EvidenceLedgerNoViolation", batch.record_ids[0]):
        backend.transact(backend.outsider, report_fn(backend, batch, 0))


def test_unknown_batch(backend: Env) -> None:
    record = backend.make_loan(apr_bps=9999)
    batch = backend.build_batch([(record, backend.sign(record))])
    with backend.reverts("EvidenceLedgerUnknownBatch", batch.root):
        backend.transact(backend.outsider, report_fn(backend, batch, 0))


def test_invalid_proof(backend: Env) -> None:
    record = backend.make_loan(apr_bps=9999)
    batch = backend.anchor_batch([record], fillers=3)
    ledger = backend.ledger
    signatures = batch.signatures[0]
    leaf = backend.call(ledger.functions.leafOf(batch.record_ids[0], signatures_hash(signatures)))
    bad_proof = [keccak256(b"x"), *batch.proof(0)[1:]]
    with backend.reverts("EvidenceLedgerInvalidProof", batch.root, leaf):
        backend.transact(
            backend.outsider,
            ledger.functions.reportViolation(record.as_tuple(), signatures, batch.root, bad_proof),
        )
    # other signatures than the ones committed in the leaf: a different leaf
    other = backend.sign(record, [backend.platform, backend.small_loan])
    other_leaf = backend.call(ledger.functions.leafOf(batch.record_ids[0], signatures_hash(other)))
    with backend.reverts("EvidenceLedgerInvalidProof", batch.root, other_leaf):
        backend.transact(backend.outsider, report_fn(backend, batch, 0, other))
    # a record that is not in the batch at all
    stranger = backend.make_loan(apr_bps=9999)
    stranger_sigs = backend.sign(stranger)
    stranger_leaf = backend.call(
        ledger.functions.leafOf(backend.record_id(stranger), signatures_hash(stranger_sigs))
    )
    with backend.reverts("EvidenceLedgerInvalidProof", batch.root, stranger_leaf):
        backend.transact(
            backend.outsider,
            ledger.functions.reportViolation(
                stranger.as_tuple(), stranger_sigs, batch.root, batch.proof(0)
            ),
        )


# ------------------------------------------------------------------------------ rules as of anchoring


def test_status_and_keys_are_judged_at_batch_anchoring(backend: Env) -> None:
    entries = [backend.make_loan() for _ in range(2)]
    batch = backend.anchor_batch(entries)
    backend.advance(60)
    backend.suspend(backend.platform)  # after the batch: the record was fine when anchored
    backend.rotate_signer(backend.bank)  # the old funder key was in force when anchored
    for i in range(2):
        with backend.reverts("EvidenceLedgerNoViolation", batch.record_ids[i]):
            backend.transact(backend.outsider, report_fn(backend, batch, i))


def test_whitelist_and_cap_are_judged_at_issue_time(backend: Env) -> None:
    record = backend.make_loan(apr_bps=2400, guarantor=backend.guarantor)
    batch = backend.anchor_batch([record], fillers=1)
    backend.advance(60)
    backend.unwhitelist(backend.bank, backend.platform)
    backend.unwhitelist(backend.bank, backend.guarantor)
    backend.transact(backend.regulator, backend.registry.functions.setRateCap(1, 1200, 0))
    with backend.reverts("EvidenceLedgerNoViolation", batch.record_ids[0]):
        backend.transact(backend.outsider, report_fn(backend, batch, 0))


def test_suspension_before_anchoring_is_a_violation_even_after_reactivation(backend: Env) -> None:
    record = backend.make_loan()
    signatures = backend.sign(record)
    backend.suspend(backend.bank)
    batch = backend.anchor_batch([(record, signatures)], fillers=1)
    backend.reactivate(backend.bank)
    receipt = backend.transact(backend.outsider, report_fn(backend, batch, 0))
    assert backend.event(receipt, backend.ledger, "ViolationProven")["code"] == selector(
        "EvidenceLedgerParticipantNotActive(uint64)"
    )


def test_floor_raised_after_anchoring_is_no_violation(backend: Env) -> None:
    record = backend.make_loan(co_funder=backend.small_loan, co_funder_share_bps=3000)
    batch = backend.anchor_batch([record], fillers=1)
    backend.transact(backend.regulator, backend.registry.functions.setCoFundingFloor(4000))
    with backend.reverts("EvidenceLedgerNoViolation", batch.record_ids[0]):
        backend.transact(backend.outsider, report_fn(backend, batch, 0))


def test_cutoff_moved_after_anchoring_is_no_violation(backend: Env) -> None:
    cutoff = backend.now() + 86_400
    backend.transact(backend.regulator, backend.registry.functions.setLegacyCutoff(cutoff))
    record = backend.make_loan(flags=1, apr_bps=3600)
    batch = backend.anchor_batch([record], fillers=1)
    backend.transact(
        backend.regulator, backend.registry.functions.setLegacyCutoff(record.issued_at)
    )
    with backend.reverts("EvidenceLedgerNoViolation", batch.record_ids[0]):
        backend.transact(backend.outsider, report_fn(backend, batch, 0))


@pytest.mark.slow
def test_starving_the_recheck_of_gas_cannot_forge_a_violation(backend: Env) -> None:
    """With too little gas the re-check runs out of gas: CheckFailed(""), never a recorded rule."""
    batch = backend.anchor_batch([backend.make_loan()], fillers=1)
    fn = report_fn(backend, batch, 0)
    sender = backend.outsider.address

    def outcome(gas: int) -> str | None:
        try:
            fn.call({"from": sender, "gas": gas})
        except ContractRevert as exc:  # pragma: no cover - fn.call raises web3's errors
            return exc.error_name
        except Exception as exc:
            from ledger.chain.client import _as_revert

            revert = _as_revert(exc)
            if revert.error_name == "EvidenceLedgerCheckFailed":
                assert revert.error_args == (b"",)
            return revert.error_name or "out-of-gas"
        return "success"  # pragma: no cover - a compliant record never succeeds

    full = outcome(5_000_000)
    assert full == "EvidenceLedgerNoViolation"
    # the smallest gas at which the re-check completes
    low, high = 21_000, 5_000_000
    while high - low > 1:
        mid = (low + high) // 2
        if outcome(mid) == "EvidenceLedgerNoViolation":
            high = mid
        else:
            low = mid
    seen = {outcome(gas) for gas in range(high - 1, high - 4000, -250)}
    assert "EvidenceLedgerCheckFailed" in seen, seen
    assert seen <= {"EvidenceLedgerCheckFailed", "out-of-gas"}, seen
