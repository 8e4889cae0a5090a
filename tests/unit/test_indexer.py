"""The chain event index (`ledger.indexer.EventIndexer`) over a real gateway on eth-tester.

The world is test_queries.py's (built once per process): loans batched and anchored per record
by the gateway service, loans anchored on chain by others (one of 2**60 fen), an over-cap loan
smuggled into a batch and reported (`ViolationProven`), a batched loan revoked (L2) and one
amended (L6) by the regulator. Tests index into fresh databases unless they need the gateway's
own records.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_queries import BIG, World, shared_world

from ledger.enums import InstitutionType, Role
from ledger.errors import InputError
from ledger.indexer import CURSOR_KEY, EventIndexer, event_args_json
from ledger.signing import LocalSigner
from ledger.store import ChainEventRow, Database, SubmissionRow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return shared_world(tmp_path_factory)


def make_indexer(world: World, db: Database | None = None, **kw: Any) -> EventIndexer:
    return EventIndexer(db or world.db, world.client, world.svc.deployment, **kw)


def head(world: World) -> int:
    return int(world.client.w3.eth.block_number)


def chain_logs(world: World, to_block: int) -> list[Any]:
    query: Any = {
        "fromBlock": world.svc.deployment.block_number,
        "toBlock": to_block,
        "address": [world.svc.deployment.registry, world.svc.deployment.ledger],
    }
    return list(world.client.w3.eth.get_logs(query))


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
    indexer = make_indexer(world, db)
    assert indexer.last_block() is None
    top = head(world)
    written = indexer.sync()
    rows = snapshot(db)
    assert written == len(rows) == len(chain_logs(world, top))
    assert db.get_meta(CURSOR_KEY) == str(top) and indexer.last_block() == top
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
    assert make_indexer(world, db).sync() == 0
    assert snapshot(db) == rows


def test_event_rows_carry_decoded_arguments(world: World, tmp_path: Path) -> None:
    db = fresh_db(tmp_path)
    make_indexer(world, db).sync()
    loan = world.chain_loans["C2"]
    mine = [
        (r, a)
        for r, a in events(db, "LoanAnchored")
        if a["recordId"] == "0x" + loan.record_id.hex()
    ]
    ((row, args),) = mine
    assert row.contract == "EvidenceLedger" and row.tx_hash == world.tx["C2"]
    assert args == {
        "recordId": "0x" + loan.record_id.hex(),
        "funderId": world.ids["bank_v"],
        "platformId": world.ids["p_v"],
        "guarantorId": 0,
        "coFunderId": 0,
        "principal": str(BIG),  # > 2**53: a string
        "aprBps": 1000,
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
    assert registered[world.ids["bank"]]["name"] == "bank"


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
    make_indexer(world).sync()
    with world.db.session() as s:
        retired = {name: s.get(SubmissionRow, rid).retired for name, rid in world.loans.items()}  # type: ignore[union-attr]
    assert {k: v for k, v in retired.items() if v} == {"L2": "revoked", "L6": "superseded"}


def test_rebuild_equals_incremental_index(world: World, tmp_path: Path) -> None:
    small = fresh_db(tmp_path, "small")
    indexer = make_indexer(world, small, block_range=8)
    indexer.sync()
    before = snapshot(small)
    wide = fresh_db(tmp_path, "wide")
    make_indexer(world, wide).sync()
    assert snapshot(wide) == before
    assert indexer.rebuild() == len(before)
    assert snapshot(small) == before
    # The service's database too: rebuilding never duplicates, and retirements stay applied.
    make_indexer(world).sync()
    assert make_indexer(world).rebuild() == len(snapshot(world.db))
    with world.db.session() as s:
        assert s.get(SubmissionRow, world.loans["L2"]).retired == "revoked"  # type: ignore[union-attr]


def test_lost_cursor_does_not_duplicate(world: World, tmp_path: Path) -> None:
    db = fresh_db(tmp_path)
    make_indexer(world, db).sync()
    rows = snapshot(db)
    db.set_meta(CURSOR_KEY, "")
    make_indexer(world, db, block_range=5).sync()
    assert snapshot(db) == rows


def test_confirmations_hold_back_recent_blocks(world: World, tmp_path: Path) -> None:
    db = fresh_db(tmp_path)
    top = head(world)
    indexer = make_indexer(world, db, confirmations=4)
    indexer.sync()
    assert indexer.last_block() == top - 4
    full = fresh_db(tmp_path, "full")
    make_indexer(world, full).sync()
    assert snapshot(db) == [r for r in snapshot(full) if r[0] <= top - 4]
    make_indexer(world, db).sync()
    assert snapshot(db) == snapshot(full)


def test_incremental_sync_picks_up_new_events(world: World, tmp_path: Path) -> None:
    db = fresh_db(tmp_path)
    indexer = make_indexer(world, db)
    indexer.sync()
    world.svc.set_lpr(305)
    assert indexer.sync() == 1
    (_, args) = events(db, "LprSet")[-1]
    assert args["lprBps"] == 305
    assert indexer.last_block() == head(world)


def test_run_loop_survives_errors(world: World, tmp_path: Path) -> None:
    indexer = make_indexer(world, fresh_db(tmp_path), chain_lock=threading.RLock())
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
    indexer = make_indexer(world, db)
    indexer.sync()
    snap = tester.take_snapshot()
    world.client.fund(LocalSigner.generate().address, 1)  # a block with none of our events
    indexer.sync()
    forked = indexer.last_block()
    tester.revert_to_snapshot(snap)
    world.svc.set_lpr(290)  # same height, different block, with an event
    assert head(world) == forked
    assert indexer.sync() > 0
    assert events(db, "LprSet")[-1][1]["lprBps"] == 290
    fresh = fresh_db(tmp_path, "fresh")
    make_indexer(world, fresh).sync()
    assert snapshot(db) == snapshot(fresh)


def test_parameters_are_checked(world: World) -> None:
    with pytest.raises(InputError):
        make_indexer(world, confirmations=-1)
    with pytest.raises(InputError):
        make_indexer(world, block_range=0)
