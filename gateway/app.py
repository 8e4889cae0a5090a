"""The FastAPI application: wiring of settings, chain, database, service, batcher and routers."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from web3 import Web3

from gateway import openapi
from gateway.access_log import AccessLog
from gateway.errors import install_error_handlers
from gateway.guard import RequestGuard
from gateway.routers import (
    batches,
    commitments,
    deployment,
    disclosure,
    documents,
    evidence,
    loans,
    ops,
    pages,
    participants,
    regulator,
    verify,
    whitelists,
)
from gateway.settings import GatewaySettings
from ledger.chain.client import ChainClient
from ledger.chain.transactions import GWEI, TxPolicy
from ledger.keystore import load_account
from ledger.limits import restore_recursion_limit
from ledger.queries import ConsumerFinancePolicy
from ledger.service import LedgerService, ServiceConfig
from ledger.store import Database

__all__ = ["Gateway", "create_app", "open_gateway"]

log = logging.getLogger("ledger.gateway")


class JsonLogFormatter(logging.Formatter):
    """Structured JSON logs, one object per line."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger("ledger")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@dataclass
class Gateway:
    """Everything a running gateway holds; `close()` releases the chain and the database."""

    settings: GatewaySettings
    service: LedgerService
    regulator_api_key: str | None
    closers: list[Callable[[], None]]

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


def open_gateway(settings: GatewaySettings, client: ChainClient | None = None) -> Gateway:
    """Opens the chain (embedded in the data dir, or `settings.chain`, or a given `client`), the
    database and the service."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    closers: list[Callable[[], None]] = []
    if client is not None:
        pass
    elif settings.chain:
        # one request waits `rpc_timeout` at most, and is not retried by web3 (five times by
        # default, with backoff: a hung node then held each call for a minute): the batcher
        # retries with its own backoff, requests never wait for the node
        client = ChainClient(
            Web3(
                Web3.HTTPProvider(
                    settings.chain,
                    request_kwargs={"timeout": settings.rpc_timeout},
                    exception_retry_configuration=None,
                )
            )
        )
    else:
        from ledger.chain.embedded import open_embedded_chain

        embedded = open_embedded_chain(settings.data_dir / "chain")
        closers.append(embedded.close)
        client = ChainClient(embedded.w3)
    db = Database(settings.database_url())
    closers.append(db.engine.dispose)
    config = ServiceConfig(
        data_dir=settings.data_dir,
        batch_interval=settings.batch_interval,
        batch_size=settings.batch_size,
        anchor_deadline_seconds=settings.anchor_deadline,
        confirmations=settings.confirmations,
        account=load_account(
            settings.account_key_file,
            env="LEDGER_ACCOUNT_KEY",
            password_env="LEDGER_ACCOUNT_KEY_PASSWORD",
        ),
        deployer=load_account(
            settings.deployer_key_file,
            env="LEDGER_DEPLOYER_KEY",
            password_env="LEDGER_DEPLOYER_KEY_PASSWORD",
        ),
        claim_lease_seconds=settings.claim_lease,
        transactions=TxPolicy(
            max_fee_per_gas=int(settings.max_fee_gwei * GWEI),
            priority_fee=int(settings.priority_fee_gwei * GWEI),
            replace_after=settings.tx_replace_after,
            receipt_timeout=settings.tx_timeout,
            confirmations=settings.confirmations,
        ),
        consumer_finance=ConsumerFinancePolicy(threshold_bps=settings.cf_average_cap_bps),
    )
    service, regulator_key = LedgerService.open(db, client, config)
    return Gateway(settings, service, regulator_key, closers)


def create_app(gateway: Gateway, *, run_background: bool = True) -> FastAPI:
    """The app over an opened gateway; `run_background` starts the batcher (and indexer) threads."""
    service = gateway.service
    restore_recursion_limit()  # the Ethereum libraries raised it past what a stack can hold

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        threads: list[threading.Thread] = []
        if run_background:

            def reporter(what: str) -> Callable[[Exception], None]:
                def report(exc: Exception) -> None:
                    log.error(f"{what} failed", extra={"fields": {"error": str(exc)}})

                return report

            for name, loop in (
                ("batcher", service.run_batcher),
                ("indexer", service.run_indexer),
                ("registry", service.run_follower),
            ):
                threads.append(
                    threading.Thread(
                        target=loop, args=(stop, reporter(name)), name=name, daemon=True
                    )
                )
            for thread in threads:
                thread.start()
        try:
            yield
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)

    app = FastAPI(
        title="Loan evidence ledger gateway",
        version="0.1.0",
        description="Anchor, verify and query 助贷 loan records. Bearer API keys bound to one participant and role.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.settings = gateway.settings
    openapi.install(app)
    install_error_handlers(app, on_error=service.count_error)

    # Bodies are bounded (size, JSON depth and values) before anything parses them; only the
    # access log is further out, so refusals are logged too.
    app.add_middleware(
        RequestGuard,
        max_upload_bytes=gateway.settings.max_upload_bytes + 1024 * 1024,  # file + form around it
        max_json_bytes=gateway.settings.max_json_bytes,
        on_refuse=service.count_error,
    )
    app.add_middleware(AccessLog)
    for router in (
        deployment.router,
        participants.router,
        whitelists.router,
        loans.router,
        documents.router,
        disclosure.router,
        evidence.router,
        batches.router,
        verify.router,
        commitments.router,
        regulator.router,
        ops.router,
        pages.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=pages.WEB_DIR / "static"), name="static")
    return app
