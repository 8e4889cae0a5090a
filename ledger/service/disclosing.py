"""Selective disclosure of a stored loan's fee form: some of its fields, with the multiproof that
ties them to the record's disclosure digest (`ledger.disclosure_proofs`).

Who may ask is one call (`check_may_disclose`): the loan's parties, the regulator, and an auditor
with a live grant covering the loan (the vault's grants). Every disclosure is logged in the
evidence log (who, which record, which paths), which is anchored on chain.

The seed comes from the vault (`record_secrets`), sealed per record at admission, so rotating the
derivation key loses no form; erased (shredded) records have none, and their fields can no
longer be disclosed (`DISCLOSURE_ERASED`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy.orm import Session

from ledger.access import Caller, Scope, require_role
from ledger.disclosure import FORMAT_V2, FeeDisclosure
from ledger.disclosure_proofs import Disclosure, disclose
from ledger.enums import Role
from ledger.errors import Conflict, NotFound, PermissionDenied
from ledger.records import LoanRecord
from ledger.store import Database, SubmissionRow
from ledger.vault import log_access
from ledger.vault.grants import live_grant_covers
from ledger.vault.secrets import RecordSecrets

__all__ = ["Disclosing", "check_may_disclose"]

#: the roles that may ask at all (auditors: with a grant)
_ROLES = (Role.REGULATOR, Role.PLATFORM, Role.FUNDER, Role.CREDIT_ENHANCER, Role.AUDITOR)


def check_may_disclose(
    s: Session, caller: Caller, record_id: str, row: SubmissionRow | None
) -> None:
    """Raises unless `caller` may see fields of the loan `row`'s fee form: its parties
    (platform, funder or co-funder, guarantor), the regulator, an auditor with a live grant
    covering it. ROLE_FORBIDDEN for other roles; RECORD_NOT_FOUND for a loan that is not the
    caller's (or does not exist); GRANT_REQUIRED for an auditor without a live grant."""
    require_role(caller, *_ROLES)
    if row is None:
        raise NotFound(f"no record {record_id}", code="RECORD_NOT_FOUND")
    if caller.role is Role.AUDITOR:
        if live_grant_covers(s, caller.participant_id, record_id, int(time.time())) is None:
            raise PermissionDenied(
                "no live access grant to you covers this loan", code="GRANT_REQUIRED"
            )
        return
    if not (caller.role is Role.REGULATOR or Scope.of(caller).allows(row)):
        raise NotFound(f"no record {record_id}", code="RECORD_NOT_FOUND")


class Disclosing:
    """Disclosures of stored loans' fee forms."""

    def __init__(self, db: Database, secrets: RecordSecrets) -> None:
        self.db = db
        self.secrets = secrets

    def disclose(self, caller: Caller, record_id: str, paths: Sequence[str]) -> Disclosure:
        """The fields of `record_id`'s form at or under `paths` (`check_may_disclose` first;
        logged): DISCLOSURE_NOT_SELECTIVE for a v1 form, DISCLOSURE_ERASED once erasure
        destroyed its seed, DISCLOSURE_UNKNOWN_PATH."""
        with self.db.session() as s:
            row = s.get(SubmissionRow, record_id)
            check_may_disclose(s, caller, record_id, row)
            assert row is not None
            secrets = self.secrets.read(s, record_id)
            record = LoanRecord.model_validate_json(row.record_json)
            raw = row.disclosure_json
        if secrets.shredded_at is not None or raw is None:
            raise Conflict(
                f"record {record_id} was erased: the seed of its fee form's salts is destroyed,"
                " so its fields can no longer be disclosed (the anchored digest stays)",
                code="DISCLOSURE_ERASED",
            )
        form = FeeDisclosure.model_validate_json(raw)
        if form.format == FORMAT_V2 and secrets.disclosure_seed is None:
            raise Conflict(
                f"the gateway holds no seed for record {record_id}'s fee form",
                code="DISCLOSURE_SEED_MISSING",
            )
        disclosure = disclose(
            form, secrets.disclosure_seed or b"", paths, record_id=record_id
        )  # a v1 form: DISCLOSURE_NOT_SELECTIVE before the seed is looked at
        if disclosure.disclosure_digest != record.disclosure_digest:
            raise Conflict(
                f"record {record_id}'s stored form and seed do not give its disclosure digest",
                code="DISCLOSURE_SEED_MISSING",
            )
        with self.db.session() as s:
            log_access(
                s,
                kind="disclosure_read",
                record_id=record_id,
                actor_id=caller.participant_id,
                actor_role=caller.role.label,
                details={"paths": sorted(paths)},
            )
        return disclosure
