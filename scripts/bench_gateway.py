#!/usr/bin/env python3
"""Gateway benchmark over real HTTP, beside the core library's records/s from the same run.

Starts `ledger serve` (embedded chain, SQLite, fresh temp data dir) on a free loopback port,
registers a bank, a platform and whitelists it through the API, then measures:

1. core library: records canonicalized + hashed + double-signed per second (in this process);
2. batch path: `POST /v1/loans/batch` (platform signs) + `POST /v1/loans/confirm-batch` (funder
   co-signs, contract rule check) + batch anchoring + fetching every receipt: records/s end to end;
3. single path: sequential `POST /v1/loans` and `POST /v1/loans/{id}/confirm` requests: requests/s
   and p50/p95/p99 latency of each.

Figures, not assertions. Bounded: every loop has a count and a deadline; only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledger.bench import measure_records  # noqa: E402 - after the path tweak
from ledger.demo import build_disclosure  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, port: int, batch_size: int) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ledger",
            "serve",
            "--data-dir",
            str(data_dir / "gw"),
            "--port",
            str(port),
            "--batch-interval",
            "0.5",
            "--batch-size",
            str(batch_size),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        text = (data_dir / "server.log").read_text(errors="replace")
        if "Regulator API key" in text:
            key = text.split("Regulator API key (shown once, store it now): ")[1].split()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    return proc, key
            except httpx.HTTPError:
                pass
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {text[-2000:]}")
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start in 120 s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency_summary(samples: list[float]) -> dict[str, float]:
    return {
        "requests": len(samples),
        "requests_per_s": round(len(samples) / sum(samples), 1) if samples else 0.0,
        "p50_ms": round(percentile(samples, 50) * 1000, 2),
        "p95_ms": round(percentile(samples, 95) * 1000, 2),
        "p99_ms": round(percentile(samples, 99) * 1000, 2),
        "mean_ms": round(statistics.fmean(samples) * 1000, 2),
    }


def run(batch_records: int, single_requests: int) -> dict[str, Any]:
    core = measure_records(2_000)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc, regulator = start_server(Path(tmp), port, batch_size=max(batch_records, 1))
        try:
            return {
                "core_library": core,
                **drive(f"http://127.0.0.1:{port}", regulator, batch_records, single_requests),
            }
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def drive(base: str, regulator: str, batch_records: int, single_requests: int) -> dict[str, Any]:
    client = httpx.Client(base_url=base, timeout=600)

    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    bank = client.post(
        "/v1/participants",
        json={"role": "funder", "name": "Bank A", "institution_type": "bank"},
        headers=auth(regulator),
    ).json()
    platform = client.post(
        "/v1/participants", json={"role": "platform", "name": "Platform 1"}, headers=auth(regulator)
    ).json()
    client.put(
        f"/v1/whitelist/{platform['participant']['id']}", headers=auth(bank["api_key"])
    ).raise_for_status()
    now = int(client.get("/healthz").json()["time"])
    issued = datetime.fromtimestamp(now, UTC)
    form = build_disclosure(
        2_000_000,
        12,
        Fraction(1, 100),
        issued.date(),
        lender="Bank A",
        confirmed_at=issued - timedelta(minutes=5),
    )

    def loan(i: int, tag: str) -> dict[str, Any]:
        return {
            "agreement_sha256": f"{tag}{i:060x}"[-64:].rjust(64, "0"),
            "disclosure": form.as_json(),
            "borrower_id": f"1101011990030{i:05d}",
            "funder_id": bank["participant"]["id"],
            "term_days": 365,
        }

    # Batch path, end to end.
    t0 = time.perf_counter()
    submitted = client.post(
        "/v1/loans/batch",
        json={"loans": [loan(i, "a") for i in range(batch_records)]},
        headers=auth(platform["api_key"]),
    )
    submitted.raise_for_status()
    ids = [r["record_id"] for r in submitted.json()["results"] if "record_id" in r]
    t_submit = time.perf_counter()
    confirmed = client.post(
        "/v1/loans/confirm-batch", json={"record_ids": ids}, headers=auth(bank["api_key"])
    )
    confirmed.raise_for_status()
    t_confirm = time.perf_counter()
    deadline = time.time() + 600
    while time.time() < deadline:
        if (
            client.get(f"/v1/loans/{ids[-1]}", headers=auth(bank["api_key"])).json()["status"]
            == "anchored"
        ):
            break
        time.sleep(0.1)
    t_anchor = time.perf_counter()
    for record_id in ids:
        client.get(
            f"/v1/loans/{record_id}/receipt", headers=auth(platform["api_key"])
        ).raise_for_status()
    t_receipts = time.perf_counter()
    batch = {
        "records": len(ids),
        "end_to_end_seconds": round(t_receipts - t0, 3),
        "records_per_s": round(len(ids) / (t_receipts - t0), 1),
        "phases_seconds": {
            "submit_batch (validate, commit, platform signs)": round(t_submit - t0, 3),
            "confirm_batch (funder signs, contract rule check, entry timestamps)": round(
                t_confirm - t_submit, 3
            ),
            "until anchored": round(t_anchor - t_confirm, 3),
            "fetch receipts": round(t_receipts - t_anchor, 3),
        },
    }

    # Single-record requests.
    submit_latency, confirm_latency = [], []
    for i in range(single_requests):
        s0 = time.perf_counter()
        r = client.post("/v1/loans", json=loan(i, "b"), headers=auth(platform["api_key"]))
        s1 = time.perf_counter()
        r.raise_for_status()
        c = client.post(f"/v1/loans/{r.json()['record_id']}/confirm", headers=auth(bank["api_key"]))
        s2 = time.perf_counter()
        c.raise_for_status()
        submit_latency.append(s1 - s0)
        confirm_latency.append(s2 - s1)
    return {
        "batch_path": batch,
        "single_submit": latency_summary(submit_latency),
        "single_confirm": latency_summary(confirm_latency),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch-records", type=int, default=1_000)
    parser.add_argument("--single-requests", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON report here")
    args = parser.parse_args()
    report = run(args.batch_records, args.single_requests)
    core = report["core_library"]["records_per_s"]
    report["ratios"] = {
        "batch_path_vs_core_library": round(report["batch_path"]["records_per_s"] / core, 3),
        "single_submit_vs_core_library": round(report["single_submit"]["requests_per_s"] / core, 4),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
