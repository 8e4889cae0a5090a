"""The chain event index (`ledger.indexer.EventIndexer`) over a real gateway on eth-tester.

The world: a bank, a platform and a guarantor held by the gateway; three batched loans and one
anchored per record through the service; a funder/platform pair whose keys the test holds
anchors a loan of 2**60 fen by itself and smuggles an over-cap loan into a batch, which is then
reported (`ViolationProven`); the regulator revokes a batched loan and amends the per-record one.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import select
from web3 import EthereumTesterProvider, Web3

from ledger.anchoring import BatchAnchor, SignedLoan
from ledger.chain.client import ChainClient
from ledger.chain.deploy import InstitutionType, Role
from ledger.demo import build_disclosure
from ledger.errors import InputError
from ledger.indexer import CURSOR_KEY, EventIndexer, event_args_json
from ledger.receipts import DocumentRef
from ledger.records import LoanRecord, Retirement
from ledger.service import Caller, LedgerService, LoanSubmission, ServiceConfig
from ledger.signing import LocalSigner
from ledger.store import ChainEventRow, Database, SubmissionRow

BIG = 2**60


@dataclass
class World:
    svc: LedgerService
    db: Database
    client: ChainClient
    ids: dict[str, int] = field(default_factory=dict)
    loans: dict[str, str] = field(default_factory=dict)
    chain_loans: dict[str, SignedLoan] = field(default_factory=dict)
    tx: dict[str, str] = field(default_factory=dict)
    batch: BatchAnchor | None = None

    def indexer(self, db: Database | None = None, **kw: Any) -> EventIndexer:
        return EventIndexer(db or self.db, self.client, self.svc.deployment, **kw)

    def head(self) -> int:
        return int(self.client.w3.eth.block_number)

    def logs(self, to_block: int | None = None) -> list[Any]:
        query: Any = {
            "fromBlock": self.svc.deployment.block_number,
            "toBlock": self.head() if to_block is None else to_block,
            "address": [self.svc.deployment.registry, self.svc.deployment.ledger],
        }
        return list(self.client.w3.eth.get_logs(query))


def _build(data_dir: Path) -> World:
    client = ChainClient(Web3(EthereumTesterProvider()))
    db = Database(f"sqlite:///{data_dir}/ledger.db")
    svc, _ = LedgerService.open(db, client, ServiceConfig(data_dir))
    w = World(svc, db, client)
    w.ids["bank"] = svc.register_participant(Role.FUNDER, "Bank", InstitutionType.BANK)[0].id
    w.ids["p1"] = svc.register_participant(Role.PLATFORM, "P1")[0].id
    w.ids["g"] = svc.register_participant(Role.CREDIT_ENHANCER, "G")[0].id
    svc.whitelist_add(w.ids["bank"], w.ids["p1"])
    svc.whitelist_add(w.ids["bank"], w.ids["g"])
    form = build_disclosure(
        1_000_000,
        12,
        Fraction(1, 100),
        date(2026, 1, 15),
        lender="Bank",
        confirmed_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    now = client.latest_timestamp()
    for serial, (name, anchoring) in enumerate(
        [("B1", "batch"), ("B2", "batch"), ("B3", "batch"), ("P1", "per-record")]
    ):
        sub = LoanSubmission(
            agreement_sha256=hashlib.sha256(name.encode()).hexdigest(),
            disclosure=form,
            borrower_id=f"11010119900307{serial:04d}",
            funder_id=w.ids["bank"],
            guarantor_id=w.ids["g"] if name == "B1" else 0,
            term_days=365,
            issued_at=now,
            anchoring=anchoring,
        )
        out = svc.submit_loan(Caller(w.ids["p1"], Role.PLATFORM), sub)
        svc.confirm_loan(Caller(w.ids["bank"], Role.FUNDER), out.record_id)
        w.loans[name] = out.record_id
    assert svc.anchor_pending() == 3

    bank_v, platform_v = LocalSigner.generate(), LocalSigner.generate()
    w.ids["bank_v"] = svc.register_participant(
        Role.FUNDER, "Bank V", InstitutionType.BANK, signer_address=bank_v.address
    )[0].id
    w.ids["p_v"] = svc.register_participant(
        Role.PLATFORM, "Platform V", signer_address=platform_v.address
    )[0].id
    client.fund(bank_v.address, 10**20)
    svc.chain.whitelist(Account.from_key(bank_v.private_key), w.ids["p_v"])

    def chain_loan(name: str, principal: int, apr: int) -> SignedLoan:
        digest = "0x" + hashlib.sha256(name.encode()).hexdigest()
        record = LoanRecord(
            agreement_digest=digest,
            disclosure_digest="0x" + "22" * 32,
            borrower_commitment="0x" + hashlib.sha256(b"b" + name.encode()).hexdigest(),
            funder_id=w.ids["bank_v"],
            platform_id=w.ids["p_v"],
            principal=principal,
            apr_bps=apr,
            term_days=365,
            issued_at=client.latest_timestamp(),
        )
        loan = svc.chain.sign_loan(
            record, {w.ids["bank_v"]: bank_v, w.ids["p_v"]: platform_v}, DocumentRef(sha256=digest)
        )
        w.chain_loans[name] = loan
        return loan

    anchored = svc.chain.anchor_loan(svc.gateway_account, chain_loan("C1", BIG, 1500))
    w.tx["C1"] = "0x" + anchored.transaction_hash.hex()
    smuggled = chain_loan("S1", 800_000, 3000)
    w.batch = svc.chain.anchor_batch(svc.gateway_account, [smuggled])
    client.transact(
        svc.gateway_account,
        svc.chain.ledger.functions.reportViolation(
            smuggled.record.as_tuple(),
            list(smuggled.signatures),
            w.batch.root,
            w.batch.tree.get_proof(0),
        ),
    )

    regulator = svc._signer(1)
    assert regulator is not None
    now = client.latest_timestamp()
    for name, successor in (("B1", None), ("P1", w.loans["B2"])):
        receipt = svc.receipt(Caller(1, Role.REGULATOR), w.loans[name])
        inclusion: tuple[bytes, bytes, list[bytes]] = (b"\0" * 32, b"\0" * 32, [])
        if receipt.anchor.root is not None and receipt.anchor.leaf is not None:
            inclusion = (
                bytes.fromhex(receipt.anchor.root[2:]),
                bytes.fromhex(receipt.anchor.leaf.values[1][2:]),
                [bytes.fromhex(p[2:]) for p in receipt.anchor.proof],
            )
        retirement = Retirement(
            record_id=w.loans[name],
            reason_code=3,
            retired_at=now,
            **({"superseded_by": successor} if successor else {}),
        )
        svc.chain.retire(svc.gateway_account, receipt.record, retirement, [regulator], inclusion)
    return w


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _build(tmp_path_factory.mktemp("indexer"))


def fresh_db(tmp_path: Path, name: str = "index") -> Database:
    return Database(f"sqlite:///{tmp_path}/{name}.db")


def snapshot(db: Database) -> list[tuple[Any, ...]]:
    with db.session() as s:
        rows = s.execute(
            select(ChainEventRow).order_by(ChainEventRow.block_number, ChainEventRow.log_index)
        ).scalars()
        return [
            (r.block_number, r.log_index, r.tx_hash, r.contract, r.name, r.args_json, r.block_time)
            for r in rows
        ]


def events(db: Database, name: str) -> list[tuple[ChainEventRow, dict[str, Any]]]:
    import json

    with db.session() as s:
        rows = list(
            s.execute(
                select(ChainEventRow)
                .where(ChainEventRow.name == name)
                .order_by(ChainEventRow.block_number, ChainEventRow.log_index)
            ).scalars()
        )
    return [(r, json.loads(r.args_json)) for r in rows]


# ---------------------------------------------------------------------- tests


def test_sync_indexes_every_event_once(world: World, tmp_path: Path) -> None:
    db = fresh_db(tmp_path)
    indexer = world.indexer(db)
    assert indexer.last_block() is None
    head = world.head()
    written = indexer.sync()
    rows = snapshot(db)
    assert written == len(rows) == len(world.logs(head))
    assert db.get_meta(CURSOR_KEY) == str(head) and indexer.last_block() == head
    assert len({(r[0], r[1]) for r in rows}) == len(rows)
    assert {r[4] for r in rows} >= {
        "RoleGranted",
        "RateCapSet",
        "LprSet",
        "ParticipantRegistered",
        "WhitelistEntryAdded",
        "BatchAnchored",
        "LoanAnchored",
        "ViolationProven",
        "RecordRevoked",
        "RecordAmended",
    }
    assert {r[3] for r in rows} == {"ParticipantRegistry", "EvidenceLedger"}
    # Idempotent: nothing new, nothing duplicated.
    assert indexer.sync() == 0
    assert world.indexer(db).sync() == 0
    assert snapshot(db) == rows


def test_event_rows_carry_decoded_arguments(world: World, tmp_path: Path) -> None:
    db = fresh_db(tmp_path)
    world.indexer(db).sync()
    loan = world.chain_loans["C1"]
    mine = [
        (r, a)
        for r, a in events(db, "LoanAnchored")
        if a["recordId"] == "0x" + loan.record_id.hex()
    ]
    ((row, args),) = mine
    assert row.contract == "EvidenceLedger" and row.tx_hash == world.tx["C1"]
    assert args == {
        "recordId": "0x" + loan.record_id.hex(),
        "funderId": world.ids["bank_v"],
        "platformId": world.ids["p_v"],
        "guarantorId": 0,
        "coFunderId": 0,
        "principal": str(BIG),  # > 2**53: a string
        "aprBps": 1500,
        "issuedAt": loan.record.issued_at,
        "flags": 0,
    }
    block = world.client.w3.eth.get_block(row.block_number)
    assert row.block_time == int(block["timestamp"])

    ((_, vargs),) = events(db, "ViolationProven")
    assert world.batch is not None
    assert vargs["root"] == "0x" + world.batch.root.hex()
    assert vargs["recordId"] == "0x" + world.chain_loans["S1"].record_id.hex()
    assert len(vargs["code"]) == 10 and vargs["reason"].startswith(vargs["code"])
    assert vargs["reporter"] == world.svc.gateway_account.address
    assert vargs["gatewayId"] == world.svc.gateway_id

    registered = {a["participantId"]: a for _, a in events(db, "ParticipantRegistered")}
    assert registered[world.ids["bank"]]["role"] == int(Role.FUNDER)
    assert registered[world.ids["bank"]]["institutionType"] == int(InstitutionType.BANK)
    assert registered[world.ids["bank"]]["name"] == "Bank"


def test_event_args_json() -> None:
    assert event_args_json(
        {
            "b": b"\x01\xff",
            "safe": 2**53 - 1,
            "big": 2**53,
            "neg": -(2**60),
            "t": True,
            "s": "x",
            "nested": [1, (b"", {"k": 2**64})],
        }
    ) == (
        '{"b":"0x01ff","big":"9007199254740992","neg":"-1152921504606846976",'
        '"nested":[1,["0x",{"k":"18446744073709551616"}]],"s":"x","safe":9007199254740991,"t":true}'
    )
    with pytest.raises(TypeError):
        event_args_json({"f": 1.5})


def test_retirements_update_the_gateway_records(world: World) -> None:
    world.indexer().sync()
    with world.db.session() as s:
        retired = {name: s.get(SubmissionRow, rid).retired for name, rid in world.loans.items()}  # type: ignore[union-attr]
    assert retired == {"B1": "revoked", "B2": None, "B3": None, "P1": "superseded"}


def test_rebuild_equals_incremental_index(world: World, tmp_path: Path) -> None:
    small = fresh_db(tmp_path, "small")
    indexer = world.indexer(small, block_range=3)
    indexer.sync()
    before = snapshot(small)
    wide = fresh_db(tmp_path, "wide")
    world.indexer(wide).sync()
    assert snapshot(wide) == before
    assert indexer.rebuild() == len(before)
    assert snapshot(small) == before
    # The service's database too: rebuilding never duplicates, and retirements stay applied.
    world.indexer().sync()
    assert world.indexer().rebuild() == len(snapshot(world.db))
    with world.db.session() as s:
        assert s.get(SubmissionRow, world.loans["B1"]).retired == "revoked"  # type: ignore[union-attr]


def test_lost_cursor_does_not_duplicate(world: World, tmp_path: Path) -> None:
    db = fresh_db(tmp_path)
    world.indexer(db).sync()
    rows = snapshot(db)
    db.set_meta(CURSOR_KEY, "")
    world.indexer(db, block_range=5).sync()
    assert snapshot(db) == rows


def test_confirmations_hold_back_recent_blocks(world: World, tmp_path: Path) -> None:
    db = fresh_db(tmp_path)
    head = world.head()
    indexer = world.indexer(db, confirmations=4)
    indexer.sync()
    assert indexer.last_block() == head - 4
    full = fresh_db(tmp_path, "full")
    world.indexer(full).sync()
    assert snapshot(db) == [r for r in snapshot(full) if r[0] <= head - 4]
    world.indexer(db).sync()
    assert snapshot(db) == snapshot(full)


def test_incremental_sync_picks_up_new_events(world: World, tmp_path: Path) -> None:
    db = fresh_db(tmp_path)
    indexer = world.indexer(db)
    indexer.sync()
    world.svc.set_lpr(305)
    assert indexer.sync() == 1
    (_, args) = events(db, "LprSet")[-1]
    assert args["lprBps"] == 305
    assert indexer.last_block() == world.head()


def test_run_loop_survives_errors(world: World, tmp_path: Path) -> None:
    indexer = world.indexer(fresh_db(tmp_path), chain_lock=threading.RLock())
    real_sync = indexer.sync
    calls = {"n": 0}

    def flaky() -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("node unreachable")
        return real_sync()

    indexer.sync = flaky  # type: ignore[method-assign]
    errors: list[Exception] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=indexer.run, args=(stop, 0.01), kwargs={"on_error": errors.append}
    )
    thread.start()
    deadline = time.monotonic() + 20
    while indexer.last_block() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert indexer.last_block() is not None
    assert len(errors) == 1 and isinstance(errors[0], ConnectionError)


def test_reorganization_rebuilds_the_index(world: World, tmp_path: Path) -> None:
    tester = world.client.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    db = fresh_db(tmp_path)
    indexer = world.indexer(db)
    indexer.sync()
    snap = tester.take_snapshot()
    world.client.fund(LocalSigner.generate().address, 1)  # a block with none of our events
    indexer.sync()
    forked = indexer.last_block()
    tester.revert_to_snapshot(snap)
    world.svc.set_lpr(290)  # same height, different block, with an event
    assert world.head() == forked
    assert indexer.sync() > 0
    assert events(db, "LprSet")[-1][1]["lprBps"] == 290
    fresh = fresh_db(tmp_path, "fresh")
    world.indexer(fresh).sync()
    assert snapshot(db) == snapshot(fresh)


def test_parameters_are_checked(world: World) -> None:
    with pytest.raises(InputError):
        world.indexer(confirmations=-1)
    with pytest.raises(InputError):
        world.indexer(block_range=0)
