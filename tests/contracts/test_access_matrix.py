"""Who may call each state-changing function: role x function -> allowed, or the exact error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from ledger.enums import InstitutionType, Role
from ledger.hashing import keccak256
from ledger.signing import LocalSigner

from .conftest import DEFAULT_ADMIN_ROLE, NO_INCLUSION, REGULATOR_ROLE, ZERO32, Env, Party

CALLERS = ["regulator", "funder", "platform", "guarantor", "gateway", "auditor", "outsider"]

Caller = Party | LocalAccount
Expected = tuple[str, tuple[Any, ...]] | None  # None: allowed
Build = Callable[[Env, Caller], Any]
Expect = Callable[[Env, Caller], Expected]


def caller_of(backend: Env, name: str) -> Caller:
    if name == "outsider":
        return backend.outsider
    return backend.bank if name == "funder" else backend.parties[name]


def only(*allowed: str, error: str, args: Callable[[Env, Caller], tuple[Any, ...]]) -> Expect:
    """Allowed for the callers named, else `error(args)`."""

    def expect(backend: Env, caller: Caller) -> Expected:
        names = {n for n in CALLERS if caller_of(backend, n).address == caller.address}
        return None if names & set(allowed) else (error, args(backend, caller))

    return expect


def anyone(backend: Env, caller: Caller) -> Expected:
    return None


not_regulator = only(
    "regulator",
    error="AccessControlUnauthorizedAccount",
    args=lambda b, c: (c.address, REGULATOR_ROLE),
)
not_admin = only(
    "regulator",
    error="AccessControlUnauthorizedAccount",
    args=lambda b, c: (c.address, DEFAULT_ADMIN_ROLE),
)


# ------------------------------------------------------------------------------ actions


def _register(b: Env, c: Caller) -> Any:
    return b.registry.functions.registerParticipant(
        int(Role.AUDITOR), 0, LocalSigner.generate().address, ZERO32, "新审计机构"
    )


def _set_status(b: Env, c: Caller) -> Any:
    return b.registry.functions.setParticipantStatus(b.platform2.id, 2)


def _rotate_other(b: Env, c: Caller) -> Any:
    return b.registry.functions.rotateSigner(b.platform2.id, LocalSigner.generate().address)


def _own_id(b: Env, c: Caller) -> int:
    participant_id: int = b.call(b.registry.functions.participantIdOf(c.address))
    return participant_id or 99


def _rotate_own(b: Env, c: Caller) -> Any:
    return b.registry.functions.rotateSigner(_own_id(b, c), LocalSigner.generate().address)


def _rotate_ed25519(b: Env, c: Caller) -> Any:
    return b.registry.functions.rotateEd25519Key(b.gateway.id, b"\x42" * 32)


def _add_whitelist(b: Env, c: Caller) -> Any:
    return b.registry.functions.addToWhitelist(b.platform2.id, 0)


def _remove_whitelist(b: Env, c: Caller) -> Any:
    return b.registry.functions.removeFromWhitelist(b.platform.id, 0)


def _set_rate_cap(b: Env, c: Caller) -> Any:
    return b.registry.functions.setRateCap(int(InstitutionType.BANK), 2000, 0)


def _set_lpr(b: Env, c: Caller) -> Any:
    return b.registry.functions.setLpr(310, 0)


def _set_rate_cap_lpr(b: Env, c: Caller) -> Any:
    return b.registry.functions.setRateCapAsLprMultiple(int(InstitutionType.SMALL_LOAN), 40_000, 0)


def _set_floor(b: Env, c: Caller) -> Any:
    return b.registry.functions.setCoFundingFloor(3500)


def _set_cutoff(b: Env, c: Caller) -> Any:
    return b.registry.functions.setLegacyCutoff(b.now() + 86_400)


def _grant_role(b: Env, c: Caller) -> Any:
    return b.registry.functions.grantRole(REGULATOR_ROLE, LocalSigner.generate().address)


def _revoke_role(b: Env, c: Caller) -> Any:
    return b.registry.functions.revokeRole(REGULATOR_ROLE, b.regulator.address)


def _renounce_role(b: Env, c: Caller) -> Any:
    return b.registry.functions.renounceRole(REGULATOR_ROLE, c.address)


def _anchor_loan(b: Env, c: Caller) -> Any:
    record = b.make_loan()
    return b.ledger.functions.anchorLoan(record.as_tuple(), b.sign(record))


def _anchor_batch(b: Env, c: Caller) -> Any:
    return b.ledger.functions.anchorBatch(keccak256(b"matrix batch"), 10)


def _anchor_evidence_log(b: Env, c: Caller) -> Any:
    return b.ledger.functions.anchorEvidenceLog(keccak256(b"matrix evidence log"), 3)


def _report_violation(b: Env, c: Caller) -> Any:
    batch = b.anchor_batch([b.make_loan(apr_bps=3000)], fillers=1)
    return b.ledger.functions.reportViolation(
        batch.records[0].as_tuple(), batch.signatures[0], batch.root, batch.proof(0)
    )


def _revoke_record(b: Env, c: Caller) -> Any:
    record = b.make_loan()
    b.anchor(record)
    retirement = b.retirement(record)
    signatures = b.sign_retirement(retirement, [b.regulator])
    return b.ledger.functions.revokeRecord(
        record.as_tuple(), NO_INCLUSION, retirement.as_tuple(), signatures
    )


def _amend_record(b: Env, c: Caller) -> Any:
    record = b.make_loan()
    b.anchor(record)
    retirement = b.retirement(record, superseded_by=keccak256(b"successor"))
    signatures = b.sign_retirement(retirement, [b.platform, b.bank])
    return b.ledger.functions.amendRecord(
        record.as_tuple(), NO_INCLUSION, retirement.as_tuple(), signatures
    )


def _expect_rotate_own(b: Env, c: Caller) -> Expected:
    pid = _own_id(b, c)
    return ("RegistryUnknownParticipant", (99,)) if pid == 99 else None


MATRIX: dict[str, tuple[Build, Expect]] = {
    "registerParticipant": (_register, not_regulator),
    "setParticipantStatus": (_set_status, not_regulator),
    "rotateSigner(other)": (
        _rotate_other,
        only(
            "regulator", error="RegistryUnauthorized", args=lambda b, c: (c.address, b.platform2.id)
        ),
    ),
    "rotateSigner(own)": (_rotate_own, _expect_rotate_own),
    "rotateEd25519Key(gateway)": (
        _rotate_ed25519,
        only(
            "regulator",
            "gateway",
            error="RegistryUnauthorized",
            args=lambda b, c: (c.address, b.gateway.id),
        ),
    ),
    "addToWhitelist": (
        _add_whitelist,
        only("funder", error="WhitelistCallerNotActiveFunder", args=lambda b, c: (c.address,)),
    ),
    "removeFromWhitelist": (
        _remove_whitelist,
        only("funder", error="WhitelistCallerNotActiveFunder", args=lambda b, c: (c.address,)),
    ),
    "setRateCap": (_set_rate_cap, not_regulator),
    "setRateCapAsLprMultiple": (_set_rate_cap_lpr, not_regulator),
    "setLpr": (_set_lpr, not_regulator),
    "setCoFundingFloor": (_set_floor, not_regulator),
    "setLegacyCutoff": (_set_cutoff, not_regulator),
    "grantRole": (_grant_role, not_admin),
    "revokeRole": (_revoke_role, not_admin),
    "renounceRole": (_renounce_role, anyone),
    "anchorLoan": (_anchor_loan, anyone),
    "anchorBatch": (
        _anchor_batch,
        only("gateway", error="EvidenceLedgerNotGateway", args=lambda b, c: (c.address,)),
    ),
    "anchorEvidenceLog": (
        _anchor_evidence_log,
        only("gateway", error="EvidenceLedgerNotGateway", args=lambda b, c: (c.address,)),
    ),
    "reportViolation": (_report_violation, anyone),
    "revokeRecord": (_revoke_record, anyone),
    "amendRecord": (_amend_record, anyone),
}


def test_matrix_covers_every_state_changing_function(backend: Env) -> None:
    covered = {name.split("(")[0] for name in MATRIX}
    for contract in (backend.registry, backend.ledger):
        mutating = {
            item["name"]
            for item in contract.abi
            if item["type"] == "function" and item["stateMutability"] not in ("view", "pure")
        }
        assert mutating <= covered, mutating - covered


@pytest.mark.parametrize("caller_name", CALLERS)
@pytest.mark.parametrize("function", list(MATRIX))
def test_access(backend: Env, function: str, caller_name: str) -> None:
    build, expect = MATRIX[function]
    caller = caller_of(backend, caller_name)
    fn = build(backend, caller)
    expected = expect(backend, caller)
    if expected is None:
        receipt = backend.transact(caller, fn)
        assert receipt["status"] == 1
    else:
        name, args = expected
        with backend.reverts(name, *args):
            backend.transact(caller, fn)
