"""The 助贷 rules as stable error codes.

The contracts are the one implementation of the rules (`EvidenceLedger.checkLoan`); off chain
they are checked by calling that same view function (no gas, no second implementation that
could drift). This module maps the contract's custom errors to the stable codes the library and
the gateway report.
"""

from __future__ import annotations

from ledger.chain.client import ContractRevert
from ledger.errors import ChainError, RuleViolation, SignatureError

__all__ = ["RULE_CODES", "rule_error"]

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
