"""The embedded chain's storage: py-evm's key-value database over one SQLite table.

Writes go to an in-memory overlay that `flush()` commits in one SQLite transaction (one per
mined block), so a crash leaves the last mined block or the one before it, never half a block.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from eth.db.backends.base import BaseDB

from ledger.errors import ChainError

__all__ = ["SQLiteKV"]


class SQLiteKV(BaseDB):
    """py-evm's `BaseDB` over one SQLite table, with an overlay committed by `flush()`.

    Every write lands in `_overlay` (a deletion is `None`); reads look there first. `flush()`
    writes the overlay in a single SQLite transaction, so whatever py-evm wrote between two
    flushes reaches the disk all together or not at all.
    """

    def __init__(self, path: Path, *, durable: bool) -> None:
        self._overlay: dict[bytes, bytes | None] = {}
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise ChainError(f"cannot open the chain database {path}: {exc}") from exc
        self._conn: sqlite3.Connection | None = conn
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ChainError(f"{path}: SQLite refused WAL mode (got {mode!r})")
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID"
            )
            conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.close()
            self._conn = None
            raise ChainError(f"{path} is not a usable chain database: {exc}") from exc

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ChainError("the embedded chain is closed")
        return self._conn

    # -- BaseDB
    def __getitem__(self, key: bytes) -> bytes:
        if key in self._overlay:
            value = self._overlay[key]
            if value is None:
                raise KeyError(key)
            return value
        row = self._db().execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._db()
        self._overlay[bytes(key)] = bytes(value)

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._overlay[bytes(key)] = None

    def _exists(self, key: bytes) -> bool:
        if key in self._overlay:
            return self._overlay[key] is not None
        return self._db().execute("SELECT 1 FROM kv WHERE k = ?", (key,)).fetchone() is not None

    # -- transactions
    def flush(self, meta: dict[str, str] | None = None) -> None:
        """Commits the overlay (and `meta`) in one SQLite transaction."""
        conn = self._db()
        if not self._overlay and not meta:
            return
        puts = [(k, v) for k, v in self._overlay.items() if v is not None]
        dels = [(k,) for k, v in self._overlay.items() if v is None]
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", puts)
                conn.executemany("DELETE FROM kv WHERE k = ?", dels)
                if meta:
                    conn.executemany(
                        "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", sorted(meta.items())
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise ChainError(f"cannot write the chain database: {exc}") from exc
        self._overlay.clear()

    def discard(self) -> None:
        """Forgets everything written since the last `flush()`."""
        self._overlay.clear()

    def meta(self) -> dict[str, str]:
        try:
            rows = self._db().execute("SELECT k, v FROM meta").fetchall()
        except sqlite3.Error as exc:
            raise ChainError(f"cannot read the chain database: {exc}") from exc
        return {str(k): str(v) for k, v in rows}

    def is_empty(self) -> bool:
        try:
            row = self._db().execute("SELECT 1 FROM kv LIMIT 1").fetchone()
        except sqlite3.Error as exc:
            raise ChainError(f"cannot read the chain database: {exc}") from exc
        return row is None

    def close(self) -> None:
        if self._conn is not None:
            self._overlay.clear()  # never half a block: unflushed writes are a pending block
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._conn.close()
            self._conn = None
