"""Regulator queries: loans (filters, cursor pages, CSV), statistics, violations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationError

from gateway.deps import RegulatorCaller, Service
from ledger.bounds import ParticipantId, StoredBps, TimeBound, input_error
from ledger.queries import (
    MAX_PAGE,
    GroupBy,
    InstitutionName,
    LoanFilter,
    Period,
    Status,
)

router = APIRouter(prefix="/v1/regulator", tags=["regulator"])


def loan_filter(
    funder_id: ParticipantId | None = None,
    platform_id: ParticipantId | None = None,
    guarantor_id: ParticipantId | None = None,
    institution_type: InstitutionName | None = None,
    issued_from: Annotated[TimeBound | None, Query(description="unix seconds, included")] = None,
    issued_to: Annotated[TimeBound | None, Query(description="unix seconds, excluded")] = None,
    apr_min_bps: StoredBps | None = None,
    apr_max_bps: StoredBps | None = None,
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
        raise input_error(exc.errors()) from exc


class LoanPage(BaseModel):
    items: list[dict[str, Any]] = Field(description="loan summaries, in issue order")
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


class Statistics(BaseModel):
    basis: dict[str, Any] = Field(description="what was counted, units, caps measured against")
    groups: list[dict[str, Any]] = Field(description="per group and period")
    totals: list[dict[str, Any]] = Field(description="per period")
    consumer_finance_rule: dict[str, Any]


class Violations(BaseModel):
    proven: list[dict[str, Any]] = Field(description="violations proven on chain")
    proven_count: int
    proven_by_rule: dict[str, int]
    legacy_awaiting_clearance: dict[str, Any]
    rejected_at_submission: dict[str, Any]
    consumer_finance_average: dict[str, Any] = Field(
        description="consumer-finance companies whose quarterly average cost breaks the policy"
    )
    index: dict[str, Any]


@router.get(
    "/loans",
    summary="Loans by filter; cursor pages, or CSV with format=csv",
    response_model=LoanPage,
    responses={200: {"content": {"text/csv": {}}}},
)
def loans(
    service: Service,
    caller: RegulatorCaller,
    flt: Annotated[LoanFilter, Depends(loan_filter)],
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    format: Literal["json", "csv"] = "json",
) -> Any:
    if format == "csv":
        rows: Iterator[str] = service.loans_csv(caller, flt)
        return StreamingResponse(
            rows,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="loans.csv"'},
        )
    items, next_cursor = service.list_loans(caller, flt, cursor=cursor, limit=limit)
    return LoanPage(items=items, next_cursor=next_cursor)


@router.get(
    "/chain-loans",
    summary="Loans anchored per record on chain by others (from the event index)",
    response_model=LoanPage,
)
def chain_loans(
    service: Service,
    caller: RegulatorCaller,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> LoanPage:
    items, next_cursor = service.chain_loans(caller, cursor=cursor, limit=limit)
    return LoanPage(items=items, next_cursor=next_cursor)


@router.get(
    "/stats",
    summary="Counts, volume, APR average and distribution, share above caps, CF quarterly rule",
    response_model=Statistics,
)
def statistics(
    service: Service,
    caller: RegulatorCaller,
    flt: Annotated[LoanFilter, Depends(loan_filter)],
    group_by: GroupBy = "institution_type",
    period: Period = "quarter",
    include_retired: bool = False,
) -> Statistics:
    return Statistics.model_validate(
        service.statistics(
            caller, flt, group_by=group_by, period=period, include_retired=include_retired
        )
    )


@router.get(
    "/violations",
    summary="Proven violations, legacy loans awaiting clearance, refusals by rule,"
    " consumer-finance average breaches",
    response_model=Violations,
)
def violation_report(service: Service, caller: RegulatorCaller) -> Violations:
    return Violations.model_validate(service.violations(caller))
