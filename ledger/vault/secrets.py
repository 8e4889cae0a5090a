"""A record's secrets in the vault: what opens its borrower commitment and the seed of its fee
form's salted leaves, each sealed under the master key (AES-256-GCM, bound to the record id and
the field as associated data) in `record_secrets`.

Only the gateway (with the master key) can unseal them; it hands them out to the loan's parties,
the regulator and granted auditors. Erasure (`shred`) overwrites both with NULL: from then on the
commitment can never be opened and the form's fields never disclosed one by one, while the
record's hash stays anchored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from ledger.keystore import seal, unseal
from ledger.store import RecordSecretRow

__all__ = ["RecordSecrets", "Secrets"]


@dataclass(frozen=True)
class Secrets:
    """The secrets of one record (None: the gateway never held it, or it was shredded)."""

    borrower_salt: bytes | None = None
    disclosure_seed: bytes | None = None
    shredded_at: float | None = None

    def __bool__(self) -> bool:
        return self.borrower_salt is not None or self.disclosure_seed is not None


def _associated(field: str, record_id: str) -> bytes:
    return f"record-secret:{field}:{record_id.lower()}".encode()


class RecordSecrets:
    """Seals, stores, reads and shreds records' secrets (`record_secrets`)."""

    def __init__(self, master_key: bytes) -> None:
        self._master = master_key

    def _sealed(self, field: str, record_id: str, value: bytes | None) -> bytes | None:
        return None if value is None else seal(self._master, value, _associated(field, record_id))

    def store(self, s: Session, items: list[tuple[str, Secrets]]) -> None:
        """Stores the non-empty secrets of newly inserted records, in session `s`."""
        now = time.time()
        rows = [
            {
                "record_id": record_id,
                "borrower_salt": self._sealed("borrower_salt", record_id, secret.borrower_salt),
                "disclosure_seed": self._sealed(
                    "disclosure_seed", record_id, secret.disclosure_seed
                ),
                "created_at": now,
                "shredded_at": None,
            }
            for record_id, secret in items
            if secret
        ]
        if rows:
            s.execute(insert(RecordSecretRow), rows)

    def read(self, s: Session, record_id: str) -> Secrets:
        """The record's secrets, unsealed (empty if it has none)."""
        row = s.get(RecordSecretRow, record_id)
        if row is None:
            return Secrets()
        return Secrets(
            borrower_salt=None
            if row.borrower_salt is None
            else unseal(self._master, row.borrower_salt, _associated("borrower_salt", record_id)),
            disclosure_seed=None
            if row.disclosure_seed is None
            else unseal(
                self._master, row.disclosure_seed, _associated("disclosure_seed", record_id)
            ),
            shredded_at=row.shredded_at,
        )

    @staticmethod
    def shred(s: Session, record_id: str, at: float) -> None:
        """Destroys the record's secrets (erasure); a row is kept with the time it happened."""
        row = s.get(RecordSecretRow, record_id)
        if row is None:
            s.add(RecordSecretRow(record_id=record_id, created_at=at, shredded_at=at))
            return
        s.execute(
            update(RecordSecretRow)
            .where(RecordSecretRow.record_id == record_id)
            .values(borrower_salt=None, disclosure_seed=None, shredded_at=at)
        )
