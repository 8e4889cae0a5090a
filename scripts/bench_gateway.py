#!/usr/bin/env python3
"""Gateway benchmark over real HTTP, each figure beside its reference from the same run.

For each chain backend (`--chain embedded|anvil|both`) it starts `ledger serve` on a free
127.0.0.1 port with a fresh temp data dir (embedded eth-tester chain, or an anvil node started
with `ledger.chain.anvil.AnvilNode`), registers a bank and a platform, whitelists the platform,
and measures:

1. core library: records canonicalized + hashed + double-signed per second, in this process
   (`ledger.bench.measure_records`): the reference for everything;
2. batch path end to end: `POST /v1/loans/batch` + `POST /v1/loans/confirm-batch` + waiting until
   every record is anchored + fetching every receipt (`POST /v1/loans/receipts`, 1,000 a
   request): records/s, per phase, and / core library;
3. receipts served per second at concurrency 1 and 8 (threads, one keep-alive client each),
   beside a raw read of the same receipts from the gateway's SQLite file (WAL, while it runs);
   and in bulk (`POST /v1/loans/receipts`, 1,000 a request) at concurrency 1 and 2, beside raw
   `IN (...)` reads of 1,000 at a time;
4. single requests: `POST /v1/loans` then `POST /v1/loans/{id}/confirm`, one loan at a time, at
   concurrency 1 and 8: requests/s and submit/confirm latency percentiles, beside `GET /healthz`
   requests/s at the same concurrency (the HTTP stack's floor, though it also reads the chain
   and the database) and `GET` of an unknown path (404: routing and middleware only);
5. with `--profile`: one more batch path (`--profile-records`) with py-spy attached to the
   gateway (installed into the virtualenv if missing): the 15 hottest functions by self time and
   the project's functions by cumulative time, as shares of busy thread time; the raw stacks are
   kept beside `--out` (flamegraph input). Without ptrace the report says so.

Anvil runs with AnvilNode's defaults (automine); `--anvil-args '--block-time 1'` tries others.
CPU seconds of the gateway (and anvil) are read from /proc for each phase: the client runs on the
same machine, so a figure is only as good as the cores left to the gateway.

Prints progress to stderr and a Markdown table to stdout, and writes every figure as JSON to
`--out`. Figures, not assertions; an endpoint that fails is reported (status and body) and its
section skipped. Bounded: every loop has a count and a deadline; only 127.0.0.1 is used; the
gateway, anvil and py-spy are always stopped (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledger.bench import measure_records  # noqa: E402 - after the path tweak
from ledger.chain.anvil import AnvilNode, find_anvil_binary  # noqa: E402
from ledger.limits import MAX_BATCH_SUBMISSION, MAX_RECEIPT_BATCH  # noqa: E402
from ledger.testing import loan_submission  # noqa: E402

T = TypeVar("T")

PACKAGES = (
    "web3",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "pydantic",
    "pydantic-core",
    "eth-tester",
    "py-evm",
    "coincurve",
    "httpx",
)
KEY_LINE = re.compile(r"Regulator API key \(shown once, store it now\):\s*(\S+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
JSON_HEADERS = {"Content-Type": "application/json"}
_T0 = time.monotonic()
POLLS_MAX = 20_000
"""Most polls of any wait loop (each also has a deadline)."""


class BenchError(Exception):
    """A section could not be measured (an endpoint failed, a deadline passed)."""


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def rate(count: int, seconds: float) -> float | None:
    return round(count / seconds, 1) if seconds > 0 else None


def ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def describe(response: httpx.Response, what: str) -> str:
    body = response.text
    return f"{what}: HTTP {response.status_code} {body[:1500]}{'…' if len(body) > 1500 else ''}"


def expect_ok(response: httpx.Response, what: str) -> httpx.Response:
    if not response.is_success:
        raise BenchError(describe(response, what))
    return response


def check_deadline(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise BenchError(f"{what}: deadline passed")


# --------------------------------------------------------------------------- statistics


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def latency_summary(samples: Sequence[float]) -> dict[str, float | int | None]:
    if not samples:
        return {"count": 0}
    ordered = sorted(samples)
    ms = {f"p{q}_ms": round(percentile(ordered, q) * 1000, 2) for q in (50, 95, 99)}
    return {
        "count": len(ordered),
        "mean_ms": round(sum(ordered) / len(ordered) * 1000, 2),
        **ms,
        "max_ms": round(ordered[-1] * 1000, 2),
    }


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a live process (Linux /proc), None elsewhere."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def stop_process(proc: subprocess.Popen[bytes], name: str, *, first: int = signal.SIGTERM) -> None:
    """`first` (SIGTERM) to the process group, then SIGKILL if it is still there after 20 s."""
    if proc.poll() is not None:
        return
    log(f"stopping {name} (pid {proc.pid})")
    for sig, wait in ((first, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            log(f"{name} did not stop on signal {sig}")


@dataclass
class Gateway:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    regulator_key: str
    chain_pid: int | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "ledger.db"

    def cpu(self) -> dict[str, float | None]:
        out = {"gateway_cpu_s": cpu_seconds(self.proc.pid)}
        if self.chain_pid is not None:
            out["anvil_cpu_s"] = cpu_seconds(self.chain_pid)
        return out


def server_command(data_dir: Path, port: int, chain: str | None, batch_size: int) -> list[str]:
    cmd = [sys.executable, "-m", "ledger", "serve", "--data-dir", str(data_dir)]
    if chain:
        cmd += ["--chain", chain]
    return [
        *cmd,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--batch-interval",
        "0.5",
        "--batch-size",
        str(batch_size),
    ]


@contextmanager
def gateway_process(
    work: Path, chain: str | None, batch_size: int, chain_pid: int | None, timeout: float
) -> Iterator[Gateway]:
    port = free_port()
    data_dir = work / "gw"
    log_path = work / "server.log"
    cmd = server_command(data_dir, port, chain, batch_size)
    log(f"starting gateway: {shlex.join(cmd)}")
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")},
                "PYTHONPATH": str(ROOT),
            },
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        key = wait_ready(proc, port, log_path, timeout)
        yield Gateway(proc, port, data_dir, log_path, key, chain_pid)
    finally:
        stop_process(proc, "gateway")


def wait_ready(proc: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    key = None
    for _ in range(POLLS_MAX):
        if time.monotonic() > deadline:
            break
        text = ANSI.sub("", log_path.read_text(errors="replace"))
        if key is None and (found := KEY_LINE.search(text)):
            key = found.group(1)
        if key is not None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    return key
            except httpx.HTTPError:
                pass
        if proc.poll() is not None:
            raise BenchError(f"gateway exited ({proc.returncode}): {text[-3000:]}")
        time.sleep(0.3)
    raise BenchError(f"gateway not ready within {timeout:.0f} s (key seen: {key is not None})")


def server_log_problems(log_path: Path) -> dict[str, Any]:
    try:
        lines = ANSI.sub("", log_path.read_text(errors="replace")).splitlines()
    except OSError:
        return {}
    bad = [
        line
        for line in lines
        if "Traceback" in line or re.search(r"\b(ERROR|CRITICAL|Exception)\b", line)
    ]
    return {"lines": len(lines), "problem_lines": len(bad), "first_problems": bad[:10]}


# --------------------------------------------------------------------------- HTTP helpers


def new_client(base: str, timeout: float = 120.0) -> httpx.Client:
    return httpx.Client(
        base_url=base,
        timeout=timeout,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Parties:
    funder_id: int
    funder_key: str
    platform_key: str


@dataclass
class WorkerOutcome:
    samples: dict[str, list[float]] = field(default_factory=dict)
    bodies: dict[str, bytes] = field(default_factory=dict)
    done: int = 0
    error: str | None = None

    def sample(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)


Work = Callable[[httpx.Client, list[T], float, WorkerOutcome], None]


def fan_out(
    base: str, chunks: list[list[T]], work: Work[T], deadline: float
) -> tuple[float, list[WorkerOutcome]]:
    """Runs `work` on each chunk in its own thread with its own keep-alive client (warmed by one
    request first), all released at once; returns the wall time and each worker's outcome."""
    chunks = [c for c in chunks if c]
    barrier = threading.Barrier(len(chunks) + 1, timeout=120)

    def runner(chunk: list[T]) -> WorkerOutcome:
        outcome = WorkerOutcome()
        with new_client(base) as client:
            with suppress(httpx.HTTPError):  # open the connection before the clock starts
                client.get("/v1/deployment")
            barrier.wait()
            try:
                work(client, chunk, deadline, outcome)
            except (httpx.HTTPError, BenchError) as exc:
                outcome.error = f"{type(exc).__name__}: {exc}"
        return outcome

    with ThreadPoolExecutor(len(chunks)) as pool:
        futures = [pool.submit(runner, chunk) for chunk in chunks]
        barrier.wait()
        t0 = time.perf_counter()
        outcomes = [f.result() for f in futures]
        wall = time.perf_counter() - t0
    return wall, outcomes


def split(items: Sequence[T], parts: int) -> list[list[T]]:
    return [list(items[i::parts]) for i in range(parts)]


def merged(outcomes: list[WorkerOutcome], name: str) -> list[float]:
    return [s for o in outcomes for s in o.samples.get(name, [])]


def first_error(outcomes: list[WorkerOutcome]) -> str | None:
    errors = [o.error for o in outcomes if o.error]
    return errors[0] if errors else None


def health(client: httpx.Client) -> dict[str, Any]:
    answer: dict[str, Any] = expect_ok(client.get("/healthz"), "GET /healthz").json()
    return answer


def wait_queue_empty(client: httpx.Client, timeout: float) -> float:
    """Waits until the batcher's queue is empty; returns the seconds waited."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    for _ in range(POLLS_MAX):
        if time.monotonic() > deadline:
            break
        response = client.get("/healthz")
        if response.status_code in (200, 503):
            depth = response.json().get("checks", {}).get("batcher", {}).get("queue_depth")
            if depth == 0:
                return round(time.monotonic() - t0, 3)
        time.sleep(0.2)
    raise BenchError(f"anchoring queue not empty after {timeout:.0f} s")


def setup_parties(client: httpx.Client, regulator: str) -> Parties:
    bank = expect_ok(
        client.post(
            "/v1/participants",
            json={"role": "funder", "name": "Bank A", "institution_type": "bank"},
            headers=bearer(regulator),
        ),
        "POST /v1/participants (funder)",
    ).json()
    plat = expect_ok(
        client.post(
            "/v1/participants",
            json={"role": "platform", "name": "Platform 1"},
            headers=bearer(regulator),
        ),
        "POST /v1/participants (platform)",
    ).json()
    expect_ok(
        client.put(f"/v1/whitelist/{plat['participant']['id']}", headers=bearer(bank["api_key"])),
        "PUT /v1/whitelist/{platform}",
    )
    return Parties(int(bank["participant"]["id"]), bank["api_key"], plat["api_key"])


def loans(parties: Parties, issued_at: int, first_principal: int, count: int) -> list[bytes]:
    """`count` distinct loans (different principal and agreement), each as a JSON body."""
    return [
        json.dumps(
            loan_submission(parties.funder_id, issued_at, principal=first_principal + i)[0],
            separators=(",", ":"),
        ).encode()
        for i in range(count)
    ]


# --------------------------------------------------------------------------- sections


def batch_path(
    gw: Gateway, client: httpx.Client, parties: Parties, n: int, principal: int, timeout: float
) -> tuple[dict[str, Any], list[str]]:
    """Submit, co-sign, wait for anchoring, fetch every receipt: records/s end to end."""
    deadline = time.monotonic() + timeout
    issued_at = int(health(client)["time"])
    bodies = loans(parties, issued_at, principal, n)
    payloads = [
        b'{"loans":[' + b",".join(bodies[i : i + MAX_BATCH_SUBMISSION]) + b"]}"
        for i in range(0, n, MAX_BATCH_SUBMISSION)
    ]
    log(f"batch path: {n} loans in {len(payloads)} request(s), {sum(map(len, payloads))} bytes")
    platform_h = {**bearer(parties.platform_key), **JSON_HEADERS}
    funder_h = bearer(parties.funder_key)
    cpu = [gw.cpu()]
    client_cpu = time.process_time()
    t0 = time.perf_counter()

    ids: list[str] = []
    submit_rejected: list[dict[str, Any]] = []
    for payload in payloads:
        check_deadline(deadline, "batch submit")
        answer = expect_ok(
            client.post("/v1/loans/batch", content=payload, headers=platform_h),
            "POST /v1/loans/batch",
        ).json()
        for item in answer["results"]:
            if item.get("record_id") and not item.get("error"):
                ids.append(item["record_id"])
            else:
                submit_rejected.append(item)
    t_submit = time.perf_counter()
    cpu.append(gw.cpu())
    log(f"batch path: submitted {len(ids)} ({len(submit_rejected)} rejected)")
    if not ids:
        raise BenchError(f"POST /v1/loans/batch accepted nothing: {submit_rejected[:3]}")

    confirmed: list[str] = []
    confirm_rejected: list[dict[str, Any]] = []
    for i in range(0, len(ids), MAX_BATCH_SUBMISSION):
        check_deadline(deadline, "batch confirm")
        answer = expect_ok(
            client.post(
                "/v1/loans/confirm-batch",
                json={"record_ids": ids[i : i + MAX_BATCH_SUBMISSION]},
                headers=funder_h,
            ),
            "POST /v1/loans/confirm-batch",
        ).json()
        for item in answer["results"]:
            if item.get("error") or item.get("status") == "rejected":
                confirm_rejected.append(item)
            else:
                confirmed.append(item["record_id"])
    t_confirm = time.perf_counter()
    cpu.append(gw.cpu())
    log(f"batch path: co-signed {len(confirmed)} ({len(confirm_rejected)} rejected)")
    if not confirmed:
        raise BenchError(f"POST /v1/loans/confirm-batch accepted nothing: {confirm_rejected[:3]}")

    last: dict[str, Any] = {}
    polls = 0
    for polls in range(1, POLLS_MAX + 1):  # noqa: B007 - bounded by count and by the deadline
        check_deadline(deadline, f"waiting for {confirmed[-1]} to be anchored")
        last = expect_ok(
            client.get(f"/v1/loans/{confirmed[-1]}", headers=funder_h), "GET /v1/loans/{id}"
        ).json()
        if last["status"] in ("anchored", "rejected"):
            break
        time.sleep(0.1)
    t_anchor = time.perf_counter()
    cpu.append(gw.cpu())
    log(f"batch path: last record {last['status']} after {polls} polls")
    if last["status"] != "anchored":
        raise BenchError(f"the last record was not anchored: {last}")

    sizes = 0
    served_ids: list[str] = []
    receipt_failures: Counter[int] = Counter()
    first_failure = None
    for i in range(0, len(confirmed), MAX_RECEIPT_BATCH):
        check_deadline(deadline, "batch fetch receipts")
        chunk = confirmed[i : i + MAX_RECEIPT_BATCH]
        response = client.post(
            "/v1/loans/receipts", json={"record_ids": chunk}, headers=bearer(parties.platform_key)
        )
        if response.is_success:
            sizes += len(response.content)
            missing = {m["record_id"] for m in response.json()["missing"]}
            served_ids += [r for r in chunk if r not in missing]
            receipt_failures[404] += len(missing)
        else:
            receipt_failures[response.status_code] += len(chunk)
            first_failure = first_failure or describe(response, "POST /v1/loans/receipts")
    t_receipts = time.perf_counter()
    cpu.append(gw.cpu())
    client_cpu = time.process_time() - client_cpu

    phases = {
        "submit": (t_submit - t0, len(ids)),
        "confirm": (t_confirm - t_submit, len(confirmed)),
        "until_anchored": (t_anchor - t_confirm, len(confirmed)),
        "fetch_receipts": (t_receipts - t_anchor, len(confirmed)),
    }
    phase_cpu = {name: cpu_delta(cpu[i], cpu[i + 1]) for i, name in enumerate(phases)}
    served = len(served_ids)
    result = {
        "records_submitted": n,
        "records_accepted": len(ids),
        "records_confirmed": len(confirmed),
        "receipts_fetched": served,
        "end_to_end_seconds": round(t_receipts - t0, 3),
        "records_per_s": rate(served, t_receipts - t0),
        "phases": {
            name: {
                "seconds": round(seconds, 3),
                "records_per_s": rate(count, seconds),
                **phase_cpu[name],
            }
            for name, (seconds, count) in phases.items()
        },
        "client_cpu_s": round(client_cpu, 2),
        "request_bytes": sum(map(len, payloads)),
        "receipt_bytes_mean": round(sizes / served) if served else None,
        "anchored_in": {
            k: last.get(k) for k in ("batch_root", "block_number", "transaction_hash", "block_time")
        },
        "status_polls": polls,
        "submit_rejected": {"count": len(submit_rejected), "first": submit_rejected[:3]},
        "confirm_rejected": {"count": len(confirm_rejected), "first": confirm_rejected[:3]},
        "receipt_failures": {
            "by_status": dict(receipt_failures),
            "first": first_failure,
        },
    }
    return result, served_ids


def receipts_served(
    gw: Gateway, parties: Parties, ids: list[str], concurrency: int, timeout: float
) -> tuple[dict[str, Any], dict[str, bytes]]:
    headers = bearer(parties.platform_key)

    def work(client: httpx.Client, chunk: list[str], deadline: float, out: WorkerOutcome) -> None:
        for record_id in chunk:
            check_deadline(deadline, "receipts")
            t = time.perf_counter()
            response = client.get(f"/v1/loans/{record_id}/receipt", headers=headers)
            out.sample("receipt", time.perf_counter() - t)
            if not response.is_success:
                raise BenchError(describe(response, "GET /v1/loans/{id}/receipt"))
            out.bodies[record_id] = response.content
            out.done += 1

    before, client_cpu = gw.cpu(), time.process_time()
    wall, outcomes = fan_out(gw.base, split(ids, concurrency), work, time.monotonic() + timeout)
    after = gw.cpu()
    done = sum(o.done for o in outcomes)
    bodies = {k: v for o in outcomes for k, v in o.bodies.items()}
    return {
        "concurrency": concurrency,
        "receipts": done,
        "seconds": round(wall, 3),
        "receipts_per_s": rate(done, wall),
        "latency": latency_summary(merged(outcomes, "receipt")),
        **cpu_delta(before, after),
        "client_cpu_s": round(time.process_time() - client_cpu, 2),
        "error": first_error(outcomes),
    }, bodies


def receipts_bulk(
    gw: Gateway, parties: Parties, ids: list[str], concurrency: int, timeout: float
) -> dict[str, Any]:
    """`POST /v1/loans/receipts` with MAX_RECEIPT_BATCH ids a request, every id once."""
    headers = bearer(parties.platform_key)
    requests = [ids[i : i + MAX_RECEIPT_BATCH] for i in range(0, len(ids), MAX_RECEIPT_BATCH)]

    def work(
        client: httpx.Client, chunk: list[list[str]], deadline: float, out: WorkerOutcome
    ) -> None:
        for asked in chunk:
            check_deadline(deadline, "bulk receipts")
            t = time.perf_counter()
            response = client.post(
                "/v1/loans/receipts", json={"record_ids": asked}, headers=headers
            )
            out.sample("request", time.perf_counter() - t)
            if not response.is_success or response.json()["missing"]:
                raise BenchError(describe(response, "POST /v1/loans/receipts"))
            out.done += len(asked)

    before = gw.cpu()
    wall, outcomes = fan_out(
        gw.base, split(requests, concurrency), work, time.monotonic() + timeout
    )
    after = gw.cpu()
    done = sum(o.done for o in outcomes)
    return {
        "concurrency": concurrency,
        "ids_per_request": MAX_RECEIPT_BATCH,
        "receipts": done,
        "seconds": round(wall, 3),
        "receipts_per_s": rate(done, wall),
        "request_latency": latency_summary(merged(outcomes, "request")),
        **cpu_delta(before, after),
        "error": first_error(outcomes),
    }


def sqlite_bulk_reads(db_path: Path, ids: list[str]) -> dict[str, Any]:
    """The reference for bulk receipts: the same ids, MAX_RECEIPT_BATCH per `IN (...)` query."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        t0 = time.perf_counter()
        found = 0
        for i in range(0, len(ids), MAX_RECEIPT_BATCH):
            chunk = ids[i : i + MAX_RECEIPT_BATCH]
            marks = ",".join("?" * len(chunk))
            found += len(
                con.execute(
                    f"SELECT receipt_json FROM receipts WHERE record_id IN ({marks})", chunk
                ).fetchall()
            )
        seconds = time.perf_counter() - t0
    finally:
        con.close()
    return {
        "reads": len(ids),
        "found": found,
        "seconds": round(seconds, 3),
        "reads_per_s": rate(len(ids), seconds),
    }


def cpu_delta(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float]:
    out = {}
    for key, start in before.items():
        end = after.get(key)
        if start is not None and end is not None:
            out[key] = round(end - start, 2)
    return out


def sqlite_reads(db_path: Path, ids: list[str], http_bodies: dict[str, bytes]) -> dict[str, Any]:
    """Raw reads of the same receipts from the gateway's SQLite file (WAL: while it runs)."""
    uri = f"file:{db_path}?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        t0 = time.perf_counter()
        found: dict[str, str] = {}
        for record_id in ids:
            row = con.execute(
                "SELECT receipt_json FROM receipts WHERE record_id = ?", (record_id,)
            ).fetchone()
            if row is not None:
                found[record_id] = row[0]
        seconds = time.perf_counter() - t0
    finally:
        con.close()
    compared = [i for i in ids if i in found and i in http_bodies]
    differ = [i for i in compared if found[i].encode() != http_bodies[i]]
    return {
        "journal_mode": mode,
        "reads": len(ids),
        "found": len(found),
        "seconds": round(seconds, 3),
        "reads_per_s": rate(len(ids), seconds),
        "http_bodies_compared": len(compared),
        "http_bodies_differing": len(differ),
        "first_differing": differ[:3],
    }


def single_requests(
    gw: Gateway,
    client: httpx.Client,
    parties: Parties,
    m: int,
    concurrency: int,
    principal: int,
    timeout: float,
) -> dict[str, Any]:
    """M loans, each `POST /v1/loans` then `POST /v1/loans/{id}/confirm`, over `concurrency`
    threads (each with its own client and its own distinct loans)."""
    issued_at = int(health(client)["time"])
    bodies = loans(parties, issued_at, principal, m)
    platform_h = {**bearer(parties.platform_key), **JSON_HEADERS}
    funder_h = bearer(parties.funder_key)

    def work(client: httpx.Client, chunk: list[bytes], deadline: float, out: WorkerOutcome) -> None:
        for body in chunk:
            check_deadline(deadline, "single requests")
            t = time.perf_counter()
            submitted = client.post("/v1/loans", content=body, headers=platform_h)
            out.sample("submit", time.perf_counter() - t)
            if not submitted.is_success:
                raise BenchError(describe(submitted, "POST /v1/loans"))
            record_id = submitted.json()["record_id"]
            t = time.perf_counter()
            confirmed = client.post(f"/v1/loans/{record_id}/confirm", headers=funder_h)
            out.sample("confirm", time.perf_counter() - t)
            if not confirmed.is_success:
                raise BenchError(describe(confirmed, "POST /v1/loans/{id}/confirm"))
            status = confirmed.json().get("status")
            if status != "queued":
                out.bodies.setdefault("unexpected_status", confirmed.content)
            out.done += 1

    before, client_cpu = gw.cpu(), time.process_time()
    wall, outcomes = fan_out(gw.base, split(bodies, concurrency), work, time.monotonic() + timeout)
    after = gw.cpu()
    done = sum(o.done for o in outcomes)
    requests = len(merged(outcomes, "submit")) + len(merged(outcomes, "confirm"))
    odd = next((o.bodies["unexpected_status"] for o in outcomes if o.bodies), None)
    return {
        "concurrency": concurrency,
        "loans": done,
        "requests": requests,
        "seconds": round(wall, 3),
        "loans_per_s": rate(done, wall),
        "requests_per_s": rate(requests, wall),
        "submit": latency_summary(merged(outcomes, "submit")),
        "confirm": latency_summary(merged(outcomes, "confirm")),
        **cpu_delta(before, after),
        "client_cpu_s": round(time.process_time() - client_cpu, 2),
        "unexpected_confirm_status": odd.decode(errors="replace")[:500] if odd else None,
        "error": first_error(outcomes),
    }


def plain_requests(
    gw: Gateway, path: str, status: int, m: int, concurrency: int, timeout: float
) -> dict[str, Any]:
    """`GET path` m times over `concurrency` threads, each answer expected to be `status`."""

    def work(client: httpx.Client, chunk: list[int], deadline: float, out: WorkerOutcome) -> None:
        for _ in chunk:
            check_deadline(deadline, path)
            t = time.perf_counter()
            response = client.get(path)
            out.sample("get", time.perf_counter() - t)
            if response.status_code != status:
                raise BenchError(describe(response, f"GET {path}"))
            out.done += 1

    before = gw.cpu()
    wall, outcomes = fan_out(
        gw.base, split(list(range(m)), concurrency), work, time.monotonic() + timeout
    )
    done = sum(o.done for o in outcomes)
    return {
        "path": path,
        "concurrency": concurrency,
        "requests": done,
        "seconds": round(wall, 3),
        "requests_per_s": rate(done, wall),
        "latency": latency_summary(merged(outcomes, "get")),
        **cpu_delta(before, gw.cpu()),
        "error": first_error(outcomes),
    }


def idle_cpu(gw: Gateway, seconds: float) -> dict[str, float]:
    """CPU the gateway (and anvil) burn while nobody calls: background threads' polling."""
    before = gw.cpu()
    time.sleep(seconds)
    used = cpu_delta(before, gw.cpu())
    return {
        "seconds": seconds,
        **{k.replace("_cpu_s", "_cpu_pct"): round(100 * v / seconds, 1) for k, v in used.items()},
    }


def metrics(client: httpx.Client) -> dict[str, float]:
    response = client.get("/metrics")
    if not response.is_success:
        return {"error": response.status_code}
    out: dict[str, float] = {}
    for line in response.text.splitlines():
        if line.startswith("ledger_") and " " in line and "_bucket" not in line:
            name, value = line.rsplit(" ", 1)
            with suppress(ValueError):
                out[name] = float(value)
    return out


# --------------------------------------------------------------------------- profiling


def py_spy_binary() -> tuple[str | None, str | None]:
    """The py-spy executable, installed into this virtualenv if missing; (path, problem)."""
    local = Path(sys.executable).with_name("py-spy")
    found = str(local) if local.is_file() else shutil.which("py-spy")
    if found:
        return found, None
    log("py-spy missing: pip install py-spy")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "py-spy"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"pip install py-spy failed: {exc}"
    if done.returncode != 0:
        return None, f"pip install py-spy failed: {done.stderr[-1000:]}"
    found = str(local) if local.is_file() else shutil.which("py-spy")
    return found, None if found else "py-spy installed but not found"


@contextmanager
def py_spy(pid: int, output: Path) -> Iterator[dict[str, Any]]:
    """py-spy record attached to `pid` for the body; yields a dict that gets `error` if it could
    not attach, or after the body the parsed profile."""
    state: dict[str, Any] = {}
    binary, problem = py_spy_binary()
    if binary is None:
        state["error"] = problem
        yield state
        return
    stderr_path = output.with_suffix(".stderr")
    cmd = [binary, "record", "--pid", str(pid), "--format", "raw", "--output", str(output)]
    cmd += ["--rate", "200", "--full-filenames"]
    state["command"] = shlex.join(cmd)
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)
        if proc.poll() is not None:
            state["error"] = (
                f"py-spy could not attach (exit {proc.returncode}; no ptrace here?): "
                + stderr_path.read_text(errors="replace")[-1000:]
            )
        yield state
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    if "error" not in state:
        if output.is_file() and output.stat().st_size:
            state.update(parse_raw_profile(output.read_text(errors="replace")))
        else:
            state["error"] = (
                "py-spy wrote no samples: " + stderr_path.read_text(errors="replace")[-1000:]
            )


@dataclass(frozen=True)
class Frame:
    function: str  # `name (short path)`
    line: str  # the line number sampled in it, "" when unknown
    package: str

    @staticmethod
    def parse(frame: str) -> Frame:
        """A py-spy frame `name (path:line)`, its path shortened and its package named."""
        match = re.match(r"^(.*) \((.*?)(?::(\d+))?\)$", frame)
        name, path, line = match.groups("") if match else (frame, "", "")
        short = path
        if "site-packages/" in path:
            short = path.split("site-packages/", 1)[1]
            package = short.split("/", 1)[0].removesuffix(".py")
        elif path.startswith(str(ROOT) + "/"):
            short = path[len(str(ROOT)) + 1 :]
            package = "/".join(short.split("/")[:2]).removesuffix(".py")
        elif "/lib/python" in path:
            short = "stdlib:" + path.rsplit("/lib/python", 1)[1].split("/", 1)[-1]
            package = "stdlib"
        else:
            package = path or "?"
        return Frame(f"{name} ({short})" if short else name, line, package)


IDLE_LEAVES = frozenset(
    {
        "Condition.wait",
        "Event.wait",
        "Thread._wait_for_tstate_lock",
        "EpollSelector.select",
        "PollSelector.select",
        "SelectSelector.select",
        "select",
        "sleep",
    }
)
"""Leaf functions of a thread that waits for work (py-spy's own idle test misses them here)."""

THREAD_MARKERS = (
    ("event loop (uvicorn, ASGI middleware, async endpoints)", "BaseEventLoop.run_forever"),
    ("threadpool (sync endpoints and dependencies)", "WorkerThread.run"),
    ("batcher", "run_batcher"),
    ("indexer", "run_indexer"),
    ("registry follower", "run_follower"),
)


def thread_of(frames: Sequence[Frame]) -> str:
    for label, marker in THREAD_MARKERS:
        if any(marker in f.function for f in frames):
            return label
    return "other"


def parse_raw_profile(text: str, top: int = 15) -> dict[str, Any]:
    """Self and cumulative shares per function from py-spy's raw (collapsed) stacks, over the
    busy samples (idle waits left out): shares of busy thread time, not of wall time. A thread
    blocked on a lock or on the GIL counts as busy at the line that waits (`hot_line`)."""
    self_counts: Counter[str] = Counter()
    self_lines: dict[str, Counter[str]] = {}
    cumulative: Counter[str] = Counter()
    project: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = idle = 0
    for text_line in text.splitlines():
        stack, _, count_text = text_line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [Frame.parse(f) for f in stack.split(";")]
        total += count
        leaf = frames[-1]
        if leaf.function.split(" (", 1)[0] in IDLE_LEAVES:
            idle += count
            continue
        self_counts[leaf.function] += count
        self_lines.setdefault(leaf.function, Counter())[leaf.line] += count
        packages[leaf.package] += count
        threads[thread_of(frames)] += count
        for frame in {f.function: f for f in frames}.values():
            cumulative[frame.function] += count
            if frame.package.startswith(("ledger/", "gateway/")):
                project[frame.function] += count
    busy = total - idle

    def share(counter: Counter[str], name: str) -> float:
        return round(100 * counter[name] / busy, 1) if busy else 0.0

    return {
        "samples": total,
        "idle_samples": idle,
        "busy_samples": busy,
        "top_self": [
            {
                "function": name,
                "hot_line": self_lines[name].most_common(1)[0][0],
                "self_pct": share(self_counts, name),
                "cumulative_pct": share(cumulative, name),
            }
            for name, _ in self_counts.most_common(top)
        ],
        "top_cumulative": [
            {"function": name, "cumulative_pct": share(cumulative, name)}
            for name, _ in cumulative.most_common(top + 15)
        ],
        "top_cumulative_project": [
            {"function": name, "cumulative_pct": share(project, name)}
            for name, _ in project.most_common(top + 10)
        ],
        "busy_by_thread": [
            {"thread": name, "pct": share(threads, name)} for name, _ in threads.most_common()
        ],
        "self_by_package": [
            {"package": name, "self_pct": share(packages, name)}
            for name, _ in packages.most_common(12)
        ],
    }


# --------------------------------------------------------------------------- one backend


def section(report: dict[str, Any], name: str, errors: list[str], fn: Callable[[], T]) -> T | None:
    """Runs one measurement into `report[name]`; a failure (or a worker's error in the figures)
    is recorded there and in `errors`, not raised."""
    try:
        value = fn()
    except (
        BenchError,
        httpx.HTTPError,
        sqlite3.Error,
        threading.BrokenBarrierError,
        OSError,
        KeyError,
        ValueError,
    ) as exc:
        message = f"{name}: {type(exc).__name__}: {exc}"
        log(f"FAILED {message[:500]}")
        report[name] = {"error": message}
        errors.append(message)
        return None
    figures = value[0] if isinstance(value, tuple) else value
    if isinstance(figures, dict) and figures.get("error"):
        log(f"FAILED {name}: {str(figures['error'])[:500]}")
        errors.append(f"{name}: {figures['error']}")
    report[name] = value
    return value


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    log(f"=== {backend}: core library measure_records(5000)")
    report: dict[str, Any] = {"backend": backend, "core_library": measure_records(5_000)}
    errors: list[str] = report.setdefault("errors", [])
    log(f"core library: {report['core_library']['records_per_s']} records/s")
    timeout, n, m, c8 = args.deadline, args.batch_records, args.single_requests, args.concurrency
    batch_size = min(max(n, 1), 100_000)  # the gateway's upper bound
    # The temp dir outlives the stack: the gateway and anvil are stopped before it is removed.
    with tempfile.TemporaryDirectory(prefix="bench-gw-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        chain_url, chain_pid = None, None
        if backend == "anvil":
            node = AnvilNode(extra_args=shlex.split(args.anvil_args))
            stack.enter_context(node)
            chain_url, chain_pid = node.url, node.pid
            report["anvil"] = {"command": shlex.join(node.command(node.port))}
            report["anvil"]["version"] = anvil_version()
            log(f"anvil: {report['anvil']['command']}")
        gw = stack.enter_context(gateway_process(work, chain_url, batch_size, chain_pid, 300))
        report["server_command"] = shlex.join(
            server_command(gw.data_dir, gw.port, chain_url, batch_size)
        )
        client = stack.enter_context(new_client(gw.base, timeout=600))
        report["startup_health"] = health(client)
        parties = setup_parties(client, gw.regulator_key)
        report["idle"] = idle_cpu(gw, args.idle_seconds)
        log(f"idle gateway: {report['idle']}")

        ids: list[str] = []
        if n > 0:
            done = section(
                report,
                "batch_path",
                errors,
                partial(batch_path, gw, client, parties, n, 2_000_000, timeout),
            )
            if done is not None:
                report["batch_path"], ids = done
                log(f"batch path: {report['batch_path']['records_per_s']} records/s end to end")

        receipts: dict[str, Any] = report.setdefault("receipts_served", {})
        bodies: dict[str, bytes] = {}
        for c in (1, c8) if ids else ():
            log(f"receipts: {len(ids)} at concurrency {c}")
            got = section(
                receipts, f"c{c}", errors, partial(receipts_served, gw, parties, ids, c, timeout)
            )
            if got is not None:
                receipts[f"c{c}"], fetched = got
                bodies = bodies or fetched
                log(f"receipts: {receipts[f'c{c}']['receipts_per_s']}/s at concurrency {c}")
        if ids:
            log("receipts: raw sqlite3 reads of the same receipts")
            section(report, "sqlite_reads", errors, partial(sqlite_reads, gw.db_path, ids, bodies))
        bulk: dict[str, Any] = report.setdefault("receipts_bulk", {})
        for c in (1, 2) if ids else ():
            log(f"bulk receipts: {len(ids)} at concurrency {c}")
            if section(bulk, f"c{c}", errors, partial(receipts_bulk, gw, parties, ids, c, timeout)):
                log(f"bulk receipts: {bulk[f'c{c}']['receipts_per_s']}/s at concurrency {c}")
        if ids:
            section(
                report, "sqlite_bulk_reads", errors, partial(sqlite_bulk_reads, gw.db_path, ids)
            )

        singles: dict[str, Any] = report.setdefault("single_requests", {})
        floors: dict[str, Any] = report.setdefault("healthz", {})
        not_found: dict[str, Any] = report.setdefault("not_found", {})
        drains: dict[str, Any] = report.setdefault("queue_drain_seconds", {})
        for i, c in enumerate((1, c8) if m > 0 else ()):
            log(f"single requests: {m} loans at concurrency {c}")
            single = partial(
                single_requests, gw, client, parties, m, c, 3_000_000 + i * 1_000_000, timeout
            )
            if section(singles, f"c{c}", errors, single) is not None:
                log(f"single requests: {singles[f'c{c}']['requests_per_s']} requests/s")
            # Let the batcher anchor them first: it holds the chain lock /healthz takes.
            section(
                drains, f"after_single_c{c}", errors, partial(wait_queue_empty, client, timeout)
            )
            log(f"GET /healthz and an unknown path (404): {m} requests each at concurrency {c}")
            floor = partial(plain_requests, gw, "/healthz", 200, m, c, timeout)
            if section(floors, f"c{c}", errors, floor) is not None:
                log(f"healthz: {floors[f'c{c}']['requests_per_s']} requests/s")
            nf = partial(plain_requests, gw, "/v1/bench-no-such-path", 404, m, c, timeout)
            section(not_found, f"c{c}", errors, nf)
        if args.profile and n > 0:
            log("profile: one more batch path with py-spy attached to the gateway")
            raw = (
                args.out.with_name(f"{args.out.stem}.{backend}.py-spy.txt")
                if args.out
                else work / "py-spy.txt"
            )
            with py_spy(gw.proc.pid, raw) as prof:
                if "error" not in prof:
                    size = max(1, min(n, args.profile_records))
                    run = partial(batch_path, gw, client, parties, size, 5_000_000, timeout)
                    section(prof, "batch_path", errors, lambda: run()[0])
            report["profile"] = prof
            if "error" in prof:
                log(f"profile: {prof['error']}")

        report["metrics"] = metrics(client)
        client.close()
        stack.close()  # stops the gateway (and anvil) before reading its log
        report["server_log"] = server_log_problems(gw.log_path)
    return report


def anvil_version() -> str | None:
    try:
        out = subprocess.run(
            [str(find_anvil_binary()), "--version"], capture_output=True, text=True, timeout=20
        )
        return out.stdout.splitlines()[0] if out.stdout else None
    except Exception:  # no anvil binary, or it failed: the version is only informative
        return None


# --------------------------------------------------------------------------- report


def environment(argv: list[str]) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    git: dict[str, Any] = {}
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        git = {"head": head.stdout.strip(), "changed_paths": len(dirty.stdout.splitlines())}
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {
        "command": shlex.join([sys.executable, *argv]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "packages": versions,
        "git": git,
    }


def add_ratios(r: dict[str, Any]) -> None:
    core = r.get("core_library", {}).get("records_per_s")
    bp = r.get("batch_path", {})
    sq = r.get("sqlite_reads", {})
    out: dict[str, Any] = {"batch_path_vs_core_library": ratio(bp.get("records_per_s"), core)}
    for name, phase in bp.get("phases", {}).items():
        out[f"batch_{name}_vs_core_library"] = ratio(phase.get("records_per_s"), core)
    for c, part in r.get("receipts_served", {}).items():
        if isinstance(part, dict) and "receipts_per_s" in part:
            out[f"receipts_{c}_vs_sqlite_reads"] = ratio(
                part["receipts_per_s"], sq.get("reads_per_s"), 4
            )
    for c, part in r.get("receipts_bulk", {}).items():
        if isinstance(part, dict) and "receipts_per_s" in part:
            out[f"receipts_bulk_{c}_vs_sqlite_bulk_reads"] = ratio(
                part["receipts_per_s"], r.get("sqlite_bulk_reads", {}).get("reads_per_s"), 4
            )
    for c, part in r.get("single_requests", {}).items():
        if isinstance(part, dict) and "requests_per_s" in part:
            floor = r.get("healthz", {}).get(c, {}).get("requests_per_s")
            out[f"single_{c}_vs_healthz"] = ratio(part["requests_per_s"], floor)
            out[f"single_{c}_loans_vs_core_library"] = ratio(part["loans_per_s"], core, 4)
    r["ratios"] = out


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return text + unit


def get(r: dict[str, Any], *path: str) -> Any:
    value: Any = r
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


Cell = Callable[[dict[str, Any]], str]


def value(*path: str) -> Cell:
    return lambda r: fmt(get(r, *path))


def latencies(*path: str) -> Cell:
    def cell(r: dict[str, Any]) -> str:
        s = get(r, *path)
        if not isinstance(s, dict) or not s.get("count"):
            return "–"
        return " / ".join(fmt(s[k]) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))

    return cell


def phase(name: str) -> Cell:
    def cell(r: dict[str, Any]) -> str:
        p = get(r, "batch_path", "phases", name) or {}
        share = get(r, "ratios", f"batch_{name}_vs_core_library")
        cpu = f"{fmt(p.get('gateway_cpu_s'))}"
        if "anvil_cpu_s" in p:
            cpu += f" + anvil {fmt(p['anvil_cpu_s'])}"
        return (
            f"{fmt(p.get('seconds'))} s ({fmt(p.get('records_per_s'))}/s, "
            f"{fmt(share)}× core; CPU {cpu} s)"
        )

    return cell


def idle_cell(r: dict[str, Any]) -> str:
    idle = r.get("idle") or {}
    text = fmt(idle.get("gateway_cpu_pct"))
    return text + (f" (+ {fmt(idle['anvil_cpu_pct'])})" if "anvil_cpu_pct" in idle else "")


def table_rows(c: int) -> list[tuple[str, Cell]]:
    rows: list[tuple[str, Cell]] = [
        ("core library records/s (reference)", value("core_library", "records_per_s")),
        ("idle CPU %, nobody calling: gateway (+ anvil)", idle_cell),
        ("batch path: records (receipts fetched)", value("batch_path", "receipts_fetched")),
        ("batch path: end to end, s", value("batch_path", "end_to_end_seconds")),
        ("**batch path: records/s end to end**", value("batch_path", "records_per_s")),
        ("batch path ÷ core library", value("ratios", "batch_path_vs_core_library")),
    ]
    rows += [
        (f"batch phase: {p.replace('_', ' ')}", phase(p))
        for p in ("submit", "confirm", "until_anchored", "fetch_receipts")
    ]
    for k in (1, c):
        rows += [
            (
                f"**receipts served/s, concurrency {k}**",
                value("receipts_served", f"c{k}", "receipts_per_s"),
            ),
            (
                f"receipt c{k} latency p50/p95/p99/max ms",
                latencies("receipts_served", f"c{k}", "latency"),
            ),
        ]
    rows += [
        ("sqlite3 raw receipt reads/s (reference)", value("sqlite_reads", "reads_per_s")),
        ("receipts c1 ÷ sqlite3 reads", value("ratios", "receipts_c1_vs_sqlite_reads")),
        (
            "HTTP receipt bodies ≠ stored receipt_json",
            value("sqlite_reads", "http_bodies_differing"),
        ),
    ]
    for k in (1, 2):
        rows += [
            (
                f"**bulk receipts served/s (1,000 a request), concurrency {k}**",
                value("receipts_bulk", f"c{k}", "receipts_per_s"),
            ),
            (
                f"bulk receipts c{k} ÷ sqlite3 bulk reads",
                value("ratios", f"receipts_bulk_c{k}_vs_sqlite_bulk_reads"),
            ),
        ]
    rows += [("sqlite3 raw bulk reads/s (reference)", value("sqlite_bulk_reads", "reads_per_s"))]
    for k in (1, c):
        rows += [
            (
                f"single c{k}: loans/s (submit + confirm)",
                value("single_requests", f"c{k}", "loans_per_s"),
            ),
            (f"**single c{k}: requests/s**", value("single_requests", f"c{k}", "requests_per_s")),
            (
                f"single c{k}: submit p50/p95/p99/max ms",
                latencies("single_requests", f"c{k}", "submit"),
            ),
            (
                f"single c{k}: confirm p50/p95/p99/max ms",
                latencies("single_requests", f"c{k}", "confirm"),
            ),
            (
                f"GET /healthz c{k}: requests/s (reference)",
                value("healthz", f"c{k}", "requests_per_s"),
            ),
            (f"GET /healthz c{k}: p50/p95/p99/max ms", latencies("healthz", f"c{k}", "latency")),
            (f"single c{k} requests/s ÷ healthz", value("ratios", f"single_c{k}_vs_healthz")),
            (
                f"GET unknown path (404) c{k}: requests/s",
                value("not_found", f"c{k}", "requests_per_s"),
            ),
        ]
    rows += [
        ("anchored batches (/metrics)", value("metrics", "ledger_batches_total")),
        ("server log: problem lines", value("server_log", "problem_lines")),
        ("errors", lambda r: fmt(len(r.get("errors", [])))),
    ]
    return rows


def profile_markdown(r: dict[str, Any]) -> list[str]:
    prof = r.get("profile")
    if not prof:
        return []
    lines = ["", f"Profile, {r['backend']} (py-spy on the gateway during one more batch path):"]
    if "error" in prof:
        return [*lines, f"- not available: {prof['error']}"]
    bp = prof.get("batch_path", {})
    phases = ", ".join(f"{p} {fmt(v.get('seconds'))} s" for p, v in bp.get("phases", {}).items())
    lines += [
        f"- {prof.get('samples')} thread samples at 200/s, {prof.get('busy_samples')} busy (the "
        "shares below are of busy thread time; waits left out); that batch path ran at "
        f"{fmt(bp.get('records_per_s'))} records/s under the profiler ({phases})",
        "- busy time by thread: "
        + ", ".join(f"{t['thread']} {t['pct']}%" for t in prof.get("busy_by_thread", [])),
        "- self time by package: "
        + ", ".join(f"{p['package']} {p['self_pct']}%" for p in prof.get("self_by_package", [])),
        "",
        "| # | function (15 hottest by self time) | hottest line | self % | cumulative % |",
        "|---:|---|---:|---:|---:|",
    ]
    lines += [
        f"| {i} | `{row['function']}` | {row['hot_line']} | {row['self_pct']} "
        f"| {row['cumulative_pct']} |"
        for i, row in enumerate(prof.get("top_self", []), 1)
    ]
    lines += ["", "| # | project function (15 highest cumulative) | cumulative % |"]
    lines += ["|---:|---|---:|"]
    lines += [
        f"| {i} | `{row['function']}` | {row['cumulative_pct']} |"
        for i, row in enumerate(prof.get("top_cumulative_project", [])[:15], 1)
    ]
    return lines


def markdown(report: dict[str, Any]) -> str:
    runs: list[dict[str, Any]] = report["backends"]
    lines = [
        "| figure | " + " | ".join(r["backend"] for r in runs) + " |",
        "|---|" + "---:|" * len(runs),
    ]
    for label, cell in table_rows(report["options"]["concurrency"]):
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in runs) + " |")
    for r in runs:
        lines += profile_markdown(r)
    errors = [f"- **{r['backend']}**: {e[:1500]}" for r in runs for e in r.get("errors", [])]
    if errors:
        lines += ["", "Errors:", *errors]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chain", choices=("embedded", "anvil", "both"), default="both")
    parser.add_argument("--batch-records", type=int, default=10_000)
    parser.add_argument("--single-requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8, help="besides concurrency 1")
    parser.add_argument(
        "--anvil-args",
        default="",
        help="extra anvil flags, e.g. '--block-time 1' (default: automine)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy during one more batch path")
    parser.add_argument(
        "--profile-records",
        type=int,
        default=2_000,
        help="records in the profiled batch path (at most --batch-records)",
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=5.0, help="idle window for the CPU reference"
    )
    parser.add_argument(
        "--deadline", type=float, default=900.0, help="seconds allowed for each section"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.concurrency < 2:
        parser.error("--concurrency must be at least 2 (concurrency 1 is always measured)")

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # runs every `finally`: the servers are stopped

    signal.signal(signal.SIGTERM, terminate)
    report = environment([str(Path(__file__)), *argv])
    report["options"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    backends = ["embedded", "anvil"] if args.chain == "both" else [args.chain]
    report["backends"] = []
    for backend in backends:
        try:
            run = run_backend(backend, args)
        except Exception as exc:  # one backend failing must not lose the other's figures
            log(f"{backend}: FAILED {type(exc).__name__}: {exc}")
            run = {"backend": backend, "errors": [f"{type(exc).__name__}: {exc}"]}
        add_ratios(run)
        report["backends"].append(run)
    report["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    text = markdown(report)
    print(text)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log(f"JSON written to {args.out}")
    return 1 if any(r.get("errors") for r in report["backends"]) else 0


if __name__ == "__main__":
    sys.exit(main())
