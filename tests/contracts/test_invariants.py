"""Property-based tests of the contracts' invariants (issue 12, item 7).

A hypothesis state machine drives the real contracts on the embedded chain (eth-tester) through
random sequences of: participants registered, suspended, reactivated and given new keys; funders'
whitelist entries added and removed (now, backdated, scheduled); rate caps (fixed or linked to the
LPR) and LPRs set with effective dates; `anchorLoan` with valid and forged signatures (wrong key,
stale key, another party's key, swapped, missing, malformed, over another record), by non-funders,
suspended or unlisted parties, above the cap; `anchorBatch` by gateways and by others, and
`reportViolation` on the batched records; revocations and amendments by the regulator, by the
record's platform and funder, and by anyone else; and policy calls by accounts without the role.

A Python model keeps the registry's histories and the ledger's records. It predicts every call's
outcome -- success, or the exact custom error with its arguments -- and the test fails on any
difference. After every step, and again at the end of each run, the invariants are checked on the
chain itself (views of the contracts, not the model):

* I1 every record anchored per record has a funder signature that recovers to the funder's key
  of the anchoring time, the funder was an active funder then, and so was the platform (and the
  guarantor) with its own signature;
* I2 at its issue time the platform (and guarantor) was on the funder's whitelist and the APR
  within the funder type's cap (legacy stock: listed when anchored, issued before the cutoff);
* I3 only the regulator changes participants and rate policy: every such call from another
  account reverts with `AccessControlUnauthorizedAccount` and the histories stay as they were;
* I4 revocation is final: a retired record keeps its state for good, and re-anchoring or
  retiring it again reverts (`EvidenceLedgerDuplicateRecord`, `EvidenceLedgerRecordAlreadyRetired`);
* I5 history is never backdated: every checkpoint (key epoch, whitelist period, cap, LPR) takes
  effect no earlier than the block that wrote it, histories stay ordered, and what the views
  answered about a past time never changes later;
* I6 a batched record that breaks a rule can be proven (`ViolationProven` with the rule's error),
  one that keeps them cannot (`EvidenceLedgerNoViolation`).

Runs are deterministic (`derandomize`, no example database, keys and digests derived from
counters) and bounded; the figures (runs, steps, calls, reverts by custom error) are printed at
the end and asserted non-zero, so a run that exercised nothing fails.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from ledger.chain.artifacts import decode_custom_error
from ledger.chain.client import ContractRevert
from ledger.eip712 import retirement_digest
from ledger.enums import InstitutionType, ParticipantStatus, RecordStatus, Role
from ledger.errors import SignatureError
from ledger.hashing import keccak256
from ledger.records import FLAG_LEGACY, LoanRecord, Retirement
from ledger.signing import LocalSigner, recover_address

from .conftest import (
    DEFAULT_ADMIN_ROLE,
    GAS_MONEY,
    NO_INCLUSION,
    REGULATOR_ROLE,
    ZERO32,
    ZERO_ADDRESS,
    BatchInfo,
    Env,
    _Chain,
    _norm,
    hex32,
)

# The embedded chain only: anvil runs the same contracts, and the other suites cover it.
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("_chain", ["eth-tester"], indirect=True)]

#: Bounded and deterministic: about a minute and a half on one core of the CI machine.
RUNS = 15
STEPS = 50
#: No shrinking by default: a failure prints its steps and a reproduction blob at once, within
#: the time bound; INVARIANTS_SHRINK=1 shrinks it (minutes) when debugging locally.
SETTINGS = settings(
    phases=[Phase.explicit, Phase.generate]
    + ([Phase.shrink] if os.environ.get("INVARIANTS_SHRINK") else []),
    max_examples=RUNS,
    stateful_step_count=STEPS,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

ACTIVE, SUSPENDED = int(ParticipantStatus.ACTIVE), int(ParticipantStatus.SUSPENDED)
MAX_RATE_BPS = 1_000_000
MAX_CLOCK_SKEW = 15 * 60
POLICY_TYPES = [int(InstitutionType.BANK), int(InstitutionType.SMALL_LOAN), 2]  # 2: trust
ALL_TYPES = [int(t) for t in InstitutionType if t is not InstitutionType.NONE]

#: What every run added up to (printed and checked by the test at the end).
FIGURES: Counter[str] = Counter()
REVERTS: Counter[str] = Counter()


class Refused(Exception):
    """The model's prediction that a call reverts with this custom error and arguments."""

    def __init__(self, name: str, *args: Any) -> None:
        super().__init__(name, args)
        self.name = name
        self.args_ = args


def _recover(digest: bytes, signature: bytes) -> str:
    """What OpenZeppelin's `ECDSA.tryRecover` yields: the signer, or address(0) if malformed."""
    try:
        return recover_address(digest, signature)
    except SignatureError:
        return ZERO_ADDRESS


# ------------------------------------------------------------------------------------ the model


@dataclass
class MParty:
    id: int
    role: int
    itype: int
    signer: LocalSigner
    #: (signer address, status, validFrom) in the order written.
    epochs: list[tuple[str, int, int]]
    old_signers: list[LocalSigner] = field(default_factory=list)

    def epoch_at(self, at: int) -> tuple[str, int]:
        for signer, status, valid_from in reversed(self.epochs):
            if valid_from <= at:
                return signer, status
        return ZERO_ADDRESS, 0

    @property
    def account(self) -> LocalAccount:
        account: LocalAccount = Account.from_key(self.signer.private_key)
        return account


@dataclass
class MRecord:
    record: LoanRecord
    signatures: list[bytes]
    status: int = int(RecordStatus.UNKNOWN)
    anchored_at: int = 0
    retired_at: int = 0
    reason_code: int = 0
    superseded_by: bytes = ZERO32
    per_record: bool = False
    #: (root, index) of each batch it is in.
    batches: list[tuple[bytes, int]] = field(default_factory=list)

    def state(self) -> tuple[int, int, int, int, bytes]:
        return (
            self.status,
            self.anchored_at,
            self.retired_at,
            self.reason_code,
            self.superseded_by,
        )


@dataclass
class MBatch:
    gateway_id: int
    anchored_at: int
    info: BatchInfo


@dataclass
class Model:
    parties: dict[int, MParty] = field(default_factory=dict)
    bound: dict[str, int] = field(default_factory=dict)  # lowercase address -> participant
    count: int = 0
    whitelist: dict[tuple[int, int], list[list[int]]] = field(default_factory=dict)
    caps: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    lpr: list[tuple[int, int]] = field(default_factory=list)
    legacy_cutoff: int = 0
    records: dict[bytes, MRecord] = field(default_factory=dict)
    batches: dict[bytes, MBatch] = field(default_factory=dict)
    violations: dict[bytes, str] = field(default_factory=dict)

    # -- registry views ---------------------------------------------------------------------------

    def epoch_at(self, pid: int, at: int) -> tuple[str, int]:
        party = self.parties.get(pid)
        return party.epoch_at(at) if party else (ZERO_ADDRESS, 0)

    def role_of(self, pid: int) -> tuple[int, int]:
        party = self.parties.get(pid)
        return (party.role, party.itype) if party else (0, 0)

    def active_participant_of(self, address: str) -> tuple[int, int]:
        pid = self.bound.get(address.lower(), 0)
        if pid == 0:
            return 0, 0
        signer, status, _ = self.parties[pid].epochs[-1]
        if signer.lower() != address.lower() or status != ACTIVE:
            return 0, 0
        return pid, self.parties[pid].role

    def is_whitelisted(self, funder: int, partner: int, at: int) -> bool:
        for valid_from, valid_until in reversed(self.whitelist.get((funder, partner), [])):
            if valid_from <= at:
                return valid_until == 0 or at < valid_until
        return False

    def lpr_at(self, at: int) -> int:
        for bps, valid_from in reversed(self.lpr):
            if valid_from <= at:
                return bps
        return 0

    def rate_cap_at(self, itype: int, at: int) -> tuple[bool, int]:
        caps = self.caps.get(itype, [])
        if not caps:
            return False, 0
        cap = caps[0]
        for entry in reversed(caps):
            if entry[1] <= at:
                cap = entry
                break
        if cap[2] == 0:
            return True, cap[0]
        lpr = self.lpr_at(at)
        if lpr == 0:
            return False, 0
        return True, min(lpr * cap[2] // 10_000, MAX_RATE_BPS)

    # -- the ledger's rules, in the contract's order ----------------------------------------------

    def check_party(self, pid: int, role: Role, digest: bytes, signature: bytes, at: int) -> int:
        signer, status = self.epoch_at(pid, at)
        if status != ACTIVE:
            raise Refused("EvidenceLedgerParticipantNotActive", pid)
        actual, itype = self.role_of(pid)
        if actual != int(role):
            raise Refused("EvidenceLedgerWrongRole", pid, int(role))
        recovered = _recover(digest, signature)
        if recovered == ZERO_ADDRESS or recovered.lower() != signer.lower():
            raise Refused("EvidenceLedgerInvalidSignature", pid, recovered)
        return itype

    def cap_for(self, itype: int, at: int) -> int:
        found, cap = self.rate_cap_at(itype, at)
        if not found:
            raise Refused("EvidenceLedgerNoRateCap", itype)
        return cap

    def check_loan(self, r: LoanRecord, sigs: list[bytes], rid: bytes, at: int) -> None:
        if r.principal == 0:
            raise Refused("EvidenceLedgerZeroPrincipal")
        if r.flags & ~FLAG_LEGACY & 0xFF:
            raise Refused("EvidenceLedgerUnknownFlags", r.flags)
        if r.issued_at > at and r.issued_at - at > MAX_CLOCK_SKEW:
            raise Refused("EvidenceLedgerIssuedInFuture", r.issued_at, at)
        expected = 2 + (1 if r.guarantor_id else 0) + (1 if r.co_funder_id else 0)
        if len(sigs) != expected:
            raise Refused("EvidenceLedgerSignatureCountMismatch", expected, len(sigs))
        self.check_party(r.platform_id, Role.PLATFORM, rid, sigs[0], at)
        funder_type = self.check_party(r.funder_id, Role.FUNDER, rid, sigs[1], at)
        if r.guarantor_id:
            self.check_party(r.guarantor_id, Role.CREDIT_ENHANCER, rid, sigs[2], at)
        legacy = bool(r.flags & FLAG_LEGACY)
        if legacy and r.issued_at >= self.legacy_cutoff:
            raise Refused("EvidenceLedgerLegacyAfterCutoff", r.issued_at, self.legacy_cutoff)
        listed_at = at if legacy else r.issued_at
        if not self.is_whitelisted(r.funder_id, r.platform_id, listed_at):
            raise Refused("EvidenceLedgerPlatformNotWhitelisted", r.funder_id, r.platform_id)
        if r.guarantor_id and not self.is_whitelisted(r.funder_id, r.guarantor_id, listed_at):
            raise Refused("EvidenceLedgerGuarantorNotWhitelisted", r.funder_id, r.guarantor_id)
        cap = self.cap_for(funder_type, r.issued_at)
        assert r.co_funder_id == 0  # co-funding has its own suite (test_anchor_loan)
        if r.co_funder_share_bps != 0:
            raise Refused("EvidenceLedgerInvalidCoFunding")
        if not legacy and r.apr_bps > cap:
            raise Refused("EvidenceLedgerRateCapExceeded", r.apr_bps, cap)

    def signed_by_active(self, digest: bytes, signature: bytes, pid: int, role: Role) -> bool:
        recovered = _recover(digest, signature)
        if recovered == ZERO_ADDRESS:
            return False
        found, actual = self.active_participant_of(recovered)
        return actual == int(role) and (pid == 0 or found == pid)

    def may_retire(self, r: LoanRecord, digest: bytes, sigs: list[bytes]) -> bool:
        if len(sigs) == 1:
            return self.signed_by_active(digest, sigs[0], 0, Role.REGULATOR)
        if len(sigs) == 2:
            return self.signed_by_active(
                digest, sigs[0], r.platform_id, Role.PLATFORM
            ) and self.signed_by_active(digest, sigs[1], r.funder_id, Role.FUNDER)
        return False


# ------------------------------------------------------------------------------------ the machine


OFFSETS = [0, 0, -1, -30, -600, -3_600, -86_400, 300, MAX_CLOCK_SKEW + 1, 5_000]
APRS = [1, 1_200, 1_201, 1_800, 2_400, 2_401, 3_600, 5_000]
#: What `draw_loan` breaks on purpose ("none": nothing the model knows of).
BREAKAGES = [
    "none",
    "none",
    "none",
    "funder",
    "platform",
    "guarantor",
    "issued",
    "legacy",
    "flags",
    "principal",
    "co-funding",
    "apr",
    "apr",
]
FORGERIES = [
    "wrong-key",
    "stale-key",
    "platform-key",
    "swapped",
    "missing",
    "extra",
    "malformed",
    "other-record",
]


class LedgerMachine(RuleBasedStateMachine):
    """One run: fresh contracts (the base snapshot), a model initialised from their views."""

    chain: ClassVar[_Chain]

    def __init__(self) -> None:
        super().__init__()
        FIGURES["runs"] += 1
        self.chain.revert()
        self.env = env = Env(self.chain)
        self.run = FIGURES["runs"]
        self.serial = 0
        self.reg = env.registry
        self.led = env.ledger
        self.regulator_account = env.regulator_account
        model = self.model = Model()
        for party in env.parties.values():
            epochs = [
                (str(e[0]), int(e[2]), int(e[3]))
                for e in env.call(self.reg.functions.epochs(party.id))
            ]
            model.parties[party.id] = MParty(
                party.id, int(party.role), int(party.institution_type), party.signer, epochs
            )
            model.bound[party.address.lower()] = party.id
        model.count = env.call(self.reg.functions.participantCount())
        for funder in (env.bank, env.small_loan):
            for partner in env.parties.values():
                periods = env.call(self.reg.functions.whitelistHistory(funder.id, partner.id))
                if periods:
                    model.whitelist[funder.id, partner.id] = [[int(a), int(b)] for a, b in periods]
        for itype in ALL_TYPES:
            model.caps[itype] = [
                (int(c), int(f), int(m))
                for c, f, m in env.call(self.reg.functions.rateCapHistory(itype))
            ]
        for log in self.reg.events.LprSet().get_logs(from_block=0):
            model.lpr.append((int(log["args"]["lprBps"]), int(log["args"]["effectiveFrom"])))
        assert model.lpr, "the deployment sets a genesis LPR"
        model.legacy_cutoff = env.call(self.reg.functions.legacyCutoff())
        #: Answers of the views about past times, re-asked at the end (I5).
        self.past: dict[tuple[Any, ...], Any] = {}
        #: State of each retired record when first retired (I4).
        self.retired: dict[bytes, tuple[Any, ...]] = {}
        self.touched_records: set[bytes] = set()
        self.touched_parties: set[int] = set()
        self.touched_pairs: set[tuple[int, int]] = set()
        self.touched_types: set[int] = set()
        self.lpr_touched = False

    # -- helpers ----------------------------------------------------------------------------------

    def fresh_signer(self) -> LocalSigner:
        self.serial += 1
        return LocalSigner(keccak256(f"invariants {self.run} {self.serial}".encode()))

    def digest32(self, label: str) -> str:
        self.serial += 1
        return hex32(keccak256(f"{label} {self.run} {self.serial}".encode()))

    def now(self) -> int:
        """`block.timestamp` of the next transaction (what its simulation sees)."""
        return self.env.sim_time()

    def parties_with(self, *roles: Role) -> list[MParty]:
        wanted = {int(r) for r in roles}
        return [p for p in self.model.parties.values() if p.role in wanted]

    def pick_id(self, data: st.DataObject, *roles: Role, unknown: bool = True) -> int:
        """Mostly a participant with one of `roles`; sometimes anyone, or an unknown id."""
        preferred = [p.id for p in self.parties_with(*roles)]
        anyone = sorted(self.model.parties)
        choice = data.draw(st.integers(0, 9))
        if preferred and choice < 7:
            return int(data.draw(st.sampled_from(preferred)))
        if unknown and choice == 9:
            return self.model.count + 1
        return int(data.draw(st.sampled_from(anyone)))

    def send(
        self, sender: LocalAccount, fn: ContractFunction, expected: Refused | None, what: str
    ) -> TxReceipt | None:
        """Sends a transaction the model predicted; checks it did exactly that."""
        FIGURES["calls"] += 1
        FIGURES[f"call {what}"] += 1
        if expected is None:
            receipt = self.env.transact(sender, fn)
            FIGURES["succeeded"] += 1
            return receipt
        with pytest.raises(ContractRevert) as info:
            self.env.transact(sender, fn)
        error = info.value
        assert error.error_name == expected.name, f"{what}: expected {expected.args}, got {error}"
        assert _norm(error.error_args) == _norm(expected.args_), f"{what}: got {error}"
        REVERTS[expected.name] += 1
        return None

    def predict(self, check: Callable[[], Any]) -> tuple[Refused | None, Any]:
        try:
            return None, check()
        except Refused as refused:
            return refused, None

    def block_time(self, receipt: TxReceipt, predicted_now: int) -> int:
        at = self.env.block_time(receipt)
        # The model predicted with the simulation's time; the block must carry the same time.
        assert at == predicted_now, (at, predicted_now)
        return at

    def non_regulator(self, data: st.DataObject) -> LocalAccount:
        choices = [p for p in self.model.parties.values() if p.id != 1]
        pick = data.draw(st.integers(0, len(choices)))
        if pick == len(choices):
            return self.env.outsider
        return choices[pick].account

    # -- participants -----------------------------------------------------------------------------

    @rule(data=st.data())
    def register(self, data: st.DataObject) -> None:
        role = int(
            data.draw(
                st.sampled_from([Role.FUNDER, Role.PLATFORM, Role.CREDIT_ENHANCER, Role.NONE])
            )
        )
        itype = data.draw(st.sampled_from([*POLICY_TYPES, 0])) if role == Role.FUNDER else 0
        reuse = data.draw(st.integers(0, 9)) == 9
        if reuse:
            signer = self.model.parties[
                int(data.draw(st.sampled_from(sorted(self.model.parties))))
            ].signer
        else:
            signer = self.fresh_signer()
        model, new_id = self.model, self.model.count + 1

        def check() -> None:
            if role == 0:
                raise Refused("RegistryInvalidRole")
            if role == Role.FUNDER and itype == 0:
                raise Refused("RegistryInstitutionTypeRequired", new_id)
            holder = model.bound.get(signer.address.lower(), 0)
            if holder:
                raise Refused("RegistrySignerInUse", signer.address, holder)

        expected, _ = self.predict(check)
        now = self.now()
        fn = self.reg.functions.registerParticipant(role, itype, signer.address, ZERO32, "p")
        receipt = self.send(self.regulator_account, fn, expected, "registerParticipant")
        if receipt is None:
            return
        at = self.block_time(receipt, now)
        model.count = new_id
        model.parties[new_id] = MParty(new_id, role, itype, signer, [(signer.address, ACTIVE, at)])
        model.bound[signer.address.lower()] = new_id
        self.touched_parties.add(new_id)
        self.env.client.fund(signer.address, GAS_MONEY)

    @rule(data=st.data())
    def set_status(self, data: st.DataObject) -> None:
        candidates = [pid for pid in self.model.parties if pid != 1]
        pid = int(data.draw(st.sampled_from([*candidates, self.model.count + 1])))
        status = int(data.draw(st.sampled_from([SUSPENDED, ACTIVE, SUSPENDED, 0])))

        def check() -> None:
            if status == 0:
                raise Refused("RegistryInvalidStatus")
            if pid not in self.model.parties:
                raise Refused("RegistryUnknownParticipant", pid)

        expected, _ = self.predict(check)
        now = self.now()
        fn = self.reg.functions.setParticipantStatus(pid, status)
        receipt = self.send(self.regulator_account, fn, expected, "setParticipantStatus")
        self.touched_parties.add(pid)
        if receipt is not None:
            party = self.model.parties[pid]
            party.epochs.append((party.epochs[-1][0], status, self.block_time(receipt, now)))

    @rule(data=st.data())
    def rotate_signer(self, data: st.DataObject) -> None:
        candidates = [pid for pid in self.model.parties if pid != 1]
        pid = int(data.draw(st.sampled_from(candidates)))
        party = self.model.parties[pid]
        taken = data.draw(st.integers(0, 9)) == 9
        new = self.model.parties[2].signer if taken else self.fresh_signer()
        holder = self.model.bound.get(new.address.lower(), 0)
        expected = Refused("RegistrySignerInUse", new.address, holder) if holder else None
        now = self.now()
        fn = self.reg.functions.rotateSigner(pid, new.address)
        receipt = self.send(self.regulator_account, fn, expected, "rotateSigner")
        self.touched_parties.add(pid)
        if receipt is None:
            return
        at = self.block_time(receipt, now)
        party.old_signers.append(party.signer)
        party.signer = new
        party.epochs.append((new.address, party.epochs[-1][1], at))
        self.model.bound[new.address.lower()] = pid
        self.env.client.fund(new.address, GAS_MONEY)

    # -- whitelists (R1) --------------------------------------------------------------------------

    def whitelist_caller(self, data: st.DataObject) -> tuple[LocalAccount, int]:
        """A funder's current key mostly; else a stale key, another party, or an outsider."""
        funders = self.parties_with(Role.FUNDER)
        choice = data.draw(st.integers(0, 9))
        if choice < 7:
            funder = data.draw(st.sampled_from(funders))
            return funder.account, funder.id
        if choice == 7:
            stale = [(s, p) for p in funders for s in p.old_signers]
            if stale:
                signer, funder = data.draw(st.sampled_from(stale))
                return Account.from_key(signer.private_key), 0
        if choice == 8:
            others = [p for p in self.model.parties.values() if p.role != Role.FUNDER]
            other = data.draw(st.sampled_from(others))
            return other.account, 0
        return self.env.outsider, 0

    def active_funder_caller(self, account: LocalAccount) -> int:
        pid = self.model.bound.get(account.address.lower(), 0)
        if pid == 0 or self.model.parties[pid].role != Role.FUNDER:
            raise Refused("WhitelistCallerNotActiveFunder", account.address)
        signer, status, _ = self.model.parties[pid].epochs[-1]
        if signer.lower() != account.address.lower() or status != ACTIVE:
            raise Refused("WhitelistCallerNotActiveFunder", account.address)
        return pid

    def effective(self, data: st.DataObject, now: int, last: int = 0) -> int:
        """An effective time: 0 (now), now itself, backdated, scheduled, or (for policies with
        a scheduled last entry) before that entry."""
        mode = data.draw(st.sampled_from(["now", "past", "at-now", "future", "before-last"]))
        if mode == "before-last" and last > now:
            return last - 1
        if mode == "now":
            return 0
        if mode == "at-now":
            return now
        step = int(data.draw(st.sampled_from([1, 300, 3_600, 86_400])))
        return now - step if mode == "past" else now + step

    @rule(data=st.data(), remove=st.booleans())
    def whitelist_change(self, data: st.DataObject, remove: bool) -> None:
        """A funder lists a partner, or ends a listing (now, backdated or scheduled)."""
        self.maybe_advance(data)
        account, _ = self.whitelist_caller(data)
        partner = self.pick_id(data, Role.PLATFORM, Role.CREDIT_ENHANCER)
        now = self.now()
        effective = self.effective(data, now)

        def check() -> tuple[int, int]:
            funder = self.active_funder_caller(account)
            if not remove and self.model.role_of(partner)[0] not in (
                Role.PLATFORM,
                Role.CREDIT_ENHANCER,
            ):
                raise Refused("WhitelistInvalidPartner", partner)
            if effective and effective < now:
                raise Refused("WhitelistBackdatedChange", effective, now)
            at = effective or now
            periods = self.model.whitelist.get((funder, partner), [])
            if remove and (not periods or periods[-1][1] != 0):
                raise Refused("WhitelistNotListed", funder, partner)
            if remove and at < periods[-1][0]:
                raise Refused("WhitelistRemovalBeforeStart", at, periods[-1][0])
            if not remove and periods and (periods[-1][1] == 0 or periods[-1][1] > at):
                raise Refused("WhitelistAlreadyListed", funder, partner)
            return funder, at

        expected, result = self.predict(check)
        if remove:
            fn, name = self.reg.functions.removeFromWhitelist(partner, effective), "remove"
        else:
            fn, name = self.reg.functions.addToWhitelist(partner, effective), "add"
        receipt = self.send(account, fn, expected, f"whitelist {name}")
        if receipt is None:
            return
        funder, at = result
        self.block_time(receipt, now)
        periods = self.model.whitelist.setdefault((funder, partner), [])
        if remove:
            periods[-1][1] = at
        else:
            periods.append([at, 0])
        self.touched_pairs.add((funder, partner))
        FIGURES["history written: whitelist"] += 1

    # -- rate policy (R3) -------------------------------------------------------------------------

    @rule(data=st.data())
    def set_rate_cap(self, data: st.DataObject) -> None:
        itype = int(data.draw(st.sampled_from([*POLICY_TYPES, 0])))
        linked = data.draw(st.booleans())
        if linked:
            value = int(data.draw(st.sampled_from([40_000, 30_000, 80_000, 0, MAX_RATE_BPS + 1])))
        else:
            value = int(
                data.draw(st.sampled_from([1_200, 1_800, 2_400, 3_600, 0, MAX_RATE_BPS + 1]))
            )
        caps = self.model.caps.get(itype, [])
        now = self.now()
        effective_from = self.effective(data, now, caps[-1][1] if caps else 0)

        def check() -> int:
            if value == 0 or value > MAX_RATE_BPS:
                raise Refused("RatePolicyInvalidRate", value)
            if itype == 0:
                raise Refused("RatePolicyInvalidInstitutionType")
            if effective_from and effective_from < now:
                raise Refused("RatePolicyBackdatedChange", effective_from, now)
            start = effective_from or now
            if caps and start < caps[-1][1]:
                raise Refused("RatePolicyOutOfOrder", start, caps[-1][1])
            return start

        expected, start = self.predict(check)
        if linked:
            fn = self.reg.functions.setRateCapAsLprMultiple(itype, value, effective_from)
        else:
            fn = self.reg.functions.setRateCap(itype, value, effective_from)
        receipt = self.send(self.regulator_account, fn, expected, "setRateCap")
        self.touched_types.add(itype)
        if receipt is None:
            return
        self.block_time(receipt, now)
        entry = (0, start, value) if linked else (value, start, 0)
        self.model.caps.setdefault(itype, []).append(entry)
        FIGURES["history written: rate cap"] += 1

    @rule(data=st.data())
    def set_lpr(self, data: st.DataObject) -> None:
        value = int(data.draw(st.sampled_from([300, 350, 250, 0, MAX_RATE_BPS + 1])))
        now = self.now()
        last = self.model.lpr[-1][1]
        effective_from = self.effective(data, now, last)

        def check() -> int:
            if value == 0 or value > MAX_RATE_BPS:
                raise Refused("RatePolicyInvalidRate", value)
            if effective_from and effective_from < now:
                raise Refused("RatePolicyBackdatedChange", effective_from, now)
            start = effective_from or now
            if start < last:
                raise Refused("RatePolicyOutOfOrder", start, last)
            return start

        expected, start = self.predict(check)
        fn = self.reg.functions.setLpr(value, effective_from)
        receipt = self.send(self.regulator_account, fn, expected, "setLpr")
        self.lpr_touched = True
        if receipt is None:
            return
        self.block_time(receipt, now)
        self.model.lpr.append((value, start))
        FIGURES["history written: LPR"] += 1

    @rule(data=st.data())
    def policy_by_someone_else(self, data: st.DataObject) -> None:
        """I3: every administrative call from an account without the role reverts."""
        account = self.non_regulator(data)
        some_id = int(data.draw(st.sampled_from(sorted(self.model.parties))))
        calls: dict[str, tuple[ContractFunction, bytes]] = {
            "registerParticipant": (
                self.reg.functions.registerParticipant(
                    int(Role.PLATFORM), 0, self.fresh_signer().address, ZERO32, "x"
                ),
                REGULATOR_ROLE,
            ),
            "setParticipantStatus": (
                self.reg.functions.setParticipantStatus(some_id, ACTIVE),
                REGULATOR_ROLE,
            ),
            "setRateCap": (self.reg.functions.setRateCap(1, 9_999, 0), REGULATOR_ROLE),
            "setRateCapAsLprMultiple": (
                self.reg.functions.setRateCapAsLprMultiple(4, 100_000, 0),
                REGULATOR_ROLE,
            ),
            "setLpr": (self.reg.functions.setLpr(999, 0), REGULATOR_ROLE),
            "setCoFundingFloor": (self.reg.functions.setCoFundingFloor(1), REGULATOR_ROLE),
            "setLegacyCutoff": (self.reg.functions.setLegacyCutoff(2**63), REGULATOR_ROLE),
            "grantRole": (
                self.reg.functions.grantRole(REGULATOR_ROLE, account.address),
                DEFAULT_ADMIN_ROLE,
            ),
        }
        name = data.draw(st.sampled_from(sorted(calls)))
        fn, needed = calls[name]
        expected = Refused("AccessControlUnauthorizedAccount", account.address, needed)
        self.send(account, fn, expected, f"{name} by another account")
        FIGURES["policy calls by others refused"] += 1
        assert not self.env.call(self.reg.functions.hasRole(REGULATOR_ROLE, account.address))
        # The histories these calls would have changed are compared with the model (I3, I5).
        self.touched_types.update(ALL_TYPES)
        self.touched_parties.add(some_id)
        self.lpr_touched = True
        assert self.env.call(self.reg.functions.participantCount()) == self.model.count
        assert self.env.call(self.reg.functions.legacyCutoff()) == self.model.legacy_cutoff

    def maybe_advance(self, data: st.DataObject) -> None:
        """Moves the clock on, sometimes (before a step's calls): scheduled entries come due."""
        seconds = int(data.draw(st.sampled_from([0, 0, 1, 60, MAX_CLOCK_SKEW, 3_600, 86_400])))
        if seconds:
            self.env.advance(seconds)
            FIGURES["clock advanced"] += 1

    # -- loans ------------------------------------------------------------------------------------

    def draw_loan(self, data: st.DataObject, at: int, *, compliant: bool = False) -> LoanRecord:
        """A loan meant to comply (as far as the model knows), then at most one thing broken."""
        funders = self.parties_with(Role.FUNDER)
        funder = int(data.draw(st.sampled_from([p.id for p in funders])))
        listed = [
            partner
            for (f, partner), _ in sorted(self.model.whitelist.items())
            if f == funder and self.model.is_whitelisted(f, partner, at)
        ]
        platforms = [p for p in listed if self.model.role_of(p)[0] == Role.PLATFORM]
        guarantors = [p for p in listed if self.model.role_of(p)[0] == Role.CREDIT_ENHANCER]
        platform = int(
            data.draw(
                st.sampled_from(platforms or [p.id for p in self.parties_with(Role.PLATFORM)])
            )
        )
        guarantor = 0
        if guarantors and data.draw(st.integers(0, 2)) == 0:
            guarantor = int(data.draw(st.sampled_from(guarantors)))
        issued_at = at - int(data.draw(st.sampled_from([0, 0, 1, 60, 3_600])))
        flags, principal, share = 0, 10_000_000, 0
        broken = "none" if compliant else data.draw(st.sampled_from(BREAKAGES))
        FIGURES[f"loan drawn: {broken}"] += 1
        if broken == "funder":
            funder = self.pick_id(data, Role.PLATFORM, Role.CREDIT_ENHANCER, Role.GATEWAY)
        elif broken == "platform":
            platform = self.pick_id(data, Role.PLATFORM, Role.FUNDER)
        elif broken == "guarantor":
            guarantor = self.pick_id(data, Role.CREDIT_ENHANCER, Role.PLATFORM)
        elif broken == "issued":
            issued_at = at + int(data.draw(st.sampled_from(OFFSETS)))
        elif broken == "legacy":
            flags = FLAG_LEGACY
            if data.draw(st.booleans()):
                issued_at = self.model.legacy_cutoff - int(data.draw(st.sampled_from([1, 86_400])))
        elif broken == "flags":
            flags = int(data.draw(st.sampled_from([2, 3, 128])))
        elif broken == "principal":
            principal = 0
        elif broken == "co-funding":
            share = 3_000
        # APRs around the cap in force at the issue time, and fixed ones.
        found, cap = self.model.rate_cap_at(self.model.role_of(funder)[1], issued_at)
        if broken == "apr":
            apr = int(data.draw(st.sampled_from([*APRS, cap + 1] if found else APRS)))
        else:
            apr = int(data.draw(st.sampled_from([cap, min(cap, 1_800), 1] if found else APRS)))
        return LoanRecord(
            agreement_digest=self.digest32("agreement"),
            disclosure_digest=self.digest32("disclosure"),
            borrower_commitment=self.digest32("borrower"),
            funder_id=funder,
            platform_id=platform,
            guarantor_id=guarantor,
            co_funder_id=0,
            co_funder_share_bps=share,
            principal=principal,
            apr_bps=apr,
            term_days=365,
            issued_at=issued_at,
            flags=flags,
        )

    def sign_loan(self, data: st.DataObject, record: LoanRecord, forged: bool) -> list[bytes]:
        rid = self.env.record_id(record)

        def signer_of(pid: int) -> LocalSigner:
            party = self.model.parties.get(pid)
            return party.signer if party else self.fresh_signer()

        sigs = [signer_of(pid).sign_digest(rid) for pid in record.signer_ids()]
        if not forged:
            return sigs
        how = data.draw(st.sampled_from(FORGERIES))
        FIGURES[f"forgery {how}"] += 1
        funder = self.model.parties.get(record.funder_id)
        if how == "wrong-key":
            sigs[1] = self.fresh_signer().sign_digest(rid)
        elif how == "stale-key" and funder is not None and funder.old_signers:
            sigs[1] = funder.old_signers[-1].sign_digest(rid)
        elif how in ("stale-key", "platform-key"):
            sigs[1] = signer_of(record.platform_id).sign_digest(rid)
        elif how == "swapped":
            sigs[0], sigs[1] = sigs[1], sigs[0]
        elif how == "missing":
            sigs.pop()
        elif how == "extra":
            sigs.append(signer_of(record.funder_id).sign_digest(rid))
        elif how == "malformed":
            sigs[1] = keccak256(b"not a signature") * 2
        else:  # the funder signed another record
            other = record.model_copy(update={"principal": record.principal + 1})
            sigs[1] = signer_of(record.funder_id).sign_digest(self.env.record_id(other))
        return sigs

    def anchor(self, data: st.DataObject, forged: bool) -> None:
        now = self.now()
        replay = [m for m in self.model.records.values() if m.status or m.batches]
        if replay and data.draw(st.integers(0, 5)) == 5:
            known = data.draw(st.sampled_from(replay))
            record, sigs = known.record, known.signatures
            FIGURES["anchor replays"] += 1
        else:
            # A forged signature on an otherwise compliant loan, or a loan with one fault.
            record = self.draw_loan(data, now, compliant=forged)
            sigs = self.sign_loan(data, record, forged)
        rid = self.env.record_id(record)
        known_state = self.model.records.get(rid)

        def check() -> None:
            if known_state is not None and known_state.status != RecordStatus.UNKNOWN:
                raise Refused("EvidenceLedgerDuplicateRecord", rid)
            self.model.check_loan(record, sigs, rid, now)

        expected, _ = self.predict(check)
        fn = self.led.functions.anchorLoan(record.as_tuple(), sigs)
        receipt = self.send(self.env.outsider, fn, expected, "anchorLoan")
        self.touched_records.add(rid)
        if receipt is None:
            return
        at = self.block_time(receipt, now)
        entry = self.model.records.setdefault(rid, MRecord(record, sigs))
        entry.status, entry.anchored_at, entry.per_record = int(RecordStatus.ANCHORED), at, True
        entry.signatures = sigs
        FIGURES["anchored per record"] += 1
        self.check_anchored(entry)

    @rule(data=st.data())
    def anchor_loan(self, data: st.DataObject) -> None:
        """One to three loans, each compliant or with one fault, correctly signed."""
        self.maybe_advance(data)
        for _ in range(int(data.draw(st.integers(1, 3)))):
            self.anchor(data, forged=False)

    @rule(data=st.data())
    def anchor_loan_forged(self, data: st.DataObject) -> None:
        """One or two compliant loans with a forged signature."""
        self.maybe_advance(data)
        for _ in range(int(data.draw(st.integers(1, 2)))):
            self.anchor(data, forged=True)

    @rule(data=st.data())
    def anchor_batch(self, data: st.DataObject) -> None:
        self.maybe_advance(data)
        now = self.now()
        size = int(data.draw(st.integers(1, 3)))
        entries = []
        for _ in range(size):
            # Compliant and well signed, with one fault, or forged (I6 needs all three).
            kind = data.draw(st.sampled_from(["compliant", "faulty", "forged"]))
            record = self.draw_loan(data, now, compliant=kind != "faulty")
            entries.append((record, self.sign_loan(data, record, kind == "forged")))
        info = self.env.build_batch(entries)
        if self.model.batches and data.draw(st.integers(0, 5)) == 5:
            info = data.draw(st.sampled_from([b.info for b in self.model.batches.values()]))
        gateways = self.parties_with(Role.GATEWAY)
        choice = data.draw(st.integers(0, 5))
        sender = gateways[0].account if choice < 5 else self.non_regulator(data)

        def check() -> int:
            gateway_id, role = self.model.active_participant_of(sender.address)
            if role != Role.GATEWAY:
                raise Refused("EvidenceLedgerNotGateway", sender.address)
            if info.root in self.model.batches:
                raise Refused("EvidenceLedgerDuplicateBatch", info.root)
            return gateway_id

        expected, gateway_id = self.predict(check)
        fn = self.led.functions.anchorBatch(info.root, len(info.records))
        receipt = self.send(sender, fn, expected, "anchorBatch")
        if receipt is None:
            return
        at = self.block_time(receipt, now)
        self.model.batches[info.root] = MBatch(gateway_id, at, info)
        for index, (record, sigs) in enumerate(zip(info.records, info.signatures, strict=True)):
            rid = info.record_ids[index]
            entry = self.model.records.setdefault(rid, MRecord(record, sigs))
            entry.batches.append((info.root, index))
        FIGURES["batches anchored"] += 1
        assert self.env.call(self.led.functions.batch(info.root)) == (
            gateway_id,
            at,
            receipt["blockNumber"],
            len(info.records),
        )
        # Judge one of the new records at once (the rule below judges any, later).
        index = int(data.draw(st.integers(0, len(info.records) - 1)))
        self.report(
            self.model.records[info.record_ids[index]], self.model.batches[info.root], index
        )

    def batched_entries(self) -> list[tuple[MRecord, MBatch, int]]:
        return [
            (m, self.model.batches[root], index)
            for m in self.model.records.values()
            for root, index in m.batches
        ]

    @rule(data=st.data())
    def report_violation(self, data: st.DataObject) -> None:
        """I6: the re-check of a batched record agrees with the model, rule for rule."""
        entries = self.batched_entries()
        if not entries:
            return
        self.report(*data.draw(st.sampled_from(entries)))

    def report(self, entry: MRecord, batch: MBatch, index: int) -> None:
        info = batch.info
        rid = info.record_ids[index]
        sigs = info.signatures[index]
        if rid in self.model.violations:
            expected: Refused | None = Refused("EvidenceLedgerViolationAlreadyReported", rid)
            broken = None
        else:
            broken, _ = self.predict(
                lambda: self.model.check_loan(entry.record, sigs, rid, batch.anchored_at)
            )
            expected = Refused("EvidenceLedgerNoViolation", rid) if broken is None else None
        fn = self.led.functions.reportViolation(
            entry.record.as_tuple(), sigs, info.root, info.proof(index)
        )
        receipt = self.send(self.env.outsider, fn, expected, "reportViolation")
        if receipt is None:
            return
        assert broken is not None
        event = self.env.event(receipt, self.led, "ViolationProven")
        decoded = decode_custom_error(event["reason"])
        assert decoded is not None
        assert (decoded.name, _norm(decoded.args)) == (broken.name, _norm(broken.args_))
        assert event["code"] == event["reason"][:4]
        assert self.env.call(self.led.functions.violationOf(rid)) == event["code"]
        self.model.violations[rid] = broken.name
        FIGURES[f"violation proven: {broken.name}"] += 1

    # -- retirement -------------------------------------------------------------------------------

    @rule(data=st.data())
    def retire(self, data: st.DataObject) -> None:
        candidates = [m for m in self.model.records.values() if m.status or m.batches]
        if not candidates:
            return
        if data.draw(st.integers(0, 9)) == 9:  # a record that was never anchored
            record = self.draw_loan(data, self.now())
            entry = MRecord(record, [])
        else:
            entry = data.draw(st.sampled_from(candidates))
        record = entry.record
        rid = self.env.record_id(record)
        inclusion: tuple[bytes, bytes, list[bytes]] = NO_INCLUSION
        if entry.batches and data.draw(st.integers(0, 5)) != 5:
            root, index = data.draw(st.sampled_from(entry.batches))
            inclusion = self.model.batches[root].info.inclusion(index)
        amend = data.draw(st.booleans())
        successor = ZERO32
        if amend:
            successor = data.draw(
                st.sampled_from([keccak256(rid + b" successor")] * 4 + [ZERO32, rid])
            )
        named = rid if data.draw(st.integers(0, 9)) != 9 else keccak256(rid)
        retirement = Retirement(
            record_id=hex32(named),
            superseded_by=hex32(successor),
            reason_code=int(data.draw(st.integers(1, 9))),
            retired_at=self.now(),
        )
        digest = retirement_digest(retirement, self.env.domain)
        who = data.draw(
            st.sampled_from(
                ["regulator", "platform+funder", "funder+platform", "outsider", "platform"]
            )
        )
        platform = self.model.parties.get(record.platform_id)
        funder = self.model.parties.get(record.funder_id)
        outsider = self.fresh_signer()
        by = {
            "regulator": [self.model.parties[1].signer],
            "platform+funder": [
                platform.signer if platform else outsider,
                funder.signer if funder else outsider,
            ],
            "funder+platform": [
                funder.signer if funder else outsider,
                platform.signer if platform else outsider,
            ],
            "outsider": [outsider],
            "platform": [platform.signer if platform else outsider],
        }[who]
        sigs = [s.sign_digest(digest) for s in by]
        known = self.model.records.get(rid)
        now = self.now()

        def check() -> int:
            if named != rid:
                raise Refused("EvidenceLedgerRetirementMismatch", rid, named)
            if (successor in (ZERO32, rid)) if amend else successor != ZERO32:
                raise Refused("EvidenceLedgerInvalidSuccessor", successor)
            status = known.status if known else 0
            if status in (RecordStatus.REVOKED, RecordStatus.SUPERSEDED):
                raise Refused("EvidenceLedgerRecordAlreadyRetired", rid)
            anchored_at = known.anchored_at if known else 0
            if status == RecordStatus.UNKNOWN:
                if inclusion[0] == ZERO32:
                    raise Refused("EvidenceLedgerUnknownRecord", rid)
                anchored_at = self.model.batches[inclusion[0]].anchored_at
            if not self.model.may_retire(record, digest, sigs):
                raise Refused("EvidenceLedgerUnauthorizedRetirement", rid)
            return anchored_at

        expected, anchored_at = self.predict(check)
        method = self.led.functions.amendRecord if amend else self.led.functions.revokeRecord
        fn = method(record.as_tuple(), inclusion, retirement.as_tuple(), sigs)
        receipt = self.send(
            self.env.outsider, fn, expected, "amendRecord" if amend else "revokeRecord"
        )
        self.touched_records.add(rid)
        if receipt is None:
            return
        at = self.block_time(receipt, now)
        entry = self.model.records.setdefault(rid, entry)
        entry.status = int(RecordStatus.SUPERSEDED if amend else RecordStatus.REVOKED)
        entry.anchored_at, entry.retired_at = anchored_at, at
        entry.reason_code, entry.superseded_by = retirement.reason_code, successor
        self.retired[rid] = entry.state()
        FIGURES["amended" if amend else "revoked"] += 1
        self.retire_again(entry, inclusion)

    def retire_again(self, entry: MRecord, inclusion: tuple[bytes, bytes, list[bytes]]) -> None:
        """I4 at once: a retired record is neither anchored again nor retired again, even by
        the regulator with a valid signature."""
        record, rid = entry.record, self.env.record_id(entry.record)
        if entry.signatures:
            fn = self.led.functions.anchorLoan(record.as_tuple(), entry.signatures)
            self.send(
                self.env.outsider, fn, Refused("EvidenceLedgerDuplicateRecord", rid), "anchorLoan"
            )
        for amend in (False, True):
            retirement = Retirement(
                record_id=hex32(rid),
                superseded_by=hex32(keccak256(rid + b" again") if amend else ZERO32),
                reason_code=1,
                retired_at=self.now(),
            )
            sigs = [
                self.model.parties[1].signer.sign_digest(
                    retirement_digest(retirement, self.env.domain)
                )
            ]
            method = self.led.functions.amendRecord if amend else self.led.functions.revokeRecord
            self.send(
                self.env.outsider,
                method(record.as_tuple(), inclusion, retirement.as_tuple(), sigs),
                Refused("EvidenceLedgerRecordAlreadyRetired", rid),
                "amendRecord" if amend else "revokeRecord",
            )

    # -- invariants -------------------------------------------------------------------------------

    def check_anchored(self, entry: MRecord) -> None:
        """I1, I2 on the chain's own views at the record's times (not on the model)."""
        r, at = entry.record, entry.anchored_at
        rid = self.env.record_id(r)
        call = self.env.call
        regf = self.reg.functions
        for pid, sig, role in zip(
            r.signer_ids(),
            entry.signatures,
            [Role.PLATFORM, Role.FUNDER, Role.CREDIT_ENHANCER][: len(entry.signatures)],
            strict=True,
        ):
            epoch = call(regf.epochAt(pid, at))
            assert epoch[2] == ACTIVE, (pid, epoch)
            assert _recover(rid, sig).lower() == str(epoch[0]).lower()
            assert call(regf.roleOf(pid))[0] == role
        legacy = bool(r.flags & FLAG_LEGACY)
        listed_at = at if legacy else r.issued_at
        assert call(regf.isWhitelisted(r.funder_id, r.platform_id, listed_at))
        if r.guarantor_id:
            assert call(regf.isWhitelisted(r.funder_id, r.guarantor_id, listed_at))
        funder_type = call(regf.roleOf(r.funder_id))[1]
        found, cap = call(regf.rateCapAt(funder_type, r.issued_at))
        assert found
        if legacy:
            assert r.issued_at < call(regf.legacyCutoffAt(at))
        else:
            assert r.apr_bps <= cap
        # Remember these answers about the past: they may never change (I5).
        # A change written after this block takes effect after it: answers about times up to
        # `at` are final (times after it, within the clock skew, are not).
        if max(listed_at, r.issued_at) <= at:
            self.remember(("whitelisted", r.funder_id, r.platform_id, listed_at), True)
            self.remember(("cap", funder_type, r.issued_at), [found, cap])
            self.remember(
                ("epoch", r.funder_id, at), epoch_tuple(call(regf.epochAt(r.funder_id, at)))
            )

    def remember(self, key: tuple[Any, ...], answer: Any) -> None:
        """An answer of a view about a time that is now past: it must never change (I5)."""
        assert self.past.setdefault(key, answer) == answer, (key, self.past[key], answer)

    @invariant()
    def count_checks(self) -> None:
        FIGURES["invariant checks"] += 1

    @invariant()
    def records_agree(self) -> None:
        """The chain's record states are the model's; retired records never change (I4)."""
        for rid in self.touched_records | set(self.retired):
            known = self.model.records.get(rid)
            state = tuple(self.env.call(self.led.functions.recordState(rid)))
            assert state == (known.state() if known else (0, 0, 0, 0, ZERO32)), rid
            if rid in self.retired:
                assert state == self.retired[rid]
        self.touched_records.clear()

    @invariant()
    def histories_agree(self) -> None:
        """The chain's histories are the model's, ordered and never backdated (I3, I5)."""
        regf = self.reg.functions
        latest = self.env.now()  # every later change takes effect after this block (I5)
        for pid in self.touched_parties:
            party = self.model.parties.get(pid)
            chain = [
                (str(e[0]).lower(), int(e[2]), int(e[3])) for e in self.env.call(regf.epochs(pid))
            ]
            expected = [(s.lower(), st_, f) for s, st_, f in party.epochs] if party else []
            assert chain == expected, pid
            assert [f for *_, f in chain] == sorted(f for *_, f in chain)
        for funder, partner in self.touched_pairs:
            chain_periods = [
                [int(a), int(b)] for a, b in self.env.call(regf.whitelistHistory(funder, partner))
            ]
            assert chain_periods == self.model.whitelist[funder, partner]
            self.remember(
                ("whitelisted", funder, partner, latest),
                self.env.call(regf.isWhitelisted(funder, partner, latest)),
            )
            for (start, until), nxt in zip(chain_periods, [*chain_periods[1:], None], strict=True):
                assert until == 0 or until >= start
                assert nxt is None or (until != 0 and nxt[0] >= until)
        for itype in self.touched_types:
            chain_caps = [
                (int(c), int(f), int(m)) for c, f, m in self.env.call(regf.rateCapHistory(itype))
            ]
            assert chain_caps == self.model.caps.get(itype, [])
            self.remember(
                ("cap", itype, latest), list(self.env.call(regf.rateCapAt(itype, latest)))
            )
            assert [f for _, f, _ in chain_caps] == sorted(f for _, f, _ in chain_caps)
        if self.lpr_touched:
            for _bps, start in self.model.lpr:
                assert self.env.call(regf.lprAt(start)) == self.model.lpr_at(start) != 0
            assert [f for _, f in self.model.lpr] == sorted(f for _, f in self.model.lpr)
        self.touched_parties.clear()
        self.touched_pairs.clear()
        self.touched_types.clear()
        self.lpr_touched = False

    def teardown(self) -> None:
        """At the end of a run: every record, every past answer, once more on the chain."""
        call = self.env.call
        for rid, known in self.model.records.items():
            assert tuple(call(self.led.functions.recordState(rid))) == known.state()
            if known.per_record:
                self.check_anchored(known)
        regf = self.reg.functions
        for key, answer in self.past.items():
            if key[0] == "whitelisted":
                assert call(regf.isWhitelisted(*key[1:])) == answer, key
            elif key[0] == "cap":
                assert list(call(regf.rateCapAt(*key[1:]))) == answer, key
            else:
                assert epoch_tuple(call(regf.epochAt(*key[1:]))) == answer, key
        FIGURES["past answers re-checked"] += len(self.past)
        FIGURES["records"] += len(self.model.records)


def epoch_tuple(epoch: Any) -> tuple[Any, ...]:
    return (str(epoch[0]).lower(), bytes(epoch[1]), int(epoch[2]), int(epoch[3]))


# ------------------------------------------------------------------------------------ the test


def test_contract_invariants(_chain: _Chain, figures: Callable[[str], None]) -> None:
    FIGURES.clear()
    REVERTS.clear()
    LedgerMachine.chain = _chain
    run_state_machine_as_test(LedgerMachine, settings=SETTINGS)
    # Invariants are checked once after each run's set-up and once after each step.
    FIGURES["steps"] = FIGURES.pop("invariant checks") - FIGURES["runs"]

    summary = ", ".join(f"{k}={v}" for k, v in sorted(FIGURES.items()))
    reverts = ", ".join(f"{k}={v}" for k, v in sorted(REVERTS.items()))
    figures(f"contract invariants: {summary}; reverts by custom error: {reverts}")
    # Bounded, but it must have exercised what the invariants are about.
    assert FIGURES["runs"] >= RUNS
    assert FIGURES["steps"] > RUNS * STEPS // 2
    for figure in (
        "anchored per record",
        "batches anchored",
        "revoked",
        "amended",
        "policy calls by others refused",
        "history written: whitelist",
        "history written: rate cap",
        "history written: LPR",
        "past answers re-checked",
    ):
        assert FIGURES[figure] > 0, figure
    for error in (
        "EvidenceLedgerInvalidSignature",
        "EvidenceLedgerWrongRole",
        "EvidenceLedgerParticipantNotActive",
        "EvidenceLedgerPlatformNotWhitelisted",
        "EvidenceLedgerRateCapExceeded",
        "EvidenceLedgerDuplicateRecord",
        "EvidenceLedgerRecordAlreadyRetired",
        "EvidenceLedgerUnauthorizedRetirement",
        "AccessControlUnauthorizedAccount",
        "WhitelistBackdatedChange",
        "RatePolicyBackdatedChange",
        "RatePolicyOutOfOrder",
        "EvidenceLedgerNotGateway",
        "EvidenceLedgerNoViolation",
    ):
        assert REVERTS[error] > 0, error
