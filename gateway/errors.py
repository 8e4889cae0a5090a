"""One JSON shape for every error: {"error": {"code": STABLE_CODE, "message": sentence}}.

Status codes: 400 malformed request, 401 no/unknown API key, 403 wrong role, 404 unknown or not
yours, 409 state conflict, 410 destroyed on purpose (an erased document), 413 too large, 422 rules and signatures, 502 the chain failed, 503 the
node does not answer (or is another chain), or the database is down, read-only, full or locked
(`DATABASE_*`, with `Retry-After`). Anything else is a bug: 500 `INTERNAL_ERROR`, in the same
shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.bounds import input_code, input_error
from ledger.chain.client import node_unreachable
from ledger.errors import (
    ChainError,
    ChainUnavailable,
    ConfigurationError,
    Conflict,
    DatabaseUnavailable,
    Gone,
    InputError,
    LedgerError,
    NotFound,
    PermissionDenied,
    RuleViolation,
    SignatureError,
    VerificationError,
)
from ledger.safejson import JsonShapeError

__all__ = ["RETRY_AFTER_SECONDS", "ApiError", "install_error_handlers", "status_for"]

#: what a 503 tells the client to wait before it retries
RETRY_AFTER_SECONDS = 1

log = logging.getLogger("ledger.gateway")


class ApiError(Exception):
    """An error raised by the HTTP layer itself (bad upload, bad header...)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def status_for(exc: LedgerError) -> int:
    if isinstance(exc, JsonShapeError):
        return exc.status
    if isinstance(exc, DatabaseUnavailable):
        return 503
    if isinstance(exc, PermissionDenied):
        return 401 if exc.code == "UNAUTHENTICATED" else 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, Gone):
        return 410
    if isinstance(exc, RuleViolation | SignatureError | VerificationError | InputError):
        return 422
    if isinstance(exc, ConfigurationError):
        return 500
    if isinstance(exc, ChainUnavailable):
        return 503
    if isinstance(exc, ChainError):
        return 422 if getattr(exc, "error_name", None) else 502
    return 400


def _body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def install_error_handlers(app: FastAPI, on_error: Any = None) -> None:
    def count(code: str) -> None:
        if on_error is not None:
            on_error(code)

    @app.exception_handler(LedgerError)
    async def ledger_error(_: Request, exc: LedgerError) -> JSONResponse:
        count(exc.code)
        extra = {"check": exc.check} if isinstance(exc, VerificationError) else {}
        status = status_for(exc)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
        return JSONResponse(
            _body(exc.code, exc.message, **extra), status_code=status, headers=headers
        )

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        count(exc.code)
        return JSONResponse(_body(exc.code, exc.message), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        error = input_error(errors)  # the first problem's stable code (ledger.bounds)
        count(error.code)
        details = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "code": input_code(e.get("type", "")),
            }
            for e in errors[:20]
        ]
        return JSONResponse(_body(error.code, error.message, details=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 401: "UNAUTHENTICATED"}.get(
            exc.status_code, "HTTP_ERROR"
        )
        count(code)
        return JSONResponse(_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        if node_unreachable(exc):  # the node away, seen where nothing translated it: 503
            count(ChainUnavailable.code)
            message = f"the chain node does not answer: {type(exc).__name__}"
            return JSONResponse(_body(ChainUnavailable.code, message), status_code=503)
        count("INTERNAL_ERROR")
        log.error("unexpected error", exc_info=exc)
        return JSONResponse(
            _body("INTERNAL_ERROR", "internal error (a bug): it is logged"), status_code=500
        )
