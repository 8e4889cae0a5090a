"""Every custom error the contracts can raise, with the stable code the library and the gateway
report for it and what it means — one table (a test checks it names exactly the errors of the
compiled contracts, OpenZeppelin's included).

`error_for(revert)` turns a decoded revert into the library error of the right kind: a broken
loan rule is a `RuleViolation` (or `SignatureError`), a refused administrative change a
`RuleViolation` too, anything unexpected stays a `ChainError`.
"""

from __future__ import annotations

from ledger.chain.client import ContractRevert
from ledger.errors import ChainError, RuleViolation, SignatureError

__all__ = [
    "DATABASE_CODES",
    "ERROR_CODES",
    "INPUT_CODES",
    "LOAN_RULES",
    "PASSING_RULE_CODES",
    "VAULT_CODES",
    "error_code",
    "error_for",
]

#: the stable codes of refused input (422), raised before anything reaches the chain or the
#: database (`ledger.bounds`, `ledger.safejson`, the gateway's request guard)
INPUT_CODES: dict[str, str] = {
    "INVALID_INPUT": "malformed input: not JSON, a wrong type, a missing or unknown field",
    "VALUE_OUT_OF_RANGE": "an integer outside what its field, the contract or the database hold",
    "TIME_OUT_OF_RANGE": "a unix time or date outside 2000-2099 (disclosure dates: to 2150)",
    "TEXT_NUL": "text with a NUL character",
    "TEXT_TOO_LONG": "text longer than its field allows",
    "INVALID_UTF8": "bytes that are not UTF-8, in a body, a form field, a path or a query",
    "JSON_TOO_DEEP": "JSON nested deeper than 32 levels",
    "JSON_TOO_MANY_ELEMENTS": "JSON with more than 2,000,000 values",
    "JSON_NUMBER_TOO_LONG": "a JSON number with more than 80 digits",
}

#: the stable codes of a database fault (`ledger.errors.DatabaseUnavailable`, HTTP 503): raised by
#: the database layer (`ledger.dbfaults`) in place of the driver's error, for any statement
DATABASE_CODES: dict[str, str] = {
    "DATABASE_UNAVAILABLE": "the database does not answer: down, restarting, connection lost",
    "DATABASE_READ_ONLY": "the database refuses writes: read-only server, file or transaction",
    "DATABASE_FULL": "the database's disk (or its size limit) is full",
    "DATABASE_BUSY": "the database is locked by another process for longer than the timeout",
}

#: the stable codes of the document vault (`ledger.vault`): reads, grants, erasure
VAULT_CODES: dict[str, tuple[int, str]] = {
    "DOCUMENT_NOT_FOUND": (404, "the loan was submitted without its document"),
    "DOCUMENT_ERASED": (410, "the document was crypto-shredded (erasure)"),
    "DOCUMENT_FORBIDDEN": (403, "only the loan's parties, the regulator, granted auditors read it"),
    "DOCUMENT_CORRUPT": (500, "a stored chunk does not authenticate (moved, cut or altered)"),
    "GRANT_REQUIRED": (403, "an auditor's read needs a live grant covering the loan"),
    "GRANT_LOAN_FOREIGN": (403, "a funder grants access only to loans it funds or co-funds"),
    "GRANT_NOT_YOURS": (403, "only the grantor revokes a grant"),
    "GRANT_NOT_FOUND": (404, "no grant has this id"),
    "GRANT_ALREADY_REVOKED": (409, "the grant is already revoked"),
    "GRANT_TOO_LARGE": (422, "a grant names 1 to ledger.limits.MAX_GRANT_LOANS loans"),
    "GRANT_WINDOW_INVALID": (422, "valid_until must follow valid_from and now"),
    "GRANTEE_NOT_AUDITOR": (422, "grants go to registered auditors only"),
    "ERASURE_FORBIDDEN": (
        403,
        "the loan's platform requests, its funder approves, the regulator orders",
    ),
    "ERASURE_ALREADY_REQUESTED": (409, "an erasure of this loan is already requested"),
    "ERASURE_NOT_REQUESTED": (409, "no erasure of this loan was requested"),
    "ERASURE_ALREADY_EXECUTED": (409, "the loan's data is already erased"),
}

#: the loan rules (EvidenceLedger._checkLoan), in the order the contract checks them: what a
#: proven violation can record
_LOAN_RULES: dict[str, tuple[str, str]] = {
    "EvidenceLedgerZeroPrincipal": ("PRINCIPAL_ZERO", "the principal must be positive"),
    "EvidenceLedgerUnknownFlags": ("FLAGS_UNKNOWN", "undefined record flags"),
    "EvidenceLedgerIssuedInFuture": ("ISSUED_IN_FUTURE", "the loan is dated in the future"),
    "EvidenceLedgerSignatureCountMismatch": (
        "SIGNATURE_MISSING",
        "a party's signature is missing (R7)",
    ),
    "EvidenceLedgerParticipantNotActive": (
        "PARTICIPANT_NOT_ACTIVE",
        "a party is unknown or suspended",
    ),
    "EvidenceLedgerWrongRole": (
        "PARTICIPANT_WRONG_ROLE",
        "a party does not have the role its place needs",
    ),
    "EvidenceLedgerInvalidSignature": (
        "SIGNATURE_INVALID",
        "a signature is not by the party's registered key",
    ),
    "EvidenceLedgerLegacyAfterCutoff": (
        "LEGACY_AFTER_CUTOFF",
        "legacy flag on a loan issued after the cutoff (R8)",
    ),
    "EvidenceLedgerPlatformNotWhitelisted": (
        "PLATFORM_NOT_WHITELISTED",
        "platform not on the funder's whitelist (R1)",
    ),
    "EvidenceLedgerGuarantorNotWhitelisted": (
        "GUARANTOR_NOT_WHITELISTED",
        "guarantor not on the funder's whitelist (R1)",
    ),
    "EvidenceLedgerNoRateCap": (
        "RATE_CAP_MISSING",
        "no rate cap set for the funder's institution type",
    ),
    "EvidenceLedgerInvalidCoFunding": ("CO_FUNDING_INVALID", "inconsistent co-funding fields"),
    "EvidenceLedgerCoFundingShareBelowFloor": (
        "CO_FUNDING_SHARE_BELOW_FLOOR",
        "co-funding partner's share below the floor (R6)",
    ),
    "EvidenceLedgerRateCapExceeded": (
        "RATE_CAP_EXCEEDED",
        "comprehensive annualized cost above the cap (R3)",
    ),
    "EvidenceLedgerDuplicateRecord": ("DUPLICATE_RECORD", "the record is already anchored"),
}

#: custom error name -> (stable code, what it means)
ERROR_CODES: dict[str, tuple[str, str]] = {
    **_LOAN_RULES,
    # ---- anchoring, proofs, violations, retirement
    "EvidenceLedgerNotGateway": ("NOT_GATEWAY", "only an active gateway anchors batches"),
    "EvidenceLedgerEmptyBatch": ("BATCH_EMPTY", "a batch needs a root and a record count"),
    "EvidenceLedgerDuplicateBatch": ("BATCH_DUPLICATE", "this root is already anchored"),
    "EvidenceLedgerUnknownBatch": ("BATCH_UNKNOWN", "no batch has this root"),
    "EvidenceLedgerInvalidProof": ("PROOF_INVALID", "the proof does not lead to the root"),
    "MerkleProofInvalidMultiproof": ("PROOF_INVALID", "the multiproof is malformed"),
    "EvidenceLedgerUnknownRecord": ("RECORD_UNKNOWN", "the record is not anchored"),
    "EvidenceLedgerNoViolation": ("NO_VIOLATION", "the record breaks no rule"),
    "EvidenceLedgerViolationAlreadyReported": (
        "VIOLATION_ALREADY_REPORTED",
        "a violation of this record is already proven",
    ),
    "EvidenceLedgerCheckFailed": ("CHECK_FAILED", "the re-check failed without naming a rule"),
    "EvidenceLedgerRecordAlreadyRetired": (
        "RECORD_ALREADY_RETIRED",
        "the record is already revoked or superseded",
    ),
    "EvidenceLedgerRetirementMismatch": (
        "RETIREMENT_MISMATCH",
        "the retirement names another record",
    ),
    "EvidenceLedgerInvalidSuccessor": ("INVALID_SUCCESSOR", "the successor record is invalid"),
    "EvidenceLedgerUnauthorizedRetirement": (
        "RETIREMENT_UNAUTHORIZED",
        "only the regulator, or the record's platform and funder together, retire it",
    ),
    # ---- the registry
    "RegistryUnknownParticipant": ("PARTICIPANT_UNKNOWN", "no participant has this id"),
    "RegistryInvalidRole": ("ROLE_INVALID", "a participant needs a role"),
    "RegistryInstitutionTypeRequired": (
        "INSTITUTION_TYPE_REQUIRED",
        "a funder needs an institution type",
    ),
    "RegistryInvalidSigner": ("SIGNER_INVALID", "the signer address is zero"),
    "RegistrySignerInUse": ("SIGNER_IN_USE", "another participant has this signer"),
    "RegistryEd25519KeyRequired": ("ED25519_KEY_REQUIRED", "a gateway needs an Ed25519 key"),
    "RegistryInvalidStatus": ("STATUS_INVALID", "not a status a participant can be set to"),
    "RegistryUnauthorized": (
        "REGISTRY_UNAUTHORIZED",
        "only the regulator or the participant itself may do this",
    ),
    "WhitelistCallerNotActiveFunder": (
        "FUNDER_NOT_ACTIVE",
        "whitelists are kept by active funders, from their current key",
    ),
    "WhitelistInvalidPartner": (
        "WHITELIST_INVALID_PARTNER",
        "only platforms and credit enhancers go on whitelists",
    ),
    "WhitelistAlreadyListed": ("WHITELIST_ALREADY_LISTED", "the partner is already listed"),
    "WhitelistNotListed": ("WHITELIST_NOT_LISTED", "the partner is not listed"),
    "WhitelistBackdatedChange": ("WHITELIST_BACKDATED", "whitelists cannot be backdated"),
    "WhitelistRemovalBeforeStart": (
        "WHITELIST_REMOVAL_BEFORE_START",
        "a removal cannot come before the listing starts",
    ),
    "RatePolicyInvalidRate": ("POLICY_RATE_INVALID", "a rate must be above 0 and sane"),
    "RatePolicyBackdatedChange": ("POLICY_BACKDATED", "rate policy cannot be backdated"),
    "RatePolicyOutOfOrder": (
        "POLICY_OUT_OF_ORDER",
        "a policy change cannot take effect before the last one",
    ),
    "RatePolicyInvalidInstitutionType": (
        "INSTITUTION_TYPE_INVALID",
        "caps are per institution type, not for none",
    ),
    # ---- OpenZeppelin
    "AccessControlUnauthorizedAccount": ("ROLE_MISSING", "the sender lacks the role this needs"),
    "AccessControlBadConfirmation": ("ROLE_CONFIRMATION_INVALID", "a role renounced for another"),
    "InvalidShortString": ("DOMAIN_STRING_INVALID", "an EIP-712 domain string is invalid"),
    "StringTooLong": ("DOMAIN_STRING_TOO_LONG", "an EIP-712 domain string is too long"),
}

LOAN_RULES: tuple[str, ...] = tuple(_LOAN_RULES)

#: loan rules whose failure can pass later without any change to the record (a suspended party
#: may be reinstated): a record refused for one of them is not rejected; it stays as it was, and
#: the same confirmation may be sent again
PASSING_RULE_CODES: frozenset[str] = frozenset({"PARTICIPANT_NOT_ACTIVE"})


def error_code(error_name: str | None) -> str:
    """The stable code of a custom error; `CHAIN_REJECTED` for one the table does not know."""
    if error_name and error_name in ERROR_CODES:
        return ERROR_CODES[error_name][0]
    return "CHAIN_REJECTED"


def error_for(revert: ContractRevert) -> RuleViolation | SignatureError | ChainError:
    """The library error for a contract revert (see the module docstring)."""
    name = revert.error_name
    if name is None or name not in ERROR_CODES:
        return revert
    code, meaning = ERROR_CODES[name]
    message = f"{meaning}: {name}{revert.error_args!r}"
    if code.startswith("SIGNATURE_"):
        return SignatureError(message, code=code)
    return RuleViolation(message, code=code)
