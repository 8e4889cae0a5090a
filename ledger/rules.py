"""The 助贷 loan rules in Python: `check_rules` is `EvidenceLedger._checkLoan`, rule for rule.

The contract is the authority: per-record anchoring runs its `_checkLoan`, and any batched
record can be re-checked by it (`reportViolation`). The gateway checks batched records itself,
for throughput, with this mirror over its registry view (the contracts' state rebuilt from their
events, `ledger.chain.state.RegistryState`): no chain read per record.
tests/unit/test_rules_parity.py runs the mirror and the contract's `checkLoan` on the same records
and asserts the same verdict (the same custom error), so the two cannot drift unnoticed. The
stable codes of the errors are `ledger.codes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ledger.chain.state import Epoch
from ledger.codes import ERROR_CODES
from ledger.disclosure import FeeCategory, FeeDisclosure
from ledger.errors import RuleViolation, SignatureError
from ledger.records import FLAG_LEGACY, LoanRecord
from ledger.signing import recover_address

__all__ = [
    "CREDIT_ENHANCEMENT_FEES",
    "MAX_CLOCK_SKEW_SECONDS",
    "RegistryReader",
    "check_fee_collectors",
    "check_rules",
]


class RegistryReader(Protocol):
    """What the rules read of the registry (`RegistryState` answers it)."""

    def epoch_at(self, participant_id: int, at: int) -> Epoch: ...
    def role_of(self, participant_id: int) -> tuple[int, int]: ...
    def is_whitelisted(self, funder_id: int, partner_id: int, at: int) -> bool: ...
    def rate_cap_at(self, institution_type: int, at: int) -> tuple[bool, int]: ...
    def co_funding_floor_at(self, at: int) -> int: ...
    def legacy_cutoff_at(self, at: int) -> int: ...


#: `EvidenceLedger._MAX_CLOCK_SKEW`: how far ahead of the check a loan may be dated.
MAX_CLOCK_SKEW_SECONDS = 15 * 60
_ACTIVE = 1
_ROLE_FUNDER, _ROLE_PLATFORM, _ROLE_CREDIT_ENHANCER = 1, 2, 3


def _violation(error_name: str, detail: str) -> RuleViolation | SignatureError:
    code, meaning = ERROR_CODES[error_name]
    message = f"{meaning}: {detail}"
    if code.startswith("SIGNATURE_"):
        return SignatureError(message, code=code)
    return RuleViolation(message, code=code)


def check_rules(
    record: LoanRecord,
    view: RegistryReader,
    at: int,
    *,
    record_id: bytes | None = None,
    signatures: Sequence[bytes] | None = None,
    signers: Sequence[str] | None = None,
) -> None:
    """`EvidenceLedger._checkLoan` in Python: raises the first rule broken, with its stable code.

    Without `signatures` the signature rules are skipped (a record the funder has yet to sign).
    `signers`, when given, are the addresses the signatures are known to recover to (the gateway
    made them, or recovered them when they came in): they are compared with the registered keys
    without recovering each signature again.
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
        epoch = view.epoch_at(participant_id, at)
        if epoch.status != _ACTIVE:
            raise _violation("EvidenceLedgerParticipantNotActive", f"participant {participant_id}")
        actual, institution = view.role_of(participant_id)
        if actual != role:
            raise _violation(
                "EvidenceLedgerWrongRole", f"participant {participant_id} is not role {role}"
            )
        if signatures is not None and record_id is not None:
            if signers is not None:
                recovered = signers[index]
            else:
                try:
                    recovered = recover_address(record_id, signatures[index])
                except SignatureError:
                    recovered = "0x0000000000000000000000000000000000000000"
            if recovered.lower() != epoch.signer.lower():
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
    # stock predates the whitelists: it is cleared through partners listed when it is anchored
    listed_at = at if record.is_legacy else record.issued_at

    def listed(funder_id: int, who: str) -> None:
        if not view.is_whitelisted(funder_id, record.platform_id, listed_at):
            raise _violation(
                "EvidenceLedgerPlatformNotWhitelisted",
                f"platform {record.platform_id}, {who} {funder_id}",
            )
        if record.guarantor_id and not view.is_whitelisted(
            funder_id, record.guarantor_id, listed_at
        ):
            raise _violation(
                "EvidenceLedgerGuarantorNotWhitelisted",
                f"guarantor {record.guarantor_id}, {who} {funder_id}",
            )

    listed(record.funder_id, "funder")

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
        listed(record.co_funder_id, "co-funder")  # R1: the co-funder lists them too
        cap = min(cap, cap_for(co_type))
    if not record.is_legacy and record.apr_bps > cap:
        raise _violation(
            "EvidenceLedgerRateCapExceeded", f"APR {record.apr_bps} bps > cap {cap} bps"
        )


#: fees for credit enhancement (增信): paid to a guarantor or insurer standing behind the loan
CREDIT_ENHANCEMENT_FEES = frozenset(
    {FeeCategory.GUARANTEE, FeeCategory.CREDIT_ENHANCEMENT, FeeCategory.INSURANCE}
)


def check_fee_collectors(form: FeeDisclosure, record: LoanRecord, view: RegistryReader) -> None:
    """R1 for the fee disclosure's collectors (off chain: the contract sees only the form's
    digest). A credit-enhancement fee needs the record's guarantor — who then signs and must be
    on every funder's whitelist — and, when the form names its collector's participant id, that
    id must be the guarantor. Any other fee whose collector is a participant is collected by a
    party to the loan or by a partner every funder lists at the issue time; for a legacy loan,
    issued before the lists existed (R8), such a collector is not checked."""
    funders = [record.funder_id] + ([record.co_funder_id] if record.co_funder_id else [])
    parties = {record.platform_id, *funders, record.guarantor_id} - {0}
    for item in form.fees:
        collector = item.collector_participant_id
        if item.category in CREDIT_ENHANCEMENT_FEES:
            if record.guarantor_id == 0 or collector not in (None, record.guarantor_id):
                raise RuleViolation(
                    f"fee {item.name!r} ({item.category.value}) is credit enhancement: its"
                    f" collector must be the loan's guarantor, who signs the record and is on the"
                    f" funder's whitelist (guarantor {record.guarantor_id or 'none'}, collector"
                    f" {collector or 'not named'})",
                    code="FEE_COLLECTOR_NOT_GUARANTOR",
                )
        elif collector is not None and collector not in parties and not record.is_legacy:
            missing = [
                f for f in funders if not view.is_whitelisted(f, collector, record.issued_at)
            ]
            if missing:
                raise RuleViolation(
                    f"fee {item.name!r} is collected by participant {collector}, who is neither a"
                    f" party to the loan nor on the whitelist of funder {missing[0]}",
                    code="FEE_COLLECTOR_NOT_WHITELISTED",
                )
