"""The 助贷 rules as stable error codes.

The contracts are the one implementation of the rules (`EvidenceLedger.checkLoan`); off chain
they are checked by calling that same view function (no gas, no second implementation that
could drift). This module maps the contract's custom errors to the stable codes the library and
the gateway report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.chain.client import ContractRevert
from ledger.errors import ChainError, RuleViolation, SignatureError
from ledger.records import FLAG_LEGACY, LoanRecord
from ledger.signing import recover_address

__all__ = ["RULE_CODES", "RegistryView", "check_rules", "rule_error"]

#: custom error name -> (stable code, what the rule is)
RULE_CODES: dict[str, tuple[str, str]] = {
    "EvidenceLedgerRateCapExceeded": (
        "RATE_CAP_EXCEEDED",
        "comprehensive annualized cost above the cap (R3)",
    ),
    "EvidenceLedgerNoRateCap": (
        "RATE_CAP_MISSING",
        "no rate cap set for the funder's institution type",
    ),
    "EvidenceLedgerPlatformNotWhitelisted": (
        "PLATFORM_NOT_WHITELISTED",
        "platform not on the funder's whitelist (R1)",
    ),
    "EvidenceLedgerGuarantorNotWhitelisted": (
        "GUARANTOR_NOT_WHITELISTED",
        "guarantor not on the funder's whitelist (R1)",
    ),
    "EvidenceLedgerCoFundingShareBelowFloor": (
        "CO_FUNDING_SHARE_BELOW_FLOOR",
        "co-funding partner's share below the floor (R6)",
    ),
    "EvidenceLedgerInvalidCoFunding": ("CO_FUNDING_INVALID", "inconsistent co-funding fields"),
    "EvidenceLedgerLegacyAfterCutoff": (
        "LEGACY_AFTER_CUTOFF",
        "legacy flag on a loan issued after the cutoff (R8)",
    ),
    "EvidenceLedgerParticipantNotActive": (
        "PARTICIPANT_NOT_ACTIVE",
        "a party is unknown or suspended",
    ),
    "EvidenceLedgerWrongRole": (
        "PARTICIPANT_WRONG_ROLE",
        "a party does not have the role its place needs",
    ),
    "EvidenceLedgerSignatureCountMismatch": (
        "SIGNATURE_MISSING",
        "a party's signature is missing (R7)",
    ),
    "EvidenceLedgerInvalidSignature": (
        "SIGNATURE_INVALID",
        "a signature is not by the party's registered key",
    ),
    "EvidenceLedgerZeroPrincipal": ("PRINCIPAL_ZERO", "the principal must be positive"),
    "EvidenceLedgerUnknownFlags": ("FLAGS_UNKNOWN", "undefined record flags"),
    "EvidenceLedgerIssuedInFuture": ("ISSUED_IN_FUTURE", "the loan is dated in the future"),
    "EvidenceLedgerDuplicateRecord": ("DUPLICATE_RECORD", "the record is already anchored"),
}


def rule_error(revert: ContractRevert) -> RuleViolation | SignatureError | ChainError:
    """The library error for a contract revert: a rule violation with its stable code if it is one."""
    name = revert.error_name
    if name is None or name not in RULE_CODES:
        return revert
    code, meaning = RULE_CODES[name]
    message = f"{meaning}: {name}{revert.error_args!r}"
    if code.startswith("SIGNATURE_"):
        return SignatureError(message, code=code)
    return RuleViolation(message, code=code)


# ---------------------------------------------------------------------------------------------
# The same rules in Python, for throughput.
#
# Checking every record of a 10,000-record batch with `checkLoan` costs ~8 eth_calls each (tens
# of ms apiece on an in-process py-evm). `check_rules` applies the rules of
# `EvidenceLedger._checkLoan` in the same order, with the same outcomes, to registry state read
# once per request through `RegistryView`. tests/unit/test_rules_parity.py runs both on the same
# records and asserts the same verdict, so the two cannot drift unnoticed; and any batched record
# can still be re-checked by the contract itself (`reportViolation`).


class RegistryView:
    """Registry reads memoized for one request (state can change between requests)."""

    def __init__(self, client: Any, registry: Any) -> None:
        self._client = client
        self._fns = registry.functions
        self._memo: dict[tuple[Any, ...], Any] = {}

    def _read(self, name: str, *args: Any) -> Any:
        key = (name, *args)
        if key not in self._memo:
            self._memo[key] = self._client.call(getattr(self._fns, name)(*args))
        return self._memo[key]

    def epoch_at(self, participant_id: int, at: int) -> tuple[str, int]:
        """(signer address, status) of a participant at time `at`."""
        epoch = self._read("epochAt", participant_id, at)
        return str(epoch[0]), int(epoch[2])

    def role_of(self, participant_id: int) -> tuple[int, int]:
        role, institution = self._read("roleOf", participant_id)
        return int(role), int(institution)

    def is_whitelisted(self, funder_id: int, partner_id: int, at: int) -> bool:
        return bool(self._read("isWhitelisted", funder_id, partner_id, at))

    def rate_cap_at(self, institution_type: int, at: int) -> tuple[bool, int]:
        found, cap = self._read("rateCapAt", institution_type, at)
        return bool(found), int(cap)

    def co_funding_floor_at(self, at: int) -> int:
        return int(self._read("coFundingFloorAt", at))

    def legacy_cutoff_at(self, at: int) -> int:
        return int(self._read("legacyCutoffAt", at))


#: `EvidenceLedger._MAX_CLOCK_SKEW`: how far ahead of the check a loan may be dated.
MAX_CLOCK_SKEW_SECONDS = 15 * 60
_ACTIVE = 1
_ROLE_FUNDER, _ROLE_PLATFORM, _ROLE_CREDIT_ENHANCER = 1, 2, 3


def _violation(error_name: str, detail: str) -> RuleViolation | SignatureError:
    code, meaning = RULE_CODES[error_name]
    message = f"{meaning}: {detail}"
    if code.startswith("SIGNATURE_"):
        return SignatureError(message, code=code)
    return RuleViolation(message, code=code)


def check_rules(
    record: LoanRecord,
    view: RegistryView,
    at: int,
    *,
    record_id: bytes | None = None,
    signatures: Sequence[bytes] | None = None,
) -> None:
    """`EvidenceLedger._checkLoan` in Python: raises the first rule broken, with its stable code.

    Without `signatures` the signature rules are skipped (a record the funder has yet to sign).
    """
    if record.principal == 0:
        raise _violation("EvidenceLedgerZeroPrincipal", "principal is 0")
    if record.flags & ~FLAG_LEGACY:
        raise _violation("EvidenceLedgerUnknownFlags", f"flags {record.flags}")
    if record.issued_at > at + MAX_CLOCK_SKEW_SECONDS:
        raise _violation(
            "EvidenceLedgerIssuedInFuture", f"issued at {record.issued_at}, checked at {at}"
        )
    parties = record.signer_ids()
    if signatures is not None and len(signatures) != len(parties):
        raise _violation(
            "EvidenceLedgerSignatureCountMismatch",
            f"{len(signatures)} of {len(parties)} signatures",
        )

    def party(index: int, participant_id: int, role: int) -> int:
        signer, status = view.epoch_at(participant_id, at)
        if status != _ACTIVE:
            raise _violation("EvidenceLedgerParticipantNotActive", f"participant {participant_id}")
        actual, institution = view.role_of(participant_id)
        if actual != role:
            raise _violation(
                "EvidenceLedgerWrongRole", f"participant {participant_id} is not role {role}"
            )
        if signatures is not None and record_id is not None:
            try:
                recovered = recover_address(record_id, signatures[index])
            except SignatureError:
                recovered = "0x0000000000000000000000000000000000000000"
            if recovered.lower() != signer.lower():
                raise _violation(
                    "EvidenceLedgerInvalidSignature",
                    f"participant {participant_id}, recovered {recovered}",
                )
        return institution

    party(0, record.platform_id, _ROLE_PLATFORM)
    funder_type = party(1, record.funder_id, _ROLE_FUNDER)
    next_index = 2
    if record.guarantor_id:
        party(next_index, record.guarantor_id, _ROLE_CREDIT_ENHANCER)
        next_index += 1
    if record.is_legacy:
        cutoff = view.legacy_cutoff_at(at)
        if record.issued_at >= cutoff:
            raise _violation(
                "EvidenceLedgerLegacyAfterCutoff", f"issued {record.issued_at}, cutoff {cutoff}"
            )
    else:
        if not view.is_whitelisted(record.funder_id, record.platform_id, record.issued_at):
            raise _violation(
                "EvidenceLedgerPlatformNotWhitelisted",
                f"platform {record.platform_id}, funder {record.funder_id}",
            )
        if record.guarantor_id and not view.is_whitelisted(
            record.funder_id, record.guarantor_id, record.issued_at
        ):
            raise _violation(
                "EvidenceLedgerGuarantorNotWhitelisted",
                f"guarantor {record.guarantor_id}, funder {record.funder_id}",
            )

    def cap_for(institution: int) -> int:
        found, cap = view.rate_cap_at(institution, record.issued_at)
        if not found:
            raise _violation("EvidenceLedgerNoRateCap", f"institution type {institution}")
        return cap

    cap = cap_for(funder_type)
    if record.co_funder_id == 0:
        if record.co_funder_share_bps != 0:
            raise _violation("EvidenceLedgerInvalidCoFunding", "a share without a co-funder")
    else:
        if record.co_funder_id == record.funder_id or record.co_funder_share_bps >= 10_000:
            raise _violation(
                "EvidenceLedgerInvalidCoFunding", "co-funder is the funder, or share >= 100%"
            )
        co_type = party(next_index, record.co_funder_id, _ROLE_FUNDER)
        floor = view.co_funding_floor_at(record.issued_at)
        if record.co_funder_share_bps < floor:
            raise _violation(
                "EvidenceLedgerCoFundingShareBelowFloor",
                f"{record.co_funder_share_bps} < {floor} bps",
            )
        cap = min(cap, cap_for(co_type))
    if not record.is_legacy and record.apr_bps > cap:
        raise _violation(
            "EvidenceLedgerRateCapExceeded", f"APR {record.apr_bps} bps > cap {cap} bps"
        )
