"""Chain administration through the gateway: registering participants and setting their status
(the regulator's key), rate policy (caps, LPR), and funders' whitelists (the funder's key).

Every change is a transaction on the registry; the contract refuses what breaks its rules (a
backdated change, a partner that is not a platform...) with a custom error, reported here with
its stable code (`ledger.rules.error_code`). After each transaction the registry view follows the
chain at once, so the next request sees the change.

Every argument is checked against its bound (`ledger.bounds`) before anything is sent: a value
the contract or the database cannot hold is an `InputError`, never half a change (a participant
on chain that the database could not store).
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager
from typing import Any

from eth_utils.address import to_checksum_address

from ledger.access import Access
from ledger.anchoring import EvidenceChain
from ledger.bounds import (
    Address,
    Bps32,
    EffectiveTime,
    ParticipantId,
    check,
    check_text,
)
from ledger.chain.client import ChainClient, ContractRevert
from ledger.codes import error_code
from ledger.enums import InstitutionType, ParticipantStatus, Role
from ledger.errors import DatabaseUnavailable, InputError, NotFound, RuleViolation
from ledger.service.custody import Custody
from ledger.service.registry import RegistryFollower
from ledger.signing import LocalSigner
from ledger.store import Database, ParticipantRow

__all__ = ["Administration"]

#: gas money a custodial funder gets from the regulator's account at registration: it sends its
#: own whitelist transactions (0.1 ether: ~30 whitelist changes at 30 gwei)
_FUNDER_GAS_WEI = 10**17
REGULATOR_ID = 1
#: how long a registration already on chain waits for the database to store it
_STORE_PATIENCE_SECONDS = 10.0

log = logging.getLogger("ledger.service.administration")


class Administration:
    def __init__(
        self,
        db: Database,
        client: ChainClient,
        chain: EvidenceChain,
        custody: Custody,
        access: Access,
        registry: RegistryFollower,
        chain_lock: AbstractContextManager[Any],
    ) -> None:
        self.db = db
        self.client = client
        self.chain = chain
        self.custody = custody
        self.access = access
        self.registry = registry
        self.chain_lock = chain_lock

    def _send(self, sender_id: int, what: str, fn: Any) -> None:
        account = self.custody.account(sender_id, what)
        with self.chain_lock:
            try:
                receipt = self.client.transact(account, fn)
            except ContractRevert as exc:
                raise RuleViolation(
                    f"refused by the registry: {exc.error_name}{exc.error_args}",
                    code=error_code(exc.error_name),
                ) from exc
        self.registry.wait_for(int(receipt["blockNumber"]))

    # ------------------------------------------------------------------ participants

    def register_participant(
        self,
        role: Role,
        name: str,
        institution_type: InstitutionType = InstitutionType.NONE,
        signer_address: str | None = None,
        ed25519_public_key: bytes = b"\0" * 32,
    ) -> tuple[ParticipantRow, str]:
        """Registers on chain (regulator's key) and returns the row and a new API key.

        Without `signer_address` the gateway generates and keeps the key (custodial).

        The chain assigns the id, so it goes first, and the database is checked writable just
        before (a fault refuses the request with nothing sent); the row and its API key are then
        one transaction, retried through a short fault. If the database is still away after that
        the request fails with `DatabaseUnavailable` naming the participant: asked again with
        the same signer, name, role and institution type, the registration takes that
        participant over instead of registering it twice."""
        check_text(name, "name", 200, 1)
        if signer_address is not None:
            check(signer_address, Address, "signer_address")
        if role in (Role.NONE, Role.GATEWAY):
            raise InputError(f"participants of role {role.label} cannot be registered here")
        if role is Role.FUNDER and institution_type is InstitutionType.NONE:
            raise InputError(
                "a funder needs an institution type (rate caps depend on it)",
                code="INSTITUTION_TYPE_REQUIRED",
            )
        signer = LocalSigner.generate() if signer_address is None else None
        address = signer.address if signer else to_checksum_address(str(signer_address))
        pid = self._unstored(address, role, name, institution_type) if signer is None else None
        if pid is None:
            # the chain first (it assigns the id), so the database must be able to take the
            # row now: a fault refuses the registration before anything is sent
            self.db.check_writable()
            regulator = self.custody.account(REGULATOR_ID, "the regulator registers participants")
            with self.chain_lock:
                try:
                    pid = self.chain.register_participant(
                        regulator, role, address, name, institution_type, ed25519_public_key
                    )
                except ContractRevert as exc:
                    raise RuleViolation(
                        f"refused by the registry: {exc.error_name}{exc.error_args}",
                        code=error_code(exc.error_name),
                    ) from exc
                if signer is not None and role is Role.FUNDER:
                    self.client.transfer(regulator, address, _FUNDER_GAS_WEI)
                block = int(self.client.w3.eth.block_number)
            self.registry.wait_for(block)
        row = ParticipantRow(
            id=pid,
            role=role.label,
            institution_type=institution_type.label,
            name=name,
            signer_address=address,
            status=ParticipantStatus.ACTIVE.label,
            custodial=signer is not None,
            encrypted_key=self.custody.seal_key(pid, signer.private_key) if signer else None,
            registered_at=int(time.time()),
        )
        return row, self._store(row, role)

    def _store(self, row: ParticipantRow, role: Role) -> str:
        """Stores the registered participant and its first API key in one transaction; a
        database fault is waited out for `_STORE_PATIENCE_SECONDS` (the chain has it already).
        Past that, `DatabaseUnavailable` says what is left (see `register_participant`)."""
        deadline = time.monotonic() + _STORE_PATIENCE_SECONDS
        wait = 0.1
        while True:
            try:
                with self.db.session() as s:
                    s.merge(row)
                    s.flush()  # the row before its key (no ORM relationship orders them)
                    return self.access.issue_key(row.id, role, s)
            except DatabaseUnavailable as exc:
                if time.monotonic() + wait > deadline:
                    again = (
                        "register it again with the same signer_address once the database "
                        "is back (it is taken over, not registered twice)"
                        if not row.custodial
                        else "its generated key is lost: the regulator should suspend it"
                    )
                    log.error(
                        "participant registered on chain but not stored",
                        extra={"fields": {"participant_id": row.id, "error": exc.message}},
                    )
                    raise DatabaseUnavailable(
                        f"participant {row.id} is registered on chain but the database could "
                        f"not store it ({exc.message}); {again}",
                        code=exc.code,
                    ) from exc
                time.sleep(wait)
                wait = min(2 * wait, 1.0)

    def _unstored(
        self, address: str, role: Role, name: str, institution_type: InstitutionType
    ) -> int | None:
        """The id of a participant the chain has with this signer, role, name and institution
        type and the database does not: a registration whose database write failed, asked
        again. None otherwise (the contract then refuses a signer in use)."""
        self.registry.follow()
        for pid, p in self.registry.registry().participants.items():
            if (
                p.epochs
                and p.epochs[-1].signer.lower() == address.lower()
                and (p.role, p.institution_type, p.name) == (int(role), int(institution_type), name)
            ):
                with self.db.session() as s:
                    return None if s.get(ParticipantRow, pid) is not None else pid
        return None

    def set_participant_status(self, participant_id: int, status: ParticipantStatus) -> None:
        check(participant_id, ParticipantId, "participant_id")
        fns = self.chain.registry.functions
        self._send(
            REGULATOR_ID,
            "the regulator sets statuses",
            fns.setParticipantStatus(participant_id, int(status)),
        )
        with self.db.session() as s:
            row = s.get(ParticipantRow, participant_id)
            if row is not None:
                row.status = status.label

    def participants(self) -> list[ParticipantRow]:
        from sqlalchemy import select

        with self.db.session() as s:
            return list(s.execute(select(ParticipantRow).order_by(ParticipantRow.id)).scalars())

    def participant(self, participant_id: int) -> ParticipantRow:
        """One participant, or `NotFound` (`PARTICIPANT_UNKNOWN`)."""
        with self.db.session() as s:
            row = s.get(ParticipantRow, participant_id)
        if row is None:
            raise NotFound(f"no participant {participant_id}", code="PARTICIPANT_UNKNOWN")
        return row

    # ------------------------------------------------------------------ rate policy

    def set_rate_cap(
        self,
        institution_type: InstitutionType,
        cap_bps: int | None,
        effective_from: int = 0,
        *,
        lpr_multiple_bps: int | None = None,
    ) -> None:
        """A fixed cap (`cap_bps`), or one that is `lpr_multiple_bps` / 10,000 times the LPR in
        force (and follows it); exactly one of the two."""
        if (cap_bps is None) == (lpr_multiple_bps is None):
            raise InputError("give either cap_bps or lpr_multiple_bps")
        check(cap_bps if cap_bps is not None else lpr_multiple_bps, Bps32, "rate")
        check(effective_from, EffectiveTime, "effective_from")
        fns = self.chain.registry.functions
        call = (
            fns.setRateCap(int(institution_type), cap_bps, effective_from)
            if cap_bps is not None
            else fns.setRateCapAsLprMultiple(
                int(institution_type), lpr_multiple_bps, effective_from
            )
        )
        self._send(REGULATOR_ID, "the regulator sets caps", call)

    def set_lpr(self, lpr_bps: int, effective_from: int = 0) -> None:
        check(lpr_bps, Bps32, "lpr_bps")
        check(effective_from, EffectiveTime, "effective_from")
        fns = self.chain.registry.functions
        self._send(
            REGULATOR_ID, "the regulator records the LPR", fns.setLpr(lpr_bps, effective_from)
        )

    # ------------------------------------------------------------------ whitelists (R1)

    def whitelist_add(self, funder_id: int, partner_id: int, effective_from: int = 0) -> None:
        """The funder (custodial key) puts a partner on its whitelist, from now or later."""
        check(partner_id, ParticipantId, "partner_id")
        check(effective_from, EffectiveTime, "effective_from")
        fns = self.chain.registry.functions
        self._send(
            funder_id,
            "send addToWhitelist to the registry from it (GET /v1/deployment has the address)",
            fns.addToWhitelist(partner_id, effective_from),
        )

    def whitelist_remove(self, funder_id: int, partner_id: int, effective_until: int = 0) -> None:
        """The funder (custodial key) takes a partner off its whitelist, from now or later."""
        check(partner_id, ParticipantId, "partner_id")
        check(effective_until, EffectiveTime, "effective_until")
        fns = self.chain.registry.functions
        self._send(
            funder_id,
            "send removeFromWhitelist to the registry from it",
            fns.removeFromWhitelist(partner_id, effective_until),
        )

    def whitelists(self, funder_id: int | None = None) -> list[dict[str, Any]]:
        """Every funder-partner pair with its history of periods, from the registry view."""
        state = self.registry.registry()
        out = []
        for (funder, partner), periods in sorted(state.whitelist.items()):
            if funder_id is not None and funder != funder_id:
                continue
            role, _ = state.role_of(partner)
            out.append(
                {
                    "funder_id": funder,
                    "partner_id": partner,
                    "partner_role": Role(role).label,
                    "periods": [
                        {"valid_from": valid_from, "valid_until": valid_until or None}
                        for valid_from, valid_until in periods
                    ],
                }
            )
        return out
