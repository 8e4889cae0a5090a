"""Database faults under load, on the real gateway (`ledger serve`): while clients keep submitting
and confirming loans, the database is

- PostgreSQL (a cluster of the drill's own, so that stopping it touches no other test): stopped
  (`pg_ctl stop -m fast`, then `-m immediate`) and started again, then made read-only
  (`ALTER SYSTEM SET default_transaction_read_only = on` + `pg_reload_conf()`) and writable;
- SQLite: its file on a small tmpfs of its own, which a ballast file fills (the disk full: real
  ENOSPC), then frees. SQLite cannot be made read-only under a running gateway: the kernel
  refuses to remount a file system read-only while a file on it is open for writing (EBUSY),
  and permissions are checked at open only; its read-only and locked faults are met for real in
  `tests/unit/test_dbfaults.py`.

Every answer during a fault is the acknowledgement itself or a 503 with a `DATABASE_*` code
(never a 500 or a plain-text error), `/healthz` is 503 with the database's state while the fault
lasts and 200 after, the gateway recovers by itself (no restart), and in the end every
acknowledged record is anchored and its receipt verifies: 0 lost. Each test prints one line of
figures (for SECURITY.md).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ledger import devpostgres
from ledger.codes import DATABASE_CODES
from ledger.store import Database, SubmissionRow
from ledger.testing import loan_submission
from tests.process.gateway_process import GatewayProcess, auth, bank_and_platform

pytestmark = pytest.mark.slow

#: seconds each fault lasts, and the calm before and after it
FAULT_SECONDS = 4.0
CALM_SECONDS = 2.0
#: a fault has cleared once an acknowledgement comes within this
RECOVERY_LIMIT_SECONDS = 10.0
CLIENTS = 2


@dataclass
class Answer:
    started: float
    path: str
    status: int
    code: str | None


@dataclass
class Drill:
    """The clients' answers, the acknowledged records, and the faults' windows."""

    answers: list[Answer] = field(default_factory=list)
    acknowledged: list[tuple[float, str]] = field(default_factory=list)
    health: list[Answer] = field(default_factory=list)
    #: (name, fault injected at, cleared at)
    faults: list[tuple[str, float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, started: float, path: str, response: httpx.Response) -> None:
        code = None
        try:
            code = response.json().get("error", {}).get("code")
        except ValueError:
            code = "NOT_JSON"
        with self.lock:
            self.answers.append(Answer(started, path, response.status_code, code))

    @contextmanager
    def fault(
        self, name: str, inject: Callable[[], None], clear: Callable[[], None]
    ) -> Iterator[None]:
        inject()
        began = time.time()
        try:
            yield
        finally:
            clear()
            self.faults.append((name, began, time.time()))

    def recovery_seconds(self) -> list[float]:
        """Per fault: from the moment it cleared to the first acknowledgement of a request
        started after it."""
        out = []
        for name, _, cleared in self.faults:
            after = [t for t, _ in self.acknowledged if t >= cleared]
            assert after, f"nothing acknowledged after the {name} fault cleared"
            out.append(min(after) - cleared)
        return out

    def during_faults(self, answers: list[Answer]) -> list[Answer]:
        recovery = dict(zip((f[0] for f in self.faults), self.recovery_seconds(), strict=True))
        return [
            a
            for a in answers
            for name, began, cleared in self.faults
            if began <= a.started <= cleared + recovery[name] + 0.5
        ]


def _load(
    http: httpx.Client, bank: dict[str, Any], platform: dict[str, Any]
) -> Callable[..., None]:
    now = int(http.get("/healthz").json()["time"])
    counter = itertools.count(1)

    def client(base: str, drill: Drill, stop: threading.Event) -> None:
        c = httpx.Client(base_url=base, timeout=60)
        while not stop.is_set():
            body, _ = loan_submission(
                bank["participant"]["id"],
                now,
                principal=1_000_000 + next(counter),
                months=6,
                document=os.urandom(16),
            )
            started = time.time()
            r = c.post("/v1/loans", json=body, headers=auth(platform["api_key"]))
            drill.answer(started, "/v1/loans", r)
            if r.status_code != 202:
                time.sleep(0.05)
                continue
            record_id = r.json()["record_id"]
            started = time.time()
            r = c.post(f"/v1/loans/{record_id}/confirm", headers=auth(bank["api_key"]))
            drill.answer(started, "/v1/loans/{id}/confirm", r)
            if r.status_code == 200 and r.json()["entry_timestamp"]:
                with drill.lock:
                    drill.acknowledged.append((started, record_id))

    return client


def _watch_health(base: str, drill: Drill, stop: threading.Event) -> None:
    c = httpx.Client(base_url=base, timeout=30)
    while not stop.wait(0.25):
        started = time.time()
        r = c.get("/healthz")
        database = r.json()["checks"]["database"]
        code = None if database["ok"] else database.get("code", "DATABASE_?")
        with drill.lock:
            drill.health.append(Answer(started, "/healthz", r.status_code, code))


def _run(
    server: GatewayProcess,
    db_url: str,
    faults: list[tuple[str, Callable[[], None], Callable[[], None]]],
    label: str,
    figures: Callable[[str], None],
) -> None:
    regulator = server.regulator_key()
    http = httpx.Client(base_url=server.base, timeout=60)
    bank, platform = bank_and_platform(http, regulator)
    drill, stop = Drill(), threading.Event()
    client = _load(http, bank, platform)
    threads = [
        threading.Thread(target=client, args=(server.base, drill, stop)) for _ in range(CLIENTS)
    ]
    threads.append(threading.Thread(target=_watch_health, args=(server.base, drill, stop)))
    for thread in threads:
        thread.start()
    try:
        time.sleep(CALM_SECONDS)
        for name, inject, clear in faults:
            with drill.fault(name, inject, clear):
                time.sleep(FAULT_SECONDS)
            deadline = time.time() + RECOVERY_LIMIT_SECONDS
            cleared = drill.faults[-1][2]
            while time.time() < deadline and not any(t >= cleared for t, _ in drill.acknowledged):
                time.sleep(0.1)
            time.sleep(CALM_SECONDS)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
    assert server.alive(), "the gateway died"

    # answers: acknowledgements, or 503 with a database code; never a 500
    statuses = {(a.status, a.code) for a in drill.answers}
    bad = [a for a in drill.answers if a.status not in (200, 202, 503)]
    assert not bad, f"answers other than 200/202/503: {bad[:5]} (of {len(bad)})"
    unclear = [a for a in drill.answers if a.status == 503 and a.code not in DATABASE_CODES]
    assert not unclear, f"503 without a database code: {unclear[:5]}"
    during = drill.during_faults(drill.answers)
    refused = [a for a in during if a.status == 503]
    assert refused, f"no request met a fault: {statuses}"
    # /healthz: 503 naming the database during each fault, 200 at the end; never a 500
    assert all(h.status in (200, 503) for h in drill.health)
    # (from the first refusal on: a filling disk still takes writes that fit its last blocks)
    for name, began, cleared in drill.faults:
        first = min((a.started for a in refused if began <= a.started <= cleared), default=cleared)
        seen = [(h.status, h.code) for h in drill.health if first + 0.5 <= h.started <= cleared]
        assert seen and all(status == 503 and code for status, code in seen), (name, seen)

    # every acknowledged record is anchored (the queue drains by itself) and verifies
    acknowledged = {record_id for _, record_id in drill.acknowledged}
    assert len(acknowledged) >= 10
    db = Database(db_url)
    pending = set(acknowledged)
    deadline = time.time() + 60
    while pending and time.time() < deadline:
        with db.session() as s:
            anchored = set(
                s.execute(
                    select(SubmissionRow.record_id).where(
                        SubmissionRow.record_id.in_(sorted(pending)),
                        SubmissionRow.status == "anchored",
                    )
                ).scalars()
            )
        pending -= anchored
        time.sleep(0.3)
    db.engine.dispose()
    lost = len(pending)
    for record_id in sorted(acknowledged)[:: max(1, len(acknowledged) // 10)]:
        receipt = http.get(
            f"/v1/loans/{record_id}/receipt", headers=auth(platform["api_key"])
        ).json()
        report = http.post("/v1/verify", json={"receipt": receipt}).json()
        assert report.get("ok"), report
    # /healthz is itself again (a fault is reported for `FAULT_HOLD_SECONDS` after the last)
    assert http.get("/healthz").json()["checks"]["database"]["ok"]
    recovery = drill.recovery_seconds()
    figures(
        f"database faults ({label}): faults {len(drill.faults)}"
        f" ({', '.join(f[0] for f in drill.faults)}), requests {len(drill.answers)},"
        f" during faults {len(during)}, 503 {len(refused)},"
        f" 500 {sum(a.status == 500 for a in drill.answers)},"
        f" acknowledged {len(acknowledged)}, anchored {len(acknowledged) - lost}, lost {lost},"
        f" recovery seconds max {max(recovery):.2f}"
        f" ({', '.join(f'{r:.2f}' for r in recovery)})"
    )
    assert lost == 0, f"{lost} acknowledged records never anchored"


def test_postgresql_stopped_restarted_and_read_only_under_load(
    tmp_path: Path, figures: Callable[[str], None]
) -> None:
    if devpostgres.binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries are missing under CI")
        pytest.skip("PostgreSQL binaries not installed")
    with devpostgres.cluster() as pg:
        server = GatewayProcess(tmp_path / "gw", "--db", pg.url)

        def read_only(on: bool) -> Callable[[], None]:
            def change() -> None:
                if on:
                    pg.sql("ALTER SYSTEM SET default_transaction_read_only = on")
                else:
                    pg.sql("ALTER SYSTEM RESET default_transaction_read_only")
                pg.sql("SELECT pg_reload_conf()")

            return change

        _run(
            server,
            pg.url,
            [
                ("stop -m fast", lambda: pg.stop("fast"), pg.start),
                ("stop -m immediate", lambda: pg.stop("immediate"), pg.start),
                ("read-only", read_only(True), read_only(False)),
            ],
            "PostgreSQL",
            figures,
        )
        server.stop()


def test_sqlite_disk_full_under_load(tmp_path: Path, figures: Callable[[str], None]) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:  # not root (or no CAP_SYS_ADMIN): CI runs as root
        pytest.skip(f"cannot mount a tmpfs of the drill's own: {mounted.stderr!r}")
    try:
        url = f"sqlite:///{disk / 'ledger.db'}"
        server = GatewayProcess(tmp_path / "gw", "--db", url)
        ballast = disk / "ballast"

        def fill() -> None:
            fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
            chunk = b"\0" * (1 << 16)
            try:
                while os.write(fd, chunk):
                    pass
            except OSError:
                pass  # ENOSPC: the disk is full
            finally:
                os.close(fd)

        _run(server, url, [("disk full", fill, ballast.unlink)], "SQLite", figures)
        server.stop()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
