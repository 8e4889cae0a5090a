"""Opening a borrower commitment (`ledger.commitments`): the vault hands the record's HMAC key
and salt to the loan's platform (which acts for the borrower) and to the regulator (each time logged in the evidence log), never the
identity, which the gateway does not store. Whoever then shows a court the identity, key and
salt proves the record is that borrower's; nobody can derive them from the record or another
record's opening.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.access import Caller
from ledger.commitments import COMMITMENT_SCHEME, OpeningSecret, unpack_secret
from ledger.enums import Role
from ledger.errors import Gone, NotFound, PermissionDenied
from ledger.records import LoanRecord
from ledger.store import Database, SubmissionRow
from ledger.vault import log_access
from ledger.vault.secrets import RecordSecrets

__all__ = ["Openings"]


class Openings:
    def __init__(self, db: Database, secrets: RecordSecrets) -> None:
        self.db = db
        self.secrets = secrets

    def secret(self, caller: Caller, record_id: str) -> OpeningSecret:
        """The key and salt of a record's borrower commitment, for its platform or the
        regulator. `PermissionDenied` for anyone else (`OPENING_FORBIDDEN`), `NotFound` for a
        record the caller cannot see or whose commitment the platform made itself
        (`OPENING_NOT_HELD`), `Gone` once erased (`OPENING_ERASED`)."""
        if caller.role not in (Role.PLATFORM, Role.REGULATOR):
            raise PermissionDenied(
                "only the loan's platform (for its borrower) and the regulator may open a"
                " borrower commitment",
                code="OPENING_FORBIDDEN",
            )
        with self.db.session() as s:
            return self._secret(s, caller, record_id)

    def _secret(self, s: Session, caller: Caller, record_id: str) -> OpeningSecret:
        row = s.get(SubmissionRow, record_id)
        if row is None or (
            caller.role is Role.PLATFORM and row.platform_id != caller.participant_id
        ):
            raise NotFound(f"no record {record_id}", code="RECORD_NOT_FOUND")
        kept = self.secrets.read(s, record_id)
        if kept.shredded_at is not None:
            raise Gone(
                f"the secrets of record {record_id} were erased: its borrower commitment can no"
                " longer be opened",
                code="OPENING_ERASED",
            )
        if kept.borrower_salt is None:
            raise NotFound(
                f"the platform made the borrower commitment of record {record_id} itself: it"
                " holds the key and salt",
                code="OPENING_NOT_HELD",
            )
        key, salt = unpack_secret(kept.borrower_salt)
        log_access(  # committed with the read: who opened which record's commitment, when
            s,
            kind="commitment_opening",
            record_id=record_id,
            actor_id=caller.participant_id,
            actor_role=caller.role.label,
            details={},
        )
        commitment = LoanRecord.model_validate_json(row.record_json).borrower_commitment
        return OpeningSecret(
            record_id=record_id,
            commitment=commitment,
            scheme=COMMITMENT_SCHEME,
            key="0x" + key.hex(),
            salt="0x" + salt.hex(),
        )
