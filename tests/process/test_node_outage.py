"""Node outage drill: the real gateway (`ledger serve`) on an anvil of its own (1 s blocks, state
kept in a file) while one client keeps submitting and co-signing loans (a quarter anchored per
record, the rest in batches), through three faults and without restarting the gateway:

1. the node SIGSTOPped (hung: requests to it time out),
2. the node SIGKILLed, left down, restarted from its state file (its pool is lost),
3. a rollback: the node SIGKILLed and restarted from a state dump taken seconds earlier (the
   blocks since, and the anchors in them, are gone).

Asserted: no answer is a 5xx and none hangs; submissions and co-signatures made while the node
is away are acknowledged into the queue; `/healthz` says `degraded` with the queue's age; no
record is ever seen anchored before its block has the confirmation depth; every acknowledged
record ends anchored and its receipt verifies against the chain with the library's verifier;
the gateway process is the one started at the beginning. One line of figures is printed.

A node answering with another chain id than the deployment's is refused, at start and while
the gateway runs.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from web3 import Web3

from ledger.chain.anvil import find_anvil_binary
from ledger.chain.client import ChainClient
from ledger.store import Database, SubmissionRow
from ledger.testing import funded_key_file, loan_submission
from ledger.trust import TRUST_ROOT_FILE, load_trust_root
from ledger.verify import SnapshotChainFacts, Verifier
from tests import backends
from tests.process.gateway_process import GatewayProcess, auth, bank_and_platform, free_port

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

CONFIRMATIONS = 2
#: seconds one JSON-RPC request of the gateway waits for the node
RPC_TIMEOUT = 2
#: the client's patience: an answer slower than this counts as a hang
CLIENT_TIMEOUT = 15.0


class StatefulAnvil:
    """anvil on a fixed port (the gateway's --chain URL survives restarts), 1 s blocks, its
    state dumped to `state` every second and loaded from it at start; stopped by PID.

    anvil rewrites its dump in place, so a SIGKILL can leave it empty: the last complete dump
    is kept aside (`good`, looked at every 0.2 s) and a restart after a kill loads that one — at
    most a block or two older than the head (a short rollback, as a real node's would not be).
    The genesis time is fixed (anvil makes its genesis block anew at every start, and the trust
    root pins its hash), and the clock is set to the wall clock after each start."""

    def __init__(self, directory: Path, chain_id: int = 31337) -> None:
        self.directory = directory
        self.state = directory / "state.json"
        self.good = directory / "state.good.json"
        self.port = free_port()
        self.chain_id = chain_id
        self.genesis_time = int(time.time())
        self.proc: subprocess.Popen[bytes] | None = None
        self._keeping = threading.Event()
        self._keeper: threading.Thread | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def _keep(self) -> None:
        while not self._keeping.wait(0.2):
            with contextlib.suppress(OSError, ValueError):
                data = self.state.read_bytes()
                json.loads(data)
                spare = self.good.with_suffix(".tmp")
                spare.write_bytes(data)
                os.replace(spare, self.good)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, load: Path | None = None, *, automine: bool = False) -> None:
        """Starts the node from its state file (or `load`'s copy); `automine`: a block per
        transaction instead of one a second (quick set-up; no confirmations come)."""
        if load is not None:
            shutil.copyfile(load, self.state)
        command = [
            str(find_anvil_binary()),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--chain-id", str(self.chain_id), "--timestamp", str(self.genesis_time)),
            "--silent",
            *("--state", str(self.state), "--state-interval", "1"),
            *(() if automine else ("--block-time", "1")),
        ]
        for _ in range(50):  # the port may still be held for a moment after a kill
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=(self.directory / "anvil.log").open("ab"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 1}))
                    if w3.eth.chain_id == self.chain_id:
                        # its clock from the wall again (it would restart at the genesis time)
                        w3.provider.make_request("evm_setTime", [int(time.time())])  # type: ignore[arg-type]
                        self._keeping.clear()
                        self._keeper = threading.Thread(target=self._keep, daemon=True)
                        self._keeper.start()
                        return
                except Exception:
                    time.sleep(0.05)
            self.kill()
            time.sleep(0.2)
        raise AssertionError("anvil did not start")

    def _stop_keeping(self) -> None:
        self._keeping.set()
        if self._keeper is not None:
            self._keeper.join(timeout=5)
            self._keeper = None

    def stop(self) -> None:
        """SIGTERM: anvil dumps its state on the way out."""
        assert self.proc is not None
        self._stop_keeping()
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc = None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL; the dump is then the last complete one."""
        self._stop_keeping()
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None
        if self.good.exists():
            shutil.copyfile(self.good, self.state)

    def dump(self, to: Path) -> None:
        """A copy of the last complete state dump (a second or so old)."""
        shutil.copyfile(self.good, to)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[StatefulAnvil]:
    anvil = StatefulAnvil(tmp_path / "anvil")
    anvil.start(automine=True)
    try:
        yield anvil
    finally:
        if anvil.proc is not None:
            os.kill(anvil.proc.pid, signal.SIGCONT)
        anvil.kill()


def _client(url: str) -> ChainClient:
    return ChainClient(Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 5})))


def _gateway(
    node: StatefulAnvil, data: Path, keys: dict[str, Path], confirmations: int = CONFIRMATIONS
) -> GatewayProcess:
    return GatewayProcess(
        data,
        *("--chain", node.url, "--deployer-key", str(keys["deployer"])),
        *("--account-key", str(keys["account"])),
        env={
            "LEDGER_CONFIRMATIONS": str(confirmations),
            "LEDGER_RPC_TIMEOUT": str(RPC_TIMEOUT),
            "LEDGER_TX_REPLACE_AFTER": "5",
        },
    )


class Load:
    """One client submitting and co-signing loans in a loop; every answer is counted."""

    def __init__(self, base: str, funder: dict[str, Any], platform: dict[str, Any], now: int):
        self.http = httpx.Client(base_url=base, timeout=CLIENT_TIMEOUT)
        self.funder, self.platform, self.now = funder, platform, now
        self.statuses: Counter[int] = Counter()
        self.hangs = 0
        self.acknowledged: dict[str, str] = {}  # record id -> anchoring
        self.during_outage = 0  # submissions made while the node was away
        self.acknowledged_during_outage = 0
        self.outage = threading.Event()
        self.stop = threading.Event()
        self.errors: list[str] = []
        self._counter = itertools.count(1)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _post(
        self, path: str, key: str, body: dict[str, Any] | None = None
    ) -> httpx.Response | None:
        try:
            r = self.http.post(path, json=body, headers=auth(key))
        except httpx.TimeoutException:
            self.hangs += 1
            return None
        self.statuses[r.status_code] += 1
        if r.status_code >= 400:
            self.errors.append(f"{path} {r.status_code} {r.text[:300]}")
        return r

    def _run(self) -> None:
        while not self.stop.is_set():
            n = next(self._counter)
            anchoring = "per-record" if n % 4 == 0 else "batch"
            body, _ = loan_submission(
                self.funder["participant"]["id"],
                self.now,
                principal=1_000_000 + n,
                months=6,
                document=f"outage agreement {n}".encode(),
                anchoring=anchoring,
            )
            away = self.outage.is_set()
            if away:
                self.during_outage += 1
            r = self._post("/v1/loans", self.platform["api_key"], body)
            if r is None or r.status_code != 202:
                continue
            record_id = r.json()["record_id"]
            c = self._post(f"/v1/loans/{record_id}/confirm", self.funder["api_key"])
            if c is not None and c.status_code == 200 and c.json().get("entry_timestamp"):
                self.acknowledged[record_id] = anchoring
                if away:
                    self.acknowledged_during_outage += 1


class DepthWatch:
    """Looks at the gateway's database every 0.3 s: a record seen `anchored` must have its block
    `CONFIRMATIONS` deep under the node's head at that moment (asked just after). While the node
    is away, `look(at_head=...)` judges by the last head seen before it went."""

    def __init__(self, db_url: str, node_url: str) -> None:
        self.db = Database(db_url)
        self.w3 = Web3(Web3.HTTPProvider(node_url, request_kwargs={"timeout": 1}))
        self.seen: dict[str, int] = {}
        self.too_early: list[tuple[str, int, int]] = []
        self.last_head = 0
        self.paused = threading.Event()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.3):
            if not self.paused.is_set():
                with contextlib.suppress(Exception):  # the node away: the next look judges
                    self.look()

    def look(self, at_head: int | None = None) -> None:
        with self._lock:
            with self.db.session() as s:
                rows = s.execute(
                    select(SubmissionRow.record_id, SubmissionRow.block_number).where(
                        SubmissionRow.status == "anchored"
                    )
                ).all()
            fresh = [(r, int(b)) for r, b in rows if r not in self.seen]
            head = int(self.w3.eth.block_number) if at_head is None else at_head
            self.last_head = head
            for record_id, block in fresh:
                self.seen[record_id] = block
                if head < block + CONFIRMATIONS:
                    self.too_early.append((record_id, block, head))


def _first_start(
    node: StatefulAnvil, tmp_path: Path
) -> tuple[Path, dict[str, Path], GatewayProcess]:
    """Funded deployer and gateway key files, and the gateway's first start (it deploys), on
    the still automining node without confirmations: quick. Its data dir, keys and process."""
    dev = _client(node.url)
    keys = {name: tmp_path / f"{name}.hex" for name in ("deployer", "account")}
    for path in keys.values():
        funded_key_file(dev, path)
    data = tmp_path / "gw"
    return data, keys, _gateway(node, data, keys, confirmations=0)


def _healthz(base: str) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    r = httpx.get(f"{base}/healthz", timeout=CLIENT_TIMEOUT)
    return time.monotonic() - started, r


def test_the_gateway_accepts_while_the_node_is_down_and_anchors_everything_after(
    node: StatefulAnvil, tmp_path: Path, figures: Callable[[str], None]
) -> None:
    started = time.monotonic()
    data, keys, server = _first_start(node, tmp_path)
    http = httpx.Client(base_url=server.base, timeout=CLIENT_TIMEOUT)
    regulator = server.regulator_key()
    bank, platform = bank_and_platform(http, regulator)
    server.stop()
    node.stop()
    # the drill: 1 s blocks, confirmations; this gateway process is never restarted
    node.start()
    server = _gateway(node, data, keys)
    print(f"\ngateway up after {time.monotonic() - started:.1f} s")
    pid = server.proc.pid
    http = httpx.Client(base_url=server.base, timeout=CLIENT_TIMEOUT)
    # the loans' issue time: a restarted node's clock runs behind the wall clock by its downtime,
    # but never behind a block it made after this
    now = int(http.get("/healthz").json()["time"])
    load = Load(server.base, bank, platform, now)
    watch = DepthWatch(server.db_url, node.url)
    load.thread.start()
    watch.thread.start()

    def acknowledged_soon(count: int, timeout: float = 20.0) -> None:
        target = len(load.acknowledged) + count
        deadline = time.monotonic() + timeout
        while len(load.acknowledged) < target and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(load.acknowledged) >= target, (load.statuses, load.errors[:3])

    def node_away(fault: Callable[[], None], seconds: float) -> None:
        """The fault, load going on for `seconds`; the watch judges what was anchored before it
        by the last head seen."""
        watch.paused.set()
        watch.look()
        load.outage.set()
        fault()
        watch.look(at_head=watch.last_head)
        time.sleep(seconds)

    def node_back(restart: Callable[[], None]) -> None:
        restart()
        load.outage.clear()
        watch.paused.clear()

    try:
        acknowledged_soon(6)

        # 1. hung node: requests to it time out; the gateway answers from its database
        node_away(lambda: node.signal(signal.SIGSTOP), 4)
        took, health = _healthz(server.base)
        assert took < RPC_TIMEOUT + 4, took
        assert health.status_code == 503, health.text
        body = health.json()
        assert body["status"] == "degraded" and "chain unreachable" in body["reasons"], body
        assert body["checks"]["batcher"]["queue_depth"] > 0, body
        assert body["checks"]["batcher"]["oldest_pending_seconds"] > 0, body
        node_back(lambda: node.signal(signal.SIGCONT))
        time.sleep(3)
        rollback_to = tmp_path / "older-state.json"
        node.dump(rollback_to)  # what the rollback restores, taken before the next faults

        # 2. the node killed and down for a while, then restarted from its state file
        node_away(node.kill, 4)
        node_back(node.start)
        time.sleep(3)

        # 3. rollback: killed and restarted from the older dump (the blocks since are lost)
        node_away(node.kill, 1)
        node_back(lambda: node.start(load=rollback_to))
        restarted = time.monotonic()
        time.sleep(3)
    finally:
        load.stop.set()
        load.thread.join(timeout=CLIENT_TIMEOUT + 5)
    stopped = time.monotonic()

    # every acknowledged record anchored, its receipt verifying against the chain (the last
    # rollback may still be being repaired: receipts are judged until they verify, or time is up)
    records = dict(load.acknowledged)
    trust = load_trust_root(data / TRUST_ROOT_FILE)
    assert trust.registry is not None
    chain = _client(node.url)
    deadline = time.monotonic() + 45
    pending: set[str] = set(records)
    failing: dict[str, list[str]] = {}
    while time.monotonic() < deadline:
        checked_at = time.monotonic()
        with watch.db.session() as s:
            anchored = set(
                s.execute(
                    select(SubmissionRow.record_id).where(SubmissionRow.status == "anchored")
                ).scalars()
            )
        pending = set(records) - anchored
        if pending:
            time.sleep(0.5)
            continue
        facts = SnapshotChainFacts.load(chain, trust.registry, trust.ledger, trust.deployment_block)
        verifier = Verifier(facts, trust)
        failing = {}
        ids = sorted(records)
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            answer = http.post(
                "/v1/loans/receipts", json={"record_ids": chunk}, headers=auth(regulator)
            )
            assert answer.status_code == 200 and answer.json()["missing"] == [], answer.text
            for receipt in answer.json()["receipts"]:
                report = verifier.verify(receipt, raise_on_failure=False)
                if not report.ok:
                    failing[receipt["record_id"]] = report.failed
        if not failing:
            break
        time.sleep(1)
    recovered = checked_at - restarted
    print(f"load stopped at {stopped - started:.1f} s, verified at {checked_at - started:.1f} s")
    lost = len(pending) + len(failing)
    fivexx = sum(count for status, count in load.statuses.items() if status >= 500)
    figures(
        f"node outage drill [{backends.DATABASE}]:"
        f" submissions during outage {load.during_outage},"
        f" acknowledged during outage {load.acknowledged_during_outage},"
        f" acknowledged {len(records)}"
        f" ({sum(1 for a in records.values() if a == 'per-record')} per record),"
        f" anchored {len(records) - lost}, lost {lost}, 5xx {fivexx}, hangs {load.hangs},"
        f" anchored before depth {len(watch.too_early)} (of {len(watch.seen)} watched),"
        f" recovery {recovered:.1f} s after the rollback, drill {time.monotonic() - started:.0f} s"
    )
    assert fivexx == 0, [e for e in load.errors if " 5" in e[:80]][:5]
    assert not load.errors, load.errors[:5]  # nothing refused either
    assert load.hangs == 0
    assert load.acknowledged_during_outage > 0 and load.during_outage > 0
    assert not pending, f"{len(pending)} acknowledged records never anchored"
    assert not failing, f"receipts failing verification: {list(failing.items())[:3]}"
    assert not watch.too_early, watch.too_early[:5]
    assert server.alive() and server.proc.pid == pid  # no gateway restart
    assert http.get("/healthz").json()["status"] == "ok"
    server.stop()


def test_a_node_of_another_chain_is_refused(node: StatefulAnvil, tmp_path: Path) -> None:
    """At start: the gateway's database holds the deployment of chain 31337, the node answers
    1337: `ledger serve` exits with CHAIN_ID_MISMATCH instead of deploying anew. While running:
    the URL now reaches a node of another chain: /healthz says so, nothing is sent to it."""
    data, keys, server = _first_start(node, tmp_path)
    server.stop()

    other = StatefulAnvil(tmp_path / "other", chain_id=1337)
    other.start(automine=True)
    try:
        refused = subprocess.run(
            [
                *GatewayProcess.command(data, free_port()),
                *("--chain", other.url, "--deployer-key", str(keys["deployer"])),
                *("--account-key", str(keys["account"])),
            ],
            env=GatewayProcess.environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        other.kill()
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "CHAIN_ID_MISMATCH" in refused.stderr, refused.stderr[-2000:]
    assert "chain id 1337" in refused.stderr and "31337" in refused.stderr
    assert not (data / "deployments" / "1337.json").exists()  # nothing deployed there

    # while the gateway runs, its URL comes to reach a node of another chain
    server = _gateway(node, data, keys, confirmations=0)
    http = httpx.Client(base_url=server.base, timeout=CLIENT_TIMEOUT)
    assert http.get("/healthz").json()["status"] == "ok"
    node.kill()
    swapped = StatefulAnvil(tmp_path / "swapped", chain_id=1337)
    swapped.port = node.port
    swapped.start(automine=True)
    try:
        health = http.get("/healthz")
        assert health.status_code == 503, health.text
        body = health.json()
        assert "chain id mismatch" in body["reasons"], body
        assert body["checks"]["chain"]["chain_id"] == 1337
        assert body["checks"]["chain"]["expected_chain_id"] == 31337
        deadline = time.monotonic() + 10
        while "not the deployment's 31337" not in server.log.read_text():
            assert time.monotonic() < deadline, server.log.read_text()[-2000:]
            time.sleep(0.2)  # the batcher's probe refuses the node
        server.stop()
    finally:
        swapped.kill()
