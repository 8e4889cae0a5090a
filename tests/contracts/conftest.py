"""Fixtures of the contract suite: every test runs on eth-tester (py-evm) and on anvil.

Each backend is set up once per test process: the contracts are deployed with the genesis
policy, the standard cast of participants is registered and whitelisted, and the chain is
snapshotted. Before every test the chain is reverted to that snapshot, so each test starts on
the same fresh contracts and leaves nothing behind (eth-tester `revert_to_snapshot`, anvil
`evm_revert`). Anvil mines with a one-second timestamp interval, and the eth-tester chain runs a
month ahead of the wall clock, so on both backends block times advance by exactly one second per
transaction and every test starts at the same chain time.

The cast (participant ids are fixed):

    1 regulator  (Regulator; also holds REGULATOR_ROLE and DEFAULT_ADMIN_ROLE)
    2 bank       (Funder, Bank)        whitelist: platform, guarantor
    3 small_loan (Funder, SmallLoan)   whitelist: platform
    4 platform   (Platform)
    5 platform2  (Platform)            on nobody's whitelist
    6 guarantor  (CreditEnhancer)
    7 gateway    (Gateway, Ed25519 key)
    8 auditor    (Auditor)
    - outsider   (funded, never registered)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain.anvil import AnvilNode
from ledger.chain.client import _REVERTS, ChainClient, ContractRevert, _as_revert
from ledger.chain.deploy import Deployment, GenesisPolicy, deploy_contracts
from ledger.eip712 import Domain, loan_record_id, retirement_digest, signatures_hash
from ledger.enums import InstitutionType, Role
from ledger.hashing import keccak256
from ledger.records import LoanRecord, Retirement
from ledger.signing import LocalSigner

REPO_ROOT = Path(__file__).resolve().parents[2]
ZERO32 = b"\0" * 32
ZERO_ADDRESS = "0x" + "00" * 20
LEAF_TYPES = ["bytes32", "bytes32"]
REGULATOR_ROLE = keccak256(b"REGULATOR_ROLE")
DEFAULT_ADMIN_ROLE = ZERO32
GAS_MONEY = 10**21

BACKENDS = ["eth-tester", pytest.param("anvil", marks=pytest.mark.anvil)]


def selector(signature: str) -> bytes:
    """The 4-byte selector of an error or function signature."""
    return keccak256(signature.encode())[:4]


def hex32(data: bytes) -> str:
    return "0x" + data.hex()


def _norm(value: Any) -> Any:
    """Addresses compare case-insensitively; everything else as is (tuples recursively)."""
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, tuple | list):
        return tuple(_norm(v) for v in value)
    return value


# --------------------------------------------------------------------------------- participants


@dataclass
class Party:
    """A registered (or deliberately unregistered) participant and the keys it acts with."""

    name: str
    id: int
    role: Role
    institution_type: InstitutionType
    signer: LocalSigner
    ed25519_key: bytes = ZERO32

    @property
    def address(self) -> str:
        return self.signer.address

    @property
    def account(self) -> LocalAccount:
        """The signer's key as a transaction account (funded at registration)."""
        account: LocalAccount = Account.from_key(self.signer.private_key)
        return account


def _ed25519_public_key() -> bytes:
    return Ed25519PrivateKey.generate().public_key().public_bytes_raw()


@dataclass
class BatchInfo:
    """A batch anchored by the gateway: the tree, its entries and their signature hashes."""

    root: bytes
    tree: Any
    records: list[LoanRecord]
    signatures: list[list[bytes]]
    record_ids: list[bytes]
    signature_hashes: list[bytes]
    receipt: TxReceipt | None = None

    def proof(self, index: int) -> list[bytes]:
        return [bytes(p) for p in self.tree.get_proof(index)]

    def inclusion(self, index: int) -> tuple[bytes, bytes, list[bytes]]:
        """The `Inclusion` tuple (root, signaturesHash, proof) of entry `index`."""
        return (self.root, self.signature_hashes[index], self.proof(index))


# --------------------------------------------------------------------------------- chains


def _single_run_gas_estimate(state: Any, transaction: Any) -> int:
    """A py-evm gas estimator that runs the transaction once (with the block gas limit).

    py-evm's default estimator bisects the gas limit (a dozen executions per estimate), which
    makes eth-tester several times slower than anvil. One run gives the same revert (the bisection
    also raises the error of its full-gas run); the limit it returns is generous, so the 63/64
    rule and refunds never starve the real transaction (which would fail the test loudly).
    """
    from eth.vm.spoof import SpoofTransaction

    spoofed = SpoofTransaction(transaction, gas=state.gas_limit, gas_price=0)
    snapshot = state.snapshot()
    try:
        computation = state.apply_transaction(spoofed)
        if computation.is_error:
            raise computation.error
        used = int(computation.get_gas_used())
    finally:
        state.revert(snapshot)
    return min(int(state.gas_limit), int(transaction.intrinsic_gas) + used * 3 // 2 + 50_000)


@dataclass
class _Chain:
    """One backend with the base state deployed, snapshotted for per-test reverts."""

    kind: str
    w3: Web3
    deployment: Deployment
    parties: dict[str, Party]
    regulator_account: LocalAccount
    outsider: LocalAccount
    base_time: int
    node: AnvilNode | None = None
    _snapshot: Any = None

    def snapshot(self) -> None:
        if self.kind == "anvil":
            self._snapshot = self.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        else:
            self._snapshot = self.w3.provider.ethereum_tester.take_snapshot()  # type: ignore[attr-defined]

    def revert(self) -> None:
        if self.kind == "anvil":
            answer = self.w3.provider.make_request("evm_revert", [self._snapshot])  # type: ignore[arg-type]
            assert answer.get("result") is True, answer
            self.snapshot()  # anvil consumes a snapshot when reverting to it
        else:
            tester = self.w3.provider.ethereum_tester  # type: ignore[attr-defined]
            tester.revert_to_snapshot(self._snapshot)
            tester.backend.chain.gas_estimator = _single_run_gas_estimate


def _build_base_state(kind: str, w3: Web3, node: AnvilNode | None) -> _Chain:
    client = ChainClient(w3)
    if kind == "eth-tester":
        w3.provider.ethereum_tester.backend.chain.gas_estimator = _single_run_gas_estimate  # type: ignore[attr-defined]
        # py-evm stamps a block max(wall clock, parent + 1). Put the chain a month ahead of the
        # wall clock so that, after each revert to the base snapshot, blocks again advance by
        # exactly one second (as on anvil with its timestamp interval) however long the run.
        client.advance_time(30 * 86_400)
    regulator_signer = LocalSigner.generate()
    regulator_account: LocalAccount = Account.from_key(regulator_signer.private_key)
    client.fund(regulator_account.address, GAS_MONEY)
    deployment = deploy_contracts(client, regulator_account)
    registry = client.contract("ParticipantRegistry", deployment.registry)

    parties: dict[str, Party] = {
        "regulator": Party("regulator", 1, Role.REGULATOR, InstitutionType.NONE, regulator_signer)
    }
    cast = [
        ("bank", Role.FUNDER, InstitutionType.BANK, "示例银行股份有限公司"),
        ("small_loan", Role.FUNDER, InstitutionType.SMALL_LOAN, "示例小额贷款有限公司"),
        ("platform", Role.PLATFORM, InstitutionType.NONE, "示例助贷平台"),
        ("platform2", Role.PLATFORM, InstitutionType.NONE, "另一助贷平台"),
        ("guarantor", Role.CREDIT_ENHANCER, InstitutionType.NONE, "示例融资担保有限公司"),
        ("gateway", Role.GATEWAY, InstitutionType.NONE, "Gateway"),
        ("auditor", Role.AUDITOR, InstitutionType.NONE, "Auditor"),
    ]
    for expected_id, (name, role, institution, public_name) in enumerate(cast, start=2):
        signer = LocalSigner.generate()
        key = _ed25519_public_key() if role is Role.GATEWAY else ZERO32
        client.fund(signer.address, GAS_MONEY)
        client.transact(
            regulator_account,
            registry.functions.registerParticipant(
                int(role), int(institution), signer.address, key, public_name
            ),
        )
        parties[name] = Party(name, expected_id, role, institution, signer, key)
    assert client.call(registry.functions.participantCount()) == len(parties)

    for funder, partners in (("bank", ("platform", "guarantor")), ("small_loan", ("platform",))):
        for partner in partners:
            client.transact(
                parties[funder].account,
                registry.functions.addToWhitelist(parties[partner].id, 0),
            )
    outsider = client.new_funded_account(GAS_MONEY)
    base_time = client.latest_timestamp()
    chain = _Chain(kind, w3, deployment, parties, regulator_account, outsider, base_time, node)
    chain.snapshot()
    return chain


@pytest.fixture(scope="session", params=BACKENDS)
def _chain(request: pytest.FixtureRequest) -> Iterator[_Chain]:
    kind: str = request.param
    if kind == "anvil":
        with AnvilNode() as node:
            node.rpc("anvil_setBlockTimestampInterval", [1])
            w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
            yield _build_base_state(kind, w3, node)
    else:
        yield _build_base_state(kind, Web3(EthereumTesterProvider()), None)


# --------------------------------------------------------------------------------- the fixture


class Env:
    """What a contract test works with: a fresh client on fresh contracts, the cast, helpers."""

    def __init__(self, chain: _Chain) -> None:
        self.kind = chain.kind
        self.chain = chain
        self.client = ChainClient(chain.w3)  # a fresh nonce cache: the chain was reverted
        self.w3 = chain.w3
        self.deployment = chain.deployment
        self.registry: Contract = self.client.contract(
            "ParticipantRegistry", chain.deployment.registry
        )
        self.ledger: Contract = self.client.contract("EvidenceLedger", chain.deployment.ledger)
        self.domain = Domain(self.client.chain_id, chain.deployment.ledger)
        # Copies: tests rotate keys on their parties, which must not leak into the next test.
        self.parties = {name: replace(p) for name, p in chain.parties.items()}
        self.regulator = self.parties["regulator"]
        self.bank = self.parties["bank"]
        self.small_loan = self.parties["small_loan"]
        self.platform = self.parties["platform"]
        self.platform2 = self.parties["platform2"]
        self.guarantor = self.parties["guarantor"]
        self.gateway = self.parties["gateway"]
        self.auditor = self.parties["auditor"]
        self.regulator_account = chain.regulator_account
        self.outsider = chain.outsider
        self.base_time = chain.base_time
        self.policy = GenesisPolicy()
        self._by_id = {p.id: p for p in self.parties.values()}

    def __repr__(self) -> str:
        return f"Env({self.kind})"

    # -- chain access ---------------------------------------------------------------------------

    def transact(self, sender: Party | LocalAccount, fn: ContractFunction) -> TxReceipt:
        account = sender.account if isinstance(sender, Party) else sender
        return self.client.transact(account, fn)

    def call(self, fn: ContractFunction, sender: Party | LocalAccount | None = None) -> Any:
        """A static call (`ContractRevert` on revert), from `sender` if given."""
        if sender is None:
            return self.client.call(fn)
        try:
            return fn.call({"from": sender.address})
        except _REVERTS as exc:
            raise _as_revert(exc) from exc

    def now(self) -> int:
        """Timestamp of the latest block."""
        return self.client.latest_timestamp()

    def sim_time(self) -> int:
        """`block.timestamp` as the node sees it when it simulates a transaction (estimateGas).

        eth-tester runs the call on its pending block; anvil on the latest block. Reverts of
        `ChainClient.transact` come from that simulation, so errors that carry "now" carry this.
        """
        if self.kind == "anvil":
            return self.now()
        return int(self.w3.eth.get_block("pending")["timestamp"])

    def advance(self, seconds: int) -> int:
        return self.client.advance_time(seconds)

    def block_time(self, receipt: TxReceipt) -> int:
        return int(self.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def events(self, receipt: TxReceipt, contract: Contract, name: str) -> list[dict[str, Any]]:
        logs = getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
        return [dict(log["args"]) for log in logs]

    def event(self, receipt: TxReceipt, contract: Contract, name: str) -> dict[str, Any]:
        """The args of the one event `name` in `receipt`."""
        found = self.events(receipt, contract, name)
        assert len(found) == 1, f"expected one {name} event, got {found}"
        return found[0]

    @staticmethod
    @contextmanager
    def reverts(name: str | None, *args: Any) -> Iterator[pytest.ExceptionInfo[ContractRevert]]:
        """Expects a `ContractRevert` with exactly this custom error and these arguments.

        `name=None` expects a revert without a decodable custom error.
        """
        with pytest.raises(ContractRevert) as info:
            yield info
        error = info.value
        assert error.error_name == name, f"expected {name}{args}, got {error}"
        if name is not None:
            assert _norm(error.error_args) == _norm(args), f"expected {name}{args}, got {error}"

    # -- participants -----------------------------------------------------------------------------

    def party(self, participant_id: int) -> Party:
        return self._by_id[participant_id]

    def register(
        self,
        role: Role,
        institution_type: InstitutionType = InstitutionType.NONE,
        *,
        name: str | None = None,
        ed25519_key: bytes | None = None,
        fund: bool = True,
    ) -> Party:
        """Registers one more participant (as the regulator) with a fresh, funded key."""
        signer = LocalSigner.generate()
        if ed25519_key is None:
            ed25519_key = _ed25519_public_key() if role is Role.GATEWAY else ZERO32
        if fund:
            self.client.fund(signer.address, GAS_MONEY)
        label = name or f"{role.name.lower()}-{signer.address[2:8]}"
        receipt = self.transact(
            self.regulator,
            self.registry.functions.registerParticipant(
                int(role), int(institution_type), signer.address, ed25519_key, label
            ),
        )
        participant_id = self.event(receipt, self.registry, "ParticipantRegistered")[
            "participantId"
        ]
        party = Party(label, participant_id, role, institution_type, signer, ed25519_key)
        self._by_id[participant_id] = party
        return party

    def suspend(self, party: Party) -> TxReceipt:
        return self.transact(
            self.regulator, self.registry.functions.setParticipantStatus(party.id, 2)
        )

    def reactivate(self, party: Party) -> TxReceipt:
        return self.transact(
            self.regulator, self.registry.functions.setParticipantStatus(party.id, 1)
        )

    def rotate_signer(
        self, party: Party, sender: Party | LocalAccount | None = None
    ) -> LocalSigner:
        """Gives `party` a new (funded) signing key; returns the old one. `party` is updated."""
        old = party.signer
        new = LocalSigner.generate()
        self.client.fund(new.address, GAS_MONEY)
        self.transact(
            sender or self.regulator, self.registry.functions.rotateSigner(party.id, new.address)
        )
        party.signer = new
        return old

    def whitelist(self, funder: Party, partner: Party, effective_from: int = 0) -> TxReceipt:
        return self.transact(
            funder, self.registry.functions.addToWhitelist(partner.id, effective_from)
        )

    def unwhitelist(self, funder: Party, partner: Party, effective_until: int = 0) -> TxReceipt:
        return self.transact(
            funder, self.registry.functions.removeFromWhitelist(partner.id, effective_until)
        )

    # -- loan records -----------------------------------------------------------------------------

    def make_loan(self, **overrides: Any) -> LoanRecord:
        """A compliant loan (bank funds, platform originates, 18% APR, issued now), fresh digests.

        Overrides use the `LoanRecord` field names; `funder`, `platform`, `guarantor` and
        `co_funder` accept `Party` objects.
        """
        for key in ("funder", "platform", "guarantor", "co_funder"):
            if key in overrides:
                value = overrides.pop(key)
                overrides[f"{key}_id"] = value.id if isinstance(value, Party) else int(value)
        fields: dict[str, Any] = {
            "agreement_digest": hex32(os.urandom(32)),
            "disclosure_digest": hex32(os.urandom(32)),
            "borrower_commitment": hex32(os.urandom(32)),
            "funder_id": self.bank.id,
            "platform_id": self.platform.id,
            "guarantor_id": 0,
            "co_funder_id": 0,
            "co_funder_share_bps": 0,
            "principal": 10_000_000,  # 100,000.00 yuan in fen
            "apr_bps": 1800,
            "term_days": 365,
            "issued_at": self.now(),
            "flags": 0,
        }
        fields.update(overrides)
        return LoanRecord(**fields)

    def record_id(self, record: LoanRecord) -> bytes:
        return loan_record_id(record, self.domain)

    def sign(
        self, record: LoanRecord, signers: Sequence[Party | LocalSigner] | None = None
    ) -> list[bytes]:
        """The parties' signatures over the record id, in the contract's order by default."""
        if signers is None:
            signers = [self.party(pid) for pid in record.signer_ids()]
        digest = self.record_id(record)
        return [(s.signer if isinstance(s, Party) else s).sign_digest(digest) for s in signers]

    def anchor(
        self,
        record: LoanRecord,
        signatures: list[bytes] | None = None,
        sender: Party | LocalAccount | None = None,
    ) -> TxReceipt:
        if signatures is None:
            signatures = self.sign(record)
        return self.transact(
            sender or self.outsider, self.ledger.functions.anchorLoan(record.as_tuple(), signatures)
        )

    def check(
        self, record: LoanRecord, signatures: list[bytes] | None = None, at: int | None = None
    ) -> bytes:
        if signatures is None:
            signatures = self.sign(record)
        result: bytes = self.call(
            self.ledger.functions.checkLoan(
                record.as_tuple(), signatures, self.now() if at is None else at
            )
        )
        return result

    # -- batches ----------------------------------------------------------------------------------

    def build_batch(self, entries: Sequence[tuple[LoanRecord, list[bytes]]]) -> BatchInfo:
        """A StandardMerkleTree over [recordId, signaturesHash] of each entry (not anchored)."""
        from ledger.merkle import StandardMerkleTree

        records = [record for record, _ in entries]
        signatures = [list(sigs) for _, sigs in entries]
        record_ids = [self.record_id(r) for r in records]
        hashes = [signatures_hash(s) for s in signatures]
        tree = StandardMerkleTree.of(
            [[rid, sh] for rid, sh in zip(record_ids, hashes, strict=True)], LEAF_TYPES
        )
        return BatchInfo(bytes(tree.root), tree, records, signatures, record_ids, hashes)

    def anchor_batch(
        self,
        entries: Sequence[tuple[LoanRecord, list[bytes]] | LoanRecord],
        *,
        fillers: int = 0,
        gateway: Party | None = None,
    ) -> BatchInfo:
        """Builds and anchors (by the gateway) a batch of the entries plus `fillers` compliant loans."""
        pairs = [e if isinstance(e, tuple) else (e, self.sign(e)) for e in entries]
        for _ in range(fillers):
            filler = self.make_loan()
            pairs.append((filler, self.sign(filler)))
        info = self.build_batch(pairs)
        info.receipt = self.transact(
            gateway or self.gateway, self.ledger.functions.anchorBatch(info.root, len(pairs))
        )
        return info

    # -- retirement -------------------------------------------------------------------------------

    def retirement(
        self,
        record: LoanRecord | bytes,
        *,
        superseded_by: bytes | None = None,
        reason_code: int = 1,
        retired_at: int | None = None,
    ) -> Retirement:
        record_id = record if isinstance(record, bytes) else self.record_id(record)
        return Retirement(
            record_id=hex32(record_id),
            superseded_by=hex32(superseded_by or ZERO32),
            reason_code=reason_code,
            retired_at=self.now() if retired_at is None else retired_at,
        )

    def sign_retirement(
        self, retirement: Retirement, signers: Sequence[Party | LocalSigner]
    ) -> list[bytes]:
        digest = retirement_digest(retirement, self.domain)
        return [(s.signer if isinstance(s, Party) else s).sign_digest(digest) for s in signers]


NO_INCLUSION: tuple[bytes, bytes, list[bytes]] = (ZERO32, ZERO32, [])


@pytest.fixture
def backend(_chain: _Chain) -> Iterator[Env]:
    """A fresh `ChainClient` on freshly reverted contracts with the standard cast."""
    _chain.revert()
    yield Env(_chain)


# --------------------------------------------------------------------------------- node (OZ JS)


def _node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (needed by tests marked `node`)")
    return node


@pytest.fixture(scope="session")
def oz_merkle() -> Callable[[Any], Any]:
    """Runs OpenZeppelin's own `@openzeppelin/merkle-tree` (scripts/oz_merkle.mjs) on JSON cases."""
    script = REPO_ROOT / "scripts" / "oz_merkle.mjs"
    if not script.is_file():
        pytest.fail(f"{script} is missing")
    node = _node_binary()

    def run(case: Any) -> Any:
        result = subprocess.run(
            [node, str(script)],
            input=json.dumps(case).encode(),
            capture_output=True,
            cwd=REPO_ROOT,
            timeout=60,
            check=True,
        )
        return json.loads(result.stdout)

    return run
