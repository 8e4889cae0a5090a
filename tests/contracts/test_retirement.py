"""revokeRecord / amendRecord: who may retire a record, per-record and batched."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.eip712 import signatures_hash
from ledger.enums import RecordStatus, Role
from ledger.hashing import keccak256
from ledger.records import LoanRecord, Retirement
from ledger.signing import LocalSigner

from .conftest import NO_INCLUSION, REGULATOR_ROLE, ZERO32, Env, Party

REVOKE, AMEND = "revokeRecord", "amendRecord"


def retire_fn(
    backend: Env,
    method: str,
    record: LoanRecord,
    retirement: Retirement,
    signatures: list[bytes],
    inclusion: tuple[bytes, bytes, list[bytes]] = NO_INCLUSION,
) -> Any:
    return getattr(backend.ledger.functions, method)(
        record.as_tuple(), inclusion, retirement.as_tuple(), signatures
    )


def anchored(backend: Env) -> LoanRecord:
    record = backend.make_loan(guarantor=backend.guarantor)
    backend.anchor(record)
    return record


def make_retirement(backend: Env, method: str, record: LoanRecord, **kwargs: Any) -> Retirement:
    if method == AMEND and "superseded_by" not in kwargs:
        kwargs["superseded_by"] = keccak256(
            b"successor " + bytes.fromhex(record.agreement_digest[2:])
        )
    return backend.retirement(record, **kwargs)


def state(backend: Env, record: LoanRecord) -> tuple[Any, ...]:
    result: tuple[Any, ...] = backend.call(
        backend.ledger.functions.recordState(backend.record_id(record))
    )
    return result


# ------------------------------------------------------------------------------ authorized


@pytest.mark.parametrize("method", [REVOKE, AMEND])
@pytest.mark.parametrize("signers", ["regulator", "platform+funder"])
def test_retire_anchored_record(backend: Env, method: str, signers: str) -> None:
    record = anchored(backend)
    anchored_at = state(backend, record)[1]
    retirement = make_retirement(backend, method, record, reason_code=7)
    parties = [backend.regulator] if signers == "regulator" else [backend.platform, backend.bank]
    signatures = backend.sign_retirement(retirement, parties)
    receipt = backend.transact(
        backend.outsider, retire_fn(backend, method, record, retirement, signatures)
    )
    at = backend.block_time(receipt)
    record_id = backend.record_id(record)
    successor = bytes.fromhex(retirement.superseded_by[2:])
    if method == REVOKE:
        assert backend.event(receipt, backend.ledger, "RecordRevoked") == {
            "recordId": record_id,
            "reasonCode": 7,
            "retiredAt": at,
        }
        assert backend.events(receipt, backend.ledger, "RecordAmended") == []
        assert state(backend, record) == (int(RecordStatus.REVOKED), anchored_at, at, 7, ZERO32)
    else:
        assert backend.event(receipt, backend.ledger, "RecordAmended") == {
            "recordId": record_id,
            "supersededBy": successor,
            "reasonCode": 7,
            "retiredAt": at,
        }
        assert backend.events(receipt, backend.ledger, "RecordRevoked") == []
        assert state(backend, record) == (
            int(RecordStatus.SUPERSEDED),
            anchored_at,
            at,
            7,
            successor,
        )
    # a retired record cannot be anchored again
    with backend.reverts("EvidenceLedgerDuplicateRecord", record_id):
        backend.anchor(record)


def test_amendment_then_successor_anchors(backend: Env) -> None:
    record = anchored(backend)
    successor = backend.make_loan(apr_bps=1500)
    retirement = backend.retirement(
        record, superseded_by=backend.record_id(successor), reason_code=2
    )
    signatures = backend.sign_retirement(retirement, [backend.platform, backend.bank])
    backend.transact(backend.platform, retire_fn(backend, AMEND, record, retirement, signatures))
    backend.anchor(successor)
    assert state(backend, successor)[0] == RecordStatus.ANCHORED
    assert state(backend, record)[4] == backend.record_id(successor)


def test_signed_retired_at_is_not_the_recorded_time(backend: Env) -> None:
    """The signed `retiredAt` is part of the digest only; the state records the block time."""
    record = anchored(backend)
    retirement = backend.retirement(record, retired_at=12345)
    signatures = backend.sign_retirement(retirement, [backend.regulator])
    receipt = backend.transact(
        backend.outsider, retire_fn(backend, REVOKE, record, retirement, signatures)
    )
    assert state(backend, record)[2] == backend.block_time(receipt) != 12345


def test_another_registered_regulator_may_retire(backend: Env) -> None:
    deputy = backend.register(Role.REGULATOR)
    record = anchored(backend)
    retirement = backend.retirement(record)
    backend.transact(
        backend.outsider,
        retire_fn(
            backend, REVOKE, record, retirement, backend.sign_retirement(retirement, [deputy])
        ),
    )
    assert state(backend, record)[0] == RecordStatus.REVOKED


# ------------------------------------------------------------------------------ unauthorized


UNAUTHORIZED = {
    "platform alone": ["platform"],
    "funder alone": ["bank"],
    "guarantor alone": ["guarantor"],
    "gateway alone": ["gateway"],
    "auditor alone": ["auditor"],
    "outsider alone": ["outsider"],
    "funder then platform": ["bank", "platform"],
    "platform and another funder": ["platform", "small_loan"],
    "another platform and funder": ["platform2", "bank"],
    "platform and guarantor": ["platform", "guarantor"],
    "regulator and platform": ["regulator", "platform"],
    "regulator twice": ["regulator", "regulator"],
    "three signatures": ["platform", "bank", "regulator"],
    "no signature": [],
}


@pytest.mark.parametrize("method", [REVOKE, AMEND])
@pytest.mark.parametrize("case", list(UNAUTHORIZED))
def test_unauthorized_retirement(backend: Env, method: str, case: str) -> None:
    record = anchored(backend)
    retirement = make_retirement(backend, method, record)
    signers: list[Party | LocalSigner] = [
        LocalSigner.generate() if name == "outsider" else backend.parties[name]
        for name in UNAUTHORIZED[case]
    ]
    signatures = backend.sign_retirement(retirement, signers)
    with backend.reverts("EvidenceLedgerUnauthorizedRetirement", backend.record_id(record)):
        backend.transact(
            backend.outsider, retire_fn(backend, method, record, retirement, signatures)
        )
    assert state(backend, record)[0] == RecordStatus.ANCHORED


def test_signature_of_the_other_retirement_type(backend: Env) -> None:
    """A revocation signature does not authorize an amendment (different EIP-712 types)."""
    record = anchored(backend)
    revocation = backend.retirement(record)
    amendment = backend.retirement(record, superseded_by=keccak256(b"next"))
    revocation_sigs = backend.sign_retirement(revocation, [backend.regulator])
    with backend.reverts("EvidenceLedgerUnauthorizedRetirement", backend.record_id(record)):
        backend.transact(
            backend.outsider, retire_fn(backend, AMEND, record, amendment, revocation_sigs)
        )
    # and a signature binds the reason code
    other_reason = backend.retirement(record, reason_code=99, retired_at=revocation.retired_at)
    with backend.reverts("EvidenceLedgerUnauthorizedRetirement", backend.record_id(record)):
        backend.transact(
            backend.outsider, retire_fn(backend, REVOKE, record, other_reason, revocation_sigs)
        )


def test_malformed_retirement_signature(backend: Env) -> None:
    record = anchored(backend)
    retirement = backend.retirement(record)
    (signature,) = backend.sign_retirement(retirement, [backend.regulator])
    for bad in (signature[:64], b"", signature[:64] + bytes([30])):
        with backend.reverts("EvidenceLedgerUnauthorizedRetirement", backend.record_id(record)):
            backend.transact(
                backend.outsider, retire_fn(backend, REVOKE, record, retirement, [bad])
            )


def test_suspended_or_rotated_signers_cannot_retire(backend: Env) -> None:
    record = anchored(backend)
    retirement = backend.retirement(record)
    record_id = backend.record_id(record)
    by_regulator = backend.sign_retirement(retirement, [backend.regulator])
    backend.suspend(backend.regulator)
    with backend.reverts("EvidenceLedgerUnauthorizedRetirement", record_id):
        backend.transact(
            backend.outsider, retire_fn(backend, REVOKE, record, retirement, by_regulator)
        )
    backend.reactivate(backend.regulator)
    # retirement needs the current keys: the platform's old key no longer counts
    old_platform = backend.rotate_signer(backend.platform)
    stale = backend.sign_retirement(retirement, [old_platform, backend.bank])
    with backend.reverts("EvidenceLedgerUnauthorizedRetirement", record_id):
        backend.transact(backend.outsider, retire_fn(backend, REVOKE, record, retirement, stale))
    fresh = backend.sign_retirement(retirement, [backend.platform, backend.bank])
    backend.transact(backend.outsider, retire_fn(backend, REVOKE, record, retirement, fresh))


def test_regulator_role_without_registration_cannot_sign(backend: Env) -> None:
    """Signing retirements needs a registered Regulator participant, not REGULATOR_ROLE."""
    deputy = LocalSigner.generate()
    backend.transact(
        backend.regulator, backend.registry.functions.grantRole(REGULATOR_ROLE, deputy.address)
    )
    record = anchored(backend)
    retirement = backend.retirement(record)
    with backend.reverts("EvidenceLedgerUnauthorizedRetirement", backend.record_id(record)):
        backend.transact(
            backend.outsider,
            retire_fn(
                backend, REVOKE, record, retirement, backend.sign_retirement(retirement, [deputy])
            ),
        )


# ------------------------------------------------------------------------------ other errors


@pytest.mark.parametrize("first", [REVOKE, AMEND])
@pytest.mark.parametrize("second", [REVOKE, AMEND])
def test_already_retired(backend: Env, first: str, second: str) -> None:
    record = anchored(backend)
    retirement = make_retirement(backend, first, record)
    backend.transact(
        backend.outsider,
        retire_fn(
            backend,
            first,
            record,
            retirement,
            backend.sign_retirement(retirement, [backend.regulator]),
        ),
    )
    again = make_retirement(backend, second, record, reason_code=3)
    with backend.reverts("EvidenceLedgerRecordAlreadyRetired", backend.record_id(record)):
        backend.transact(
            backend.outsider,
            retire_fn(
                backend, second, record, again, backend.sign_retirement(again, [backend.regulator])
            ),
        )


@pytest.mark.parametrize("method", [REVOKE, AMEND])
def test_retirement_mismatch(backend: Env, method: str) -> None:
    record, other = anchored(backend), anchored(backend)
    retirement = make_retirement(backend, method, other)
    signatures = backend.sign_retirement(retirement, [backend.regulator])
    with backend.reverts(
        "EvidenceLedgerRetirementMismatch", backend.record_id(record), backend.record_id(other)
    ):
        backend.transact(
            backend.outsider, retire_fn(backend, method, record, retirement, signatures)
        )


def test_invalid_successor(backend: Env) -> None:
    record = anchored(backend)
    record_id = backend.record_id(record)
    successor = keccak256(b"next")
    cases = [
        (REVOKE, successor),  # a revocation names no successor
        (AMEND, ZERO32),  # an amendment needs one...
        (AMEND, record_id),  # ...that is not the record itself
    ]
    for method, superseded_by in cases:
        retirement = Retirement(
            record_id="0x" + record_id.hex(),
            superseded_by="0x" + superseded_by.hex(),
            reason_code=1,
            retired_at=backend.now(),
        )
        signatures = backend.sign_retirement(retirement, [backend.regulator])
        with backend.reverts("EvidenceLedgerInvalidSuccessor", superseded_by):
            backend.transact(
                backend.outsider, retire_fn(backend, method, record, retirement, signatures)
            )


def test_unknown_record(backend: Env) -> None:
    record = backend.make_loan()  # never anchored
    for method in (REVOKE, AMEND):
        retirement = make_retirement(backend, method, record)
        signatures = backend.sign_retirement(retirement, [backend.regulator])
        with backend.reverts("EvidenceLedgerUnknownRecord", backend.record_id(record)):
            backend.transact(
                backend.outsider, retire_fn(backend, method, record, retirement, signatures)
            )


def test_check_order(backend: Env) -> None:
    """Mismatch, then successor, then retired, then inclusion, then authorization."""
    record = backend.make_loan()
    record_id = backend.record_id(record)
    wrong = backend.retirement(keccak256(b"other"), superseded_by=keccak256(b"x"))
    with backend.reverts("EvidenceLedgerRetirementMismatch", record_id, keccak256(b"other")):
        backend.transact(backend.outsider, retire_fn(backend, REVOKE, record, wrong, []))
    bad_successor = backend.retirement(record, superseded_by=keccak256(b"x"))
    with backend.reverts("EvidenceLedgerInvalidSuccessor", keccak256(b"x")):
        backend.transact(backend.outsider, retire_fn(backend, REVOKE, record, bad_successor, []))
    with backend.reverts("EvidenceLedgerUnknownRecord", record_id):
        backend.transact(
            backend.outsider, retire_fn(backend, REVOKE, record, backend.retirement(record), [])
        )


# ------------------------------------------------------------------------------ batched records


@pytest.mark.parametrize("method", [REVOKE, AMEND])
def test_retire_batched_record(backend: Env, method: str) -> None:
    batch = backend.anchor_batch([backend.make_loan()], fillers=4)
    batch_anchored_at = backend.call(backend.ledger.functions.batch(batch.root))[1]
    record = batch.records[0]
    retirement = make_retirement(backend, method, record, reason_code=4)
    signatures = backend.sign_retirement(retirement, [backend.platform, backend.bank])
    receipt = backend.transact(
        backend.outsider,
        retire_fn(backend, method, record, retirement, signatures, batch.inclusion(0)),
    )
    expected_status = RecordStatus.REVOKED if method == REVOKE else RecordStatus.SUPERSEDED
    assert state(backend, record)[:4] == (
        int(expected_status),
        batch_anchored_at,
        backend.block_time(receipt),
        4,
    )
    # now the contract knows it: retiring again is refused without any proof
    again = make_retirement(backend, method, record, reason_code=5)
    with backend.reverts("EvidenceLedgerRecordAlreadyRetired", backend.record_id(record)):
        backend.transact(
            backend.outsider,
            retire_fn(
                backend, method, record, again, backend.sign_retirement(again, [backend.regulator])
            ),
        )


def test_retire_batched_record_with_bad_inclusion(backend: Env) -> None:
    batch = backend.anchor_batch([backend.make_loan()], fillers=3)
    record = batch.records[0]
    record_id = batch.record_ids[0]
    retirement = backend.retirement(record)
    signatures = backend.sign_retirement(retirement, [backend.regulator])
    root, sh, proof = batch.inclusion(0)
    # unknown batch
    unknown = keccak256(b"never anchored")
    with backend.reverts("EvidenceLedgerUnknownBatch", unknown):
        backend.transact(
            backend.outsider,
            retire_fn(backend, REVOKE, record, retirement, signatures, (unknown, sh, proof)),
        )
    # wrong signatures hash
    wrong_sh = signatures_hash([b"\1" * 65])
    leaf = backend.call(backend.ledger.functions.leafOf(record_id, wrong_sh))
    with backend.reverts("EvidenceLedgerInvalidProof", root, leaf):
        backend.transact(
            backend.outsider,
            retire_fn(backend, REVOKE, record, retirement, signatures, (root, wrong_sh, proof)),
        )
    # wrong proof
    good_leaf = backend.call(backend.ledger.functions.leafOf(record_id, sh))
    with backend.reverts("EvidenceLedgerInvalidProof", root, good_leaf):
        backend.transact(
            backend.outsider,
            retire_fn(backend, REVOKE, record, retirement, signatures, (root, sh, proof[1:])),
        )
    # unauthorized signers still fail after a valid inclusion
    by_platform = backend.sign_retirement(retirement, [backend.platform])
    with backend.reverts("EvidenceLedgerUnauthorizedRetirement", record_id):
        backend.transact(
            backend.outsider,
            retire_fn(backend, REVOKE, record, retirement, by_platform, batch.inclusion(0)),
        )


def test_anchored_record_ignores_the_inclusion(backend: Env) -> None:
    record = anchored(backend)
    retirement = backend.retirement(record)
    signatures = backend.sign_retirement(retirement, [backend.regulator])
    garbage = (keccak256(b"no such batch"), keccak256(b"x"), [keccak256(b"y")])
    backend.transact(
        backend.outsider, retire_fn(backend, REVOKE, record, retirement, signatures, garbage)
    )
    assert state(backend, record)[0] == RecordStatus.REVOKED


def test_violating_batched_record_can_still_be_revoked(backend: Env) -> None:
    record = backend.make_loan(apr_bps=5000)
    batch = backend.anchor_batch([record], fillers=1)
    backend.transact(
        backend.outsider,
        backend.ledger.functions.reportViolation(
            record.as_tuple(), batch.signatures[0], batch.root, batch.proof(0)
        ),
    )
    retirement = backend.retirement(record, reason_code=11)
    signatures = backend.sign_retirement(retirement, [backend.regulator])
    backend.transact(
        backend.outsider,
        retire_fn(backend, REVOKE, record, retirement, signatures, batch.inclusion(0)),
    )
    assert state(backend, record)[0] == RecordStatus.REVOKED
    # the violation stays on record
    assert backend.call(backend.ledger.functions.violationOf(batch.record_ids[0])) != b"\0" * 4
