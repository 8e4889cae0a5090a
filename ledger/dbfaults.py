"""Database faults as library errors: the driver's error of a database that is down, restarting,
read-only, full or locked becomes a `DatabaseUnavailable` with a stable code
(`ledger.codes.DATABASE_CODES`), whichever statement met it — an ORM session, a raw connection,
the schema upgrade. `Database` installs `translate` as its engine's `handle_error` hook, so no
caller matches driver messages.

Told apart by the driver's own codes, not by messages: PostgreSQL's SQLSTATE (class 08
connection exceptions, 57P01-57P03 shutdown and start-up, 25006 read-only transaction, class 53
insufficient resources with 53100 disk full), SQLite's primary result code (BUSY/LOCKED,
READONLY, FULL, IOERR, CANTOPEN). A PostgreSQL `OperationalError` without a SQLSTATE is a
connection that could not be made or was lost (the server sent nothing).

A lost connection or a read-only answer (PostgreSQL) is also marked a disconnect, so the pool
drops every pooled connection of that server at once (they all died with it; or they all
belong to a server that failed over, or to sessions opened before `ALTER DATABASE … SET
default_transaction_read_only` was undone) and the next checkout connects afresh. Everything
else (a constraint, a syntax error) is left as it was: a bug or a conflict, not a fault.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext

from ledger.codes import DATABASE_CODES
from ledger.errors import DatabaseUnavailable

__all__ = ["classify", "translate"]

UNAVAILABLE, READ_ONLY, FULL, BUSY = (
    "DATABASE_UNAVAILABLE",
    "DATABASE_READ_ONLY",
    "DATABASE_FULL",
    "DATABASE_BUSY",
)
assert set(DATABASE_CODES) == {UNAVAILABLE, READ_ONLY, FULL, BUSY}

#: SQLSTATE -> code (PostgreSQL, Appendix A); classes are matched by their first two characters
_SQLSTATES = {
    "25006": READ_ONLY,  # read_only_sql_transaction
    "53100": FULL,  # disk_full
    "57P01": UNAVAILABLE,  # admin_shutdown (pg_ctl stop -m fast)
    "57P02": UNAVAILABLE,  # crash_shutdown
    "57P03": UNAVAILABLE,  # cannot_connect_now (starting up, shutting down)
    "58030": UNAVAILABLE,  # io_error
}
_SQLSTATE_CLASSES = {"08": UNAVAILABLE, "53": UNAVAILABLE}

#: SQLite primary result code -> code
_SQLITE = {5: BUSY, 6: BUSY, 8: READ_ONLY, 10: UNAVAILABLE, 13: FULL, 14: UNAVAILABLE}


def _sqlstate(orig: BaseException) -> str | None:
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(state) if state else None


def classify(error: BaseException, *, disconnect: bool = False) -> str | None:
    """The fault code of a driver error (SQLAlchemy's wrapper or the DBAPI's own), or None if it
    is no database fault."""
    orig = error.orig if isinstance(error, sa_exc.DBAPIError) and error.orig else error
    state = _sqlstate(orig)
    if state is not None:
        return _SQLSTATES.get(state) or _SQLSTATE_CLASSES.get(state[:2])
    errorcode = getattr(orig, "sqlite_errorcode", None)
    if isinstance(errorcode, int):
        return _SQLITE.get(errorcode & 0xFF)
    if disconnect:
        return UNAVAILABLE
    module = type(orig).__module__
    if module.startswith("psycopg") and isinstance(
        error, sa_exc.OperationalError | sa_exc.InterfaceError
    ):
        return UNAVAILABLE  # no SQLSTATE: the connection could not be made, or is gone
    return None


def _message(code: str, orig: BaseException) -> str:
    detail = " ".join(str(orig).split())[:300]
    return f"{DATABASE_CODES[code]}; retry later ({type(orig).__name__}: {detail})"


def translate(context: ExceptionContext) -> DatabaseUnavailable | None:
    """The `handle_error` hook: a `DatabaseUnavailable` in place of a fault's driver error (and
    the disconnect marked, see the module's docstring); None (SQLAlchemy's own error) for
    anything else. The pool's pre-ping is left to the pool, which reconnects."""
    if context.is_pre_ping:
        return None
    code = classify(
        context.sqlalchemy_exception or context.original_exception,
        disconnect=context.is_disconnect,
    )
    if code is None:
        return None
    if code in (UNAVAILABLE, READ_ONLY) and context.dialect.name != "sqlite":
        context.is_disconnect = True  # see the module's docstring
    return DatabaseUnavailable(_message(code, context.original_exception), code=code)
