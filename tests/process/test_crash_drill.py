"""Crash consistency under load: several clients submit and confirm loans without pause (a third
of them anchored by themselves, `per-record`, the rest in batches) while gateways are SIGKILLed
at random moments and started again on the same data.

After the last restart, counted on the chain itself:

- every acknowledged record (the funder's confirm answered 200 with a signed entry timestamp) is
  anchored and its receipt verifies;
- nothing is anchored twice: the record counts of the `BatchAnchored` events add up to the
  batched rows, and each per-record row has exactly one `LoanAnchored` event;
- nothing unacknowledged is anchored: every record on chain is one a client asked to confirm;
- no answer was a 5xx (a killed server drops connections; it never answers 500).

Two drills: one gateway on the backend's chain and database (`tests/backends.py`, so the
embedded chain with SQLite, and anvil with PostgreSQL), and two gateways sharing one PostgreSQL
and one stock anvil, killed in turn. Each prints one line of figures (copied into SECURITY.md).
"""

from __future__ import annotations

import itertools
import json
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from web3 import Web3

from ledger.chain.anvil import AnvilNode
from ledger.chain.client import ChainClient
from ledger.chain.embedded import open_embedded_chain
from ledger.limits import MAX_VERIFY_BATCH
from ledger.store import Database, SubmissionRow
from ledger.testing import funded_key_file, loan_submission
from tests import backends
from tests.process.gateway_process import GatewayProcess, auth, bank_and_platform

pytestmark = pytest.mark.slow

CLIENTS = 3
KILLS = 5
LEASE_SECONDS = 4


@dataclass
class Tally:
    """What the clients saw, shared by their threads."""

    submitted: set[str] = field(default_factory=set)  # a confirm was sent for these
    acknowledged: set[str] = field(default_factory=set)
    per_record: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, r: httpx.Response) -> httpx.Response:
        with self.lock:
            self.statuses[r.status_code] += 1
        return r

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def _client(
    bases: Callable[[], list[str]],
    funder: dict[str, Any],
    platform: dict[str, Any],
    now: int,
    counter: Iterator[int],
    tally: Tally,
    stop: threading.Event,
    seed: int,
) -> None:
    """Submits at one gateway, confirms at another (or the same), until `stop`; a connection
    refused or cut by a kill is retried at the next loan."""
    rng = random.Random(seed)
    clients: dict[str, httpx.Client] = {}
    while not stop.is_set():
        n = next(counter)
        body, _ = loan_submission(
            funder["participant"]["id"],
            now,
            principal=1_000_000 + n,
            months=6,
            document=f"crash drill agreement {n}".encode(),
        )
        per_record = n % 3 == 0
        if per_record:
            body["anchoring"] = "per-record"
        up = bases()
        submit_at, confirm_at = rng.choice(up), rng.choice(up)
        for base in (submit_at, confirm_at):
            clients.setdefault(base, httpx.Client(base_url=base, timeout=30))
        try:
            r = tally.answered(
                clients[submit_at].post("/v1/loans", json=body, headers=auth(platform["api_key"]))
            )
            if r.status_code != 202:
                continue
            record_id = str(r.json()["record_id"])
            with tally.lock:
                tally.submitted.add(record_id)
                if per_record:
                    tally.per_record.add(record_id)
            c = tally.answered(
                clients[confirm_at].post(
                    f"/v1/loans/{record_id}/confirm", headers=auth(funder["api_key"])
                )
            )
            if c.status_code == 200 and c.json()["entry_timestamp"]:
                with tally.lock:
                    tally.acknowledged.add(record_id)
        except httpx.HTTPError:
            time.sleep(0.05)  # the gateway died under us, or is starting again
    for http in clients.values():
        http.close()


def _drill(
    gateways: list[GatewayProcess],
    restart: Callable[[GatewayProcess], GatewayProcess],
    client: Callable[[Path], ChainClient],
    label: str,
    seed: int,
    figures: Callable[[str], None],
) -> None:
    rng = random.Random(seed)
    regulator = gateways[0].regulator_key()
    http = httpx.Client(base_url=gateways[0].base, timeout=30)
    funder, platform = bank_and_platform(http, regulator)
    now = int(http.get("/healthz").json()["time"])
    tally = Tally()
    stop = threading.Event()
    counter = itertools.count(1)
    up_lock = threading.Lock()
    up = list(gateways)

    def bases() -> list[str]:
        with up_lock:
            return [g.base for g in up] or [g.base for g in gateways]

    workers = [
        threading.Thread(
            target=_client,
            args=(bases, funder, platform, now, counter, tally, stop, seed + i),
            daemon=True,
        )
        for i in range(CLIENTS)
    ]
    for w in workers:
        w.start()
    started = time.time()
    try:
        for _ in range(KILLS):
            target = len(tally.acknowledged) + 6
            deadline = time.time() + 60
            while len(tally.acknowledged) < target and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.8))
            victim = rng.randrange(len(gateways))
            with up_lock:
                up.remove(gateways[victim])
            gateways[victim].kill()  # SIGKILL, mid-load
            gateways[victim] = restart(gateways[victim])
            with up_lock:
                up.append(gateways[victim])
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=60)
    busy = time.time() - started
    assert len(tally.acknowledged) >= KILLS * 6, tally.statuses

    # the queue drains: every acknowledged record is anchored
    http = httpx.Client(base_url=gateways[0].base, timeout=60)
    deadline = time.time() + 90
    pending = set(tally.acknowledged)
    while pending and time.time() < deadline:
        pending = {
            r
            for r in pending
            if http.get(f"/v1/loans/{r}", headers=auth(regulator)).json()["status"] != "anchored"
        }
        if pending:
            time.sleep(0.5)
    drained = time.time() - started - busy
    assert not pending, f"{len(pending)} acknowledged records never anchored"
    ordered = sorted(tally.acknowledged)
    verified = 0
    for start in range(0, len(ordered), MAX_VERIFY_BATCH):
        chunk = ordered[start : start + MAX_VERIFY_BATCH]
        receipts = http.post(
            "/v1/loans/receipts", json={"record_ids": chunk}, headers=auth(platform["api_key"])
        )
        assert receipts.status_code == 200, receipts.text[:500]
        report = http.post(
            "/v1/verify/batch", json={"receipts": receipts.json()["receipts"]}
        ).json()
        assert receipts.json()["missing"] == [], receipts.text[:500]
        assert report["failed"] == report["invalid"] == 0, report["by_check"]
        verified += report["passed"]
    for g in gateways:
        g.stop()

    # exactly once, and nothing unacknowledged, on the chain itself
    with Database(gateways[0].db_url).session() as s:
        anchored = {
            r.record_id: r.batch_root
            for r in s.query(SubmissionRow).filter(SubmissionRow.status == "anchored")
        }
    assert tally.acknowledged <= set(anchored)
    deployment = json.loads(next((gateways[0].data_dir / "deployments").glob("*.json")).read_text())
    chain = client(gateways[0].data_dir)
    ledger = chain.contract("EvidenceLedger", deployment["ledger"])
    span = {"from_block": deployment["block_number"], "to_block": "latest"}
    roots = {
        "0x" + bytes(e["args"]["root"]).hex(): int(e["args"]["recordCount"])
        for e in ledger.events.BatchAnchored().get_logs(**span)
    }
    singles = Counter(
        "0x" + bytes(e["args"]["recordId"]).hex()
        for e in ledger.events.LoanAnchored().get_logs(**span)
    )
    batched = [root for root in anchored.values() if root is not None]
    by_itself = {r for r, root in anchored.items() if root is None}
    duplicated = sum(roots.values()) - len(batched) + sum(n - 1 for n in singles.values())
    assert sum(roots.values()) == len(batched), "some record was anchored in more than one batch"
    assert set(batched) == set(roots), "a root on chain is not the root of any stored record"
    assert all(n == 1 for n in singles.values()), "a record was anchored by itself twice"
    assert set(singles) == by_itself, "per-record anchors on chain and stored rows differ"
    assert set(anchored) <= tally.submitted, "a record nobody confirmed is anchored"
    assert tally.per_record & tally.acknowledged, "the drill anchored no record by itself"
    assert tally.server_errors == 0, tally.statuses
    figures(
        f"crash drill [{label}]: {len(gateways)} gateway(s), {CLIENTS} clients, {KILLS} SIGKILLs"
        f" in {busy:.0f} s; acknowledged {len(tally.acknowledged)}"
        f" ({len(tally.per_record & tally.acknowledged)} per-record), anchored {len(anchored)},"
        f" verified {verified}, lost {len(tally.acknowledged - set(anchored))},"
        f" duplicated {duplicated}, 5xx {tally.server_errors},"
        f" answers {sum(tally.statuses.values())}, drained {drained:.1f} s after the last restart"
    )


def test_one_gateway_killed_again_and_again_loses_and_duplicates_nothing(
    tmp_path: Path, figures: Callable[[str], None]
) -> None:
    data = tmp_path / "gw"
    args = ("--claim-lease", str(LEASE_SECONDS))
    with ExitStack() as stack:

        def chain(data_dir: Path) -> ChainClient:
            if backends.CHAIN == "embedded":
                return ChainClient(stack.enter_context(open_embedded_chain(data_dir / "chain")).w3)
            return backends.chain_client()

        _drill(
            [GatewayProcess(data, *args)],
            lambda g: GatewayProcess(g.data_dir, *args),
            chain,
            f"{backends.CHAIN}+{backends.DATABASE}",
            seed=11,
            figures=figures,
        )


@backends.own_services_only
def test_two_gateways_on_one_database_killed_in_turn_lose_and_duplicate_nothing(
    anvil: AnvilNode, fresh_postgres_url: str, tmp_path: Path, figures: Callable[[str], None]
) -> None:
    client = ChainClient(Web3(Web3.HTTPProvider(anvil.url)))
    keys = {name: tmp_path / f"{name}.key" for name in ("deployer", "a", "b")}
    for path in keys.values():
        funded_key_file(client, path)
    shared = {"LEDGER_MASTER_KEY": secrets.token_hex(32)}
    common = ["--chain", anvil.url, "--db", fresh_postgres_url, "--claim-lease", str(LEASE_SECONDS)]
    args = {
        tmp_path / "a": [
            *common,
            "--deployer-key",
            str(keys["deployer"]),
            "--account-key",
            str(keys["a"]),
        ],
        tmp_path / "b": [*common, "--account-key", str(keys["b"])],
    }
    a = GatewayProcess(tmp_path / "a", *args[tmp_path / "a"], env=shared)
    b = GatewayProcess(tmp_path / "b", *args[tmp_path / "b"], env=shared)
    _drill(
        [a, b],
        lambda g: GatewayProcess(g.data_dir, *args[g.data_dir], env=shared),
        lambda _data_dir: client,
        "2 gateways, anvil+postgresql",
        seed=23,
        figures=figures,
    )
