"""Operations: health and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field

from gateway.deps import Service
from ledger.service import LedgerService

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    ok: bool
    status: Literal["ok", "degraded"] = Field(
        description="degraded: the node is unreachable or answers another chain id than the "
        "deployment's, the database does not answer, refuses writes or is full, or the queue's "
        "oldest record has waited past the anchoring deadline (HTTP 503)"
    )
    reasons: list[str] = Field(description="why degraded (empty when ok)")
    checks: dict[str, dict[str, Any]] = Field(
        description="chain (reachable, chain_id, expected_chain_id, head_block, head_time, "
        "lag_seconds behind the wall clock, registry_view_block), database (ok, read_only; when "
        "not ok its code, DATABASE_UNAVAILABLE, DATABASE_READ_ONLY, DATABASE_FULL or "
        "DATABASE_BUSY, and the error), batcher (queue_depth, oldest_pending_seconds, "
        "deadline_seconds)"
    )
    time: int = Field(description="the gateway's clock, unix seconds: date loans by it")


@router.get(
    "/healthz",
    summary="Chain, database and queue health: 200 ok, 503 degraded (load balancers take the "
    "gateway out of rotation; the body says why)",
    response_model=Health,
    responses={503: {"model": Health}},
)
def healthz(service: Service) -> JSONResponse:
    health = service.health()
    return JSONResponse(health, status_code=200 if health["status"] == "ok" else 503)


_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
_SIZE_BUCKETS = (1, 10, 100, 1_000, 10_000, 100_000)


def _histogram(
    name: str, doc: str, values: list[float], buckets: tuple[float, ...]
) -> HistogramMetricFamily:
    counts = [sum(1 for v in values if v <= b) for b in buckets]
    pairs = [(str(b), float(c)) for b, c in zip(buckets, counts, strict=True)] + [
        ("+Inf", float(len(values)))
    ]
    return HistogramMetricFamily(name, doc, buckets=pairs, sum_value=float(sum(values)))


class ServiceCollector(Collector):
    """Reads the service's counters at scrape time."""

    def __init__(self, service: LedgerService) -> None:
        self.service = service

    def collect(self) -> Iterator[Any]:
        m = self.service.metrics
        yield CounterMetricFamily("ledger_submissions", "Loans submitted", value=m.submissions)
        yield CounterMetricFamily("ledger_batches", "Batches anchored", value=m.batches)
        errors = CounterMetricFamily("ledger_errors", "Errors by stable code", labels=["code"])
        for code, count in sorted(m.errors.items()):
            errors.add_metric([code], count)
        yield errors
        yield GaugeMetricFamily(
            "ledger_queue_depth", "Records queued for anchoring", value=self.service.pending_count()
        )
        yield _histogram(
            "ledger_batch_size",
            "Records per anchored batch (recent)",
            [float(v) for v in m.batch_sizes],
            _SIZE_BUCKETS,
        )
        yield _histogram(
            "ledger_anchor_latency_seconds",
            "Queued to anchored (recent)",
            list(m.anchor_latency),
            _BUCKETS,
        )


@router.get("/metrics", summary="Prometheus metrics")
def metrics(service: Service) -> Response:
    registry = CollectorRegistry()
    registry.register(ServiceCollector(service))
    return Response(
        generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
