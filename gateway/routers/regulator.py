"""Regulator queries: loans (filters, cursor pages, CSV), statistics, violations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from gateway.deps import RegulatorCaller, Service
from gateway.errors import ApiError
from ledger.chain.deploy import InstitutionType
from ledger.indexer import EventIndexer
from ledger.queries import (
    MAX_PAGE,
    GroupBy,
    InstitutionName,
    LoanFilter,
    Period,
    Status,
    chain_only_loans,
    list_loans,
    loans_csv,
    stats,
    violations,
)
from ledger.service import LedgerService

router = APIRouter(prefix="/v1/regulator", tags=["regulator"])


def loan_filter(
    funder_id: Annotated[int | None, Query(ge=1)] = None,
    platform_id: Annotated[int | None, Query(ge=1)] = None,
    guarantor_id: Annotated[int | None, Query(ge=1)] = None,
    institution_type: InstitutionName | None = None,
    issued_from: Annotated[int | None, Query(ge=0, description="unix seconds, included")] = None,
    issued_to: Annotated[int | None, Query(ge=0, description="unix seconds, excluded")] = None,
    apr_min_bps: Annotated[int | None, Query(ge=0)] = None,
    apr_max_bps: Annotated[int | None, Query(ge=0)] = None,
    status: Status | None = None,
    rule: Annotated[
        str | None, Query(description="loans refused for this rule code, e.g. RATE_CAP_EXCEEDED")
    ] = None,
    legacy: bool | None = None,
) -> LoanFilter:
    try:
        return LoanFilter(
            funder_id=funder_id,
            platform_id=platform_id,
            guarantor_id=guarantor_id,
            institution_type=institution_type,
            issued_from=issued_from,
            issued_to=issued_to,
            apr_min_bps=apr_min_bps,
            apr_max_bps=apr_max_bps,
            status=status,
            rule=rule,
            legacy=legacy,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ApiError(
            422, "INVALID_INPUT", f"{'.'.join(map(str, first.get('loc', ())))}: {first.get('msg')}"
        ) from exc


def _indexer(request: Request, service: LedgerService) -> EventIndexer:
    indexer: EventIndexer | None = getattr(request.app.state, "indexer", None)
    if indexer is None:
        indexer = EventIndexer(
            service.db, service.client, service.deployment, chain_lock=service.chain_lock
        )
        request.app.state.indexer = indexer
    return indexer


@router.get("/loans", summary="Loans by filter; cursor pages, or CSV with format=csv")
def loans(
    service: Service,
    _: RegulatorCaller,
    flt: Annotated[LoanFilter, Depends(loan_filter)],
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    format: Literal["json", "csv"] = "json",
) -> Any:
    if format == "csv":
        rows: Iterator[str] = loans_csv(service.db, flt)
        return StreamingResponse(
            rows,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="loans.csv"'},
        )
    items, next_cursor = list_loans(service.db, flt, cursor=cursor, limit=limit)
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/chain-loans", summary="Loans anchored per record on chain by others (from the event index)"
)
def chain_loans(
    request: Request,
    service: Service,
    _: RegulatorCaller,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    _indexer(request, service).sync()
    items, next_cursor = chain_only_loans(service.db, None, cursor=cursor, limit=limit)
    return {"items": items, "next_cursor": next_cursor}


def _caps(service: LedgerService) -> dict[str, int]:
    """The caps the statistics measure against: each funder type's cap now, and 4 x LPR."""
    fns = service.chain.registry.functions
    now = service.client.latest_timestamp()
    with service.chain_lock:
        caps = {
            f"cap_{t.name.lower()}": int(service.client.call(fns.rateCapAt(int(t), now))[1])
            for t in InstitutionType
            if t is not InstitutionType.NONE
        }
        caps["four_times_lpr"] = 4 * int(service.client.call(fns.lprAt(now)))
    caps["24_percent"] = 2400
    return caps


@router.get(
    "/stats",
    summary="Counts, volume, APR average and distribution, share above caps, CF quarterly rule",
)
def statistics(
    service: Service,
    _: RegulatorCaller,
    flt: Annotated[LoanFilter, Depends(loan_filter)],
    group_by: GroupBy = "institution_type",
    period: Period = "quarter",
    include_retired: bool = False,
) -> dict[str, Any]:
    return stats(
        service.db,
        group_by=group_by,
        period=period,
        caps_bps=_caps(service),
        flt=flt,
        include_retired=include_retired,
    )


@router.get(
    "/violations", summary="Proven violations, legacy loans awaiting clearance, refusals by rule"
)
def violation_report(request: Request, service: Service, _: RegulatorCaller) -> dict[str, Any]:
    _indexer(request, service).sync()
    return violations(service.db)
