"""SQL storage of a gateway: participants it knows, API keys (hashed), the durable submission queue,
batches, the index of chain events, and the encrypted document vault.

SQLAlchemy 2.x; SQLite (WAL) in the data directory by default, PostgreSQL by URL. Integers are
minor units / basis points / unix seconds, as on chain. The chain stays the root of trust: the
event index can be rebuilt from it (`ledger.indexer`), and the queue only holds what the gateway
accepted and has yet to anchor, plus the receipts' ingredients.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    delete,
    event,
    insert,
    text,
)
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ledger.dbfaults import translate
from ledger.errors import DatabaseUnavailable
from ledger.records import FLAG_LEGACY, Participant
from ledger.schema import upgrade

__all__ = [
    "SUMMARY_COLUMNS",
    "AccessGrantRow",
    "ApiKeyRow",
    "Base",
    "BatchRow",
    "ChainEventRow",
    "Database",
    "DocumentChunkRow",
    "DocumentRow",
    "ErasureRow",
    "EvidenceLogRow",
    "MetaRow",
    "ParticipantRow",
    "ReceiptRow",
    "RecordSecretRow",
    "SubmissionRow",
    "submission_summary",
]


class Base(DeclarativeBase):
    pass


class MetaRow(Base):
    """Key-value facts of this gateway (deployment, indexer cursor, schema version)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ParticipantRow(Base):
    """A participant as registered on chain, plus the custodial key if the gateway holds it."""

    __tablename__ = "participants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(32), index=True)
    institution_type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    signer_address: Mapped[str] = mapped_column(String(42), index=True)
    status: Mapped[str] = mapped_column(String(16))
    custodial: Mapped[bool] = mapped_column(Boolean)
    encrypted_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    registered_at: Mapped[int] = mapped_column(BigInteger)

    def to_model(self) -> Participant:
        return Participant.model_validate(
            {
                "id": self.id,
                "role": self.role,
                "institution_type": self.institution_type,
                "name": self.name,
                "signer_address": self.signer_address,
                "status": self.status,
                "custodial": self.custodial,
            }
        )


class ApiKeyRow(Base):
    """An API key, stored as its SHA-256; bound to one participant and its role."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Float)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class SubmissionRow(Base):
    """One loan record the gateway accepted: the durable queue and the regulator's index.

    status: `awaiting_funder` (platform signed, funder has not) → `awaiting_signatures` (funder
    approved, a guarantor's or co-funder's signature missing) → `queued` (all signed, rules
    passed, waiting for the batcher) → `anchored`; or `rejected` (by the funder or a rule).
    """

    __tablename__ = "submissions"
    record_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    anchoring: Mapped[str] = mapped_column(String(16))
    agreement_digest: Mapped[str] = mapped_column(String(66))
    platform_id: Mapped[int] = mapped_column(Integer, index=True)
    funder_id: Mapped[int] = mapped_column(Integer, index=True)
    guarantor_id: Mapped[int] = mapped_column(Integer, index=True)
    co_funder_id: Mapped[int] = mapped_column(Integer)
    institution_type: Mapped[str] = mapped_column(String(32), index=True)
    principal: Mapped[int] = mapped_column(BigInteger)
    apr_bps: Mapped[int] = mapped_column(Integer, index=True)
    issued_at: Mapped[int] = mapped_column(BigInteger, index=True)
    flags: Mapped[int] = mapped_column(Integer)
    record_json: Mapped[str] = mapped_column(Text)
    signatures_json: Mapped[str] = mapped_column(Text, default="{}")
    document_json: Mapped[str] = mapped_column(Text)
    disclosure_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    provenance_json: Mapped[str] = mapped_column(Text, default="{}")
    entry_timestamp_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    queued_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    anchored_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    batch_root: Mapped[str | None] = mapped_column(String(66), index=True, nullable=True)
    proof_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rejection_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    retired: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: the gateway (participant id) anchoring this queued row, and until when its claim holds
    claimed_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    claimed_until: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        Index("ix_submissions_status_queued", "status", "queued_at"),
        # The duplicate check of every submission: by agreement first (a platform's rows are
        # most of the table, so an index on the platform alone makes that check a scan).
        Index("ix_submissions_agreement_platform", "agreement_digest", "platform_id"),
    )


#: the columns `submission_summary` reads (select these to build it without loading a row)
SUMMARY_COLUMNS = (
    SubmissionRow.record_id,
    SubmissionRow.status,
    SubmissionRow.anchoring,
    SubmissionRow.platform_id,
    SubmissionRow.funder_id,
    SubmissionRow.guarantor_id,
    SubmissionRow.co_funder_id,
    SubmissionRow.institution_type,
    SubmissionRow.principal,
    SubmissionRow.apr_bps,
    SubmissionRow.issued_at,
    SubmissionRow.flags,
    SubmissionRow.batch_root,
    SubmissionRow.tx_hash,
    SubmissionRow.block_number,
    SubmissionRow.block_time,
    SubmissionRow.rejection_code,
    SubmissionRow.rejection_reason,
    SubmissionRow.retired,
)


def submission_summary(row: Any) -> dict[str, Any]:
    """The public view of a record's status, from a `SubmissionRow` or a row of
    `SUMMARY_COLUMNS`."""
    return {
        "record_id": row.record_id,
        "status": row.status,
        "anchoring": row.anchoring,
        "platform_id": row.platform_id,
        "funder_id": row.funder_id,
        "guarantor_id": row.guarantor_id or None,
        "co_funder_id": row.co_funder_id or None,
        "institution_type": row.institution_type,
        "principal": row.principal,
        "apr_bps": row.apr_bps,
        "issued_at": row.issued_at,
        "legacy": bool(row.flags & FLAG_LEGACY),
        "batch_root": row.batch_root,
        "transaction_hash": row.tx_hash,
        "block_number": row.block_number,
        "block_time": row.block_time,
        "rejection": {"code": row.rejection_code, "reason": row.rejection_reason}
        if row.rejection_code
        else None,
        "retired": row.retired,
    }


class BatchRow(Base):
    """A Merkle root this gateway anchored."""

    __tablename__ = "batches"
    root: Mapped[str] = mapped_column(String(66), primary_key=True)
    tx_hash: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_time: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)


class ReceiptRow(Base):
    """The receipt of an anchored record, built once when it was anchored: serving it is a read."""

    __tablename__ = "receipts"
    record_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    receipt_json: Mapped[str] = mapped_column(Text)


class ChainEventRow(Base):
    """An event of the contracts, as indexed (rebuildable from the chain alone)."""

    __tablename__ = "chain_events"
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(String(66))
    contract: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64), index=True)
    args_json: Mapped[str] = mapped_column(Text)
    block_time: Mapped[int] = mapped_column(BigInteger)


class DocumentRow(Base):
    """An agreement document, AES-256-GCM encrypted under its own data key (wrapped by the master
    key). Destroying `wrapped_key` shreds the document; the digest on chain stays."""

    __tablename__ = "documents"
    sha256: Mapped[str] = mapped_column(String(66), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    shredded_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: vault v2: the document is in `document_chunks` (STREAM construction, `ledger.vault`)
    chunk_count: Mapped[int | None] = mapped_column(Integer, nullable=True)


class DocumentChunkRow(Base):
    """One encrypted chunk of a document (`ledger.vault.crypto`); all go when it is shredded."""

    __tablename__ = "document_chunks"
    sha256: Mapped[str] = mapped_column(String(66), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class AccessGrantRow(Base):
    """An auditor's time-limited access to a set of loans' documents (`ledger.vault.grants`)."""

    __tablename__ = "access_grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grantor_id: Mapped[int] = mapped_column(Integer, index=True)
    grantor_role: Mapped[str] = mapped_column(String(20))
    auditor_id: Mapped[int] = mapped_column(Integer, index=True)
    record_ids_json: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[int] = mapped_column(BigInteger)
    valid_until: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class EvidenceLogRow(Base):
    """One entry of the evidence log (`ledger.vault.log`): who did what to which record, when;
    `entry_json` is the RFC 8785 form hashed into `entry_digest` (no personal data)."""

    __tablename__ = "evidence_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str | None] = mapped_column(String(66), index=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(40))
    entry_json: Mapped[str] = mapped_column(Text)
    entry_digest: Mapped[str] = mapped_column(String(66))
    at: Mapped[int] = mapped_column(BigInteger)


class ErasureRow(Base):
    """A loan's erasure (PIPL): requested by its platform and approved by its funder, or ordered
    by the regulator; `executed_at` once the keys and ciphertext are destroyed."""

    __tablename__ = "erasures"
    record_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(200))
    requested_by: Mapped[int] = mapped_column(Integer)
    requested_at: Mapped[int] = mapped_column(BigInteger)
    approved_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ordered_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    executed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RecordSecretRow(Base):
    """A record's secrets, each sealed under the master key (AES-256-GCM, the record id as
    associated data): the salt of a borrower commitment the gateway computed, the seed of its fee
    form's salted leaves. Erasure sets both to NULL and stamps `shredded_at`."""

    __tablename__ = "record_secrets"
    record_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    borrower_salt: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    disclosure_seed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    shredded_at: Mapped[float | None] = mapped_column(Float, nullable=True)


_MEMORY_LOCK = threading.RLock()


def _fault_view(error: DatabaseUnavailable) -> dict[str, Any]:
    read_only = error.code == "DATABASE_READ_ONLY"
    return {"ok": False, "code": error.code, "read_only": read_only, "error": error.message}


#: how long `Database.probe` reports a fault after the last statement that met one
FAULT_HOLD_SECONDS = 2.0


class Database:
    """An engine and a session factory; SQLite gets WAL and a busy timeout.

    A database fault (down, restarting, read-only, full, locked) raises `DatabaseUnavailable`
    from any statement (`ledger.dbfaults`); PostgreSQL's pooled connections are pinged at
    checkout and all dropped when one finds the server gone, so the first request after the
    server is back gets a fresh connection. The last fault seen is kept until a transaction
    that wrote commits again (`fault`; `probe`, for `/healthz`, reports it)."""

    def __init__(self, url: str, *, busy_timeout: float = 30.0) -> None:
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        #: the last fault (`DatabaseUnavailable`) met since a transaction that wrote committed
        self.fault: DatabaseUnavailable | None = None
        #: the last fault met at all, and when (`time.monotonic()`)
        self.last_fault: tuple[DatabaseUnavailable, float] | None = None

        @event.listens_for(self.engine, "handle_error")
        def _fault(context: ExceptionContext) -> DatabaseUnavailable | None:
            error = translate(context)
            if error is not None:
                self.fault = error
                self.last_fault = (error, time.monotonic())
            return error

        # a fault is over once a transaction that wrote commits (the commit's own failure, if
        # any, comes after this and sets it again); reads prove nothing (a full disk reads)
        @event.listens_for(self.engine, "after_cursor_execute")
        def _wrote(conn: Any, _c: Any, _s: Any, _p: Any, context: Any, _m: Any) -> None:
            if context is not None and (context.isinsert or context.isupdate or context.isdelete):
                conn.info["wrote"] = True

        @event.listens_for(self.engine, "commit")
        def _committing(conn: Any) -> None:
            if conn.info.pop("wrote", False):
                self.fault = None

        @event.listens_for(self.engine, "rollback")
        def _rolled_back(conn: Any) -> None:
            if not conn.invalidated:  # an invalidated one is dropped, its `info` with it
                conn.info.pop("wrote", None)

        if url.startswith("sqlite"):

            @event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute(
                    "PRAGMA synchronous=FULL"
                )  # acknowledged = on disk, even on power loss
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()

        with self.exclusive("schema"):
            upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success, rolled back on error (a fault:
        `DatabaseUnavailable`)."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def probe(self) -> dict[str, Any]:
        """The database's state for `/healthz`; never raises. `ok` is false when it does not
        answer, refuses writes (PostgreSQL: `transaction_read_only` of a new transaction, a
        standby in recovery), or the last write met a fault: then a probe write (one meta row,
        committed) says whether that fault has cleared — a full disk or a locked SQLite file
        answer reads, so only a write tells. A fault met in the last `FAULT_HOLD_SECONDS`
        keeps it not ok even when the probe's write got through (a nearly full disk takes a
        small write and refuses the next loan): no flapping in and out of rotation."""
        try:
            with self.engine.connect() as conn:
                if self.is_postgresql:
                    read_only, recovery = conn.execute(
                        text("SELECT current_setting('transaction_read_only'), pg_is_in_recovery()")
                    ).one()
                    if read_only == "on" or recovery:
                        # the pool's sessions are dropped: new ones see the server anew
                        # (`ALTER DATABASE … SET` holds for sessions opened after it)
                        conn.invalidate()
                        self.engine.dispose(close=False)
                        why = "a standby in recovery" if recovery else "transaction_read_only"
                        return _fault_view(
                            DatabaseUnavailable(
                                f"the server refuses writes ({why})", code="DATABASE_READ_ONLY"
                            )
                        )
                else:
                    conn.execute(text("SELECT 1"))
            if self.fault is not None:
                self.check_writable()
        except DatabaseUnavailable as exc:
            return _fault_view(exc)
        if self.last_fault is not None:
            error, at = self.last_fault
            if time.monotonic() - at < FAULT_HOLD_SECONDS:
                return _fault_view(error)
        return {"ok": True, "read_only": False}

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Holds the lock `name` against every process using this database (bootstrap, schema
        upgrades): a PostgreSQL advisory lock, or a file lock beside the SQLite file."""
        if self.is_postgresql:
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    conn.commit()
            return
        database = self.engine.url.database
        if not database or database == ":memory:":
            with _MEMORY_LOCK:
                yield
            return
        lock_path = Path(f"{database}.{hashlib.sha256(name.encode()).hexdigest()[:12]}.lock")
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def check_writable(self) -> None:
        """Writes a meta row of its own and deletes it, in one committed transaction:
        `DatabaseUnavailable` if the database cannot take a write now (down, read-only, full,
        locked). Before an action that cannot be undone (a chain transaction) whose outcome the
        database must then hold. Leaves nothing, and gateways sharing the database never
        write the same row."""
        key = f"write_probe:{uuid.uuid4().hex}"
        with self.session() as s:
            s.execute(insert(MetaRow).values(key=key, value=str(time.time())))
            s.execute(delete(MetaRow).where(MetaRow.key == key))

    def get_meta(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(MetaRow, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.session() as s:
            s.merge(MetaRow(key=key, value=value))


# The transaction log's table lives with the transaction manager (`ledger.chain.txlog`); imported
# here so that `Base.metadata` (create_all, migrations) knows it.
import ledger.chain.txlog  # noqa: E402, F401

# The regulator's index and rollups live on the same metadata (created with the rest).
from ledger.analytics import tables as _analytics_tables  # noqa: E402,F401
