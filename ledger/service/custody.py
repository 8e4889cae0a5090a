"""Keys the gateway holds: participants' custodial signing keys, sealed under the master key, and
the gateway's own identity (its chain account, its Ed25519 key for entry timestamps, its id).

Nothing here is stored in clear: a custodial key is sealed (AES-256-GCM) with its participant id
as associated data, so one sealed key cannot be swapped for another's; unsealed keys are kept in
memory once used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.errors import NotFound, PermissionDenied
from ledger.keystore import seal, unseal
from ledger.signing import LocalSigner
from ledger.store import Database, ParticipantRow
from ledger.timestamps import GatewayKey

__all__ = ["Custody", "GatewayIdentity"]


@dataclass(frozen=True)
class GatewayIdentity:
    """This gateway: its participant id, the account it anchors from, its Ed25519 key."""

    participant_id: int
    account: LocalAccount
    key: GatewayKey

    def sealed(self, master_key: bytes) -> str:
        secret = bytes(self.account.key) + self.key.seed
        return json.dumps(
            {"id": self.participant_id, "sealed": seal(master_key, secret, b"gateway").hex()}
        )

    @classmethod
    def unsealed(cls, master_key: bytes, stored: str) -> GatewayIdentity:
        info = json.loads(stored)
        secret = unseal(master_key, bytes.fromhex(info["sealed"]), b"gateway")
        return cls(
            int(info["id"]), Account.from_key(secret[:32]), GatewayKey.from_seed(secret[32:])
        )


def _associated(participant_id: int) -> bytes:
    return f"participant:{participant_id}".encode()


class Custody:
    """The custodial keys of participants, by id."""

    def __init__(self, db: Database, master_key: bytes) -> None:
        self.db = db
        self._master = master_key
        self._signers: dict[int, LocalSigner] = {}

    @property
    def master_key(self) -> bytes:
        return self._master

    def seal_key(self, participant_id: int, private_key: bytes) -> bytes:
        return seal(self._master, private_key, _associated(participant_id))

    def signer(self, participant_id: int) -> LocalSigner | None:
        """The participant's signer if the gateway keeps its key, else None."""
        if participant_id in self._signers:
            return self._signers[participant_id]
        with self.db.session() as s:
            row = s.get(ParticipantRow, participant_id)
        if row is None:
            raise NotFound(
                f"participant {participant_id} is not known to this gateway",
                code="PARTICIPANT_UNKNOWN",
            )
        if not row.custodial or row.encrypted_key is None:
            return None
        signer = LocalSigner(unseal(self._master, row.encrypted_key, _associated(participant_id)))
        self._signers[participant_id] = signer
        return signer

    def account(self, participant_id: int, what: str) -> LocalAccount:
        """The participant's chain account, to send a transaction from; NON_CUSTODIAL if the
        gateway does not hold its key (`what` says what the participant must do itself)."""
        signer = self.signer(participant_id)
        if signer is None:
            raise PermissionDenied(
                f"participant {participant_id} keeps its own key: {what}", code="NON_CUSTODIAL"
            )
        account: LocalAccount = Account.from_key(signer.private_key)
        return account
