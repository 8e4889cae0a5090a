"""The regulator's queries over the gateway's loans and the indexed chain events (HTTP-free).

- `list_loans` / `loans_csv`: the loans the gateway holds (`SubmissionRow`), filtered by
  `LoanFilter`, in keyset pages ordered by (issued_at, record_id), or as streamed CSV.
- `chain_only_loans`: loans anchored on chain by themselves (`LoanAnchored` events) that the
  gateway does not hold, from the event index, with `"source": "chain"`. `list_loans` leaves
  them out.
- `stats`: counts, volumes, average APRs, APR distribution and shares above caps per group and
  period, and the consumer-finance rule (average cost of new loans per quarter, R3).
- `violations`: violations proven on chain, legacy stock awaiting clearance (R8), and loans
  rejected at submission by code.

Every amount is an integer: fen, basis points, unix seconds. Periods are UTC calendar periods of
`issued_at`. An optional `caller` narrows `list_loans`/`loans_csv` to what
`LedgerService.may_see` lets that caller see (None: everything, as for the regulator).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from ledger.chain.artifacts import decode_custom_error, error_selectors
from ledger.chain.deploy import InstitutionType, Role
from ledger.errors import InputError
from ledger.indexer import CURSOR_KEY
from ledger.records import FLAG_LEGACY
from ledger.rules import RULE_CODES
from ledger.service import Caller, submission_summary
from ledger.store import ChainEventRow, Database, MetaRow, ParticipantRow, SubmissionRow

__all__ = [
    "CF_RULE_FROM",
    "CF_THRESHOLD_BPS",
    "CSV_COLUMNS",
    "DEFAULT_APR_BUCKETS_BPS",
    "DEFAULT_CAPS_BPS",
    "MAX_PAGE",
    "GroupBy",
    "LoanFilter",
    "Period",
    "chain_only_loans",
    "list_loans",
    "loans_csv",
    "stats",
    "violations",
]

#: Largest page of `list_loans` / `chain_only_loans`.
MAX_PAGE = 1_000
#: Caps whose exceedance `stats` reports by default (domain.md R3): the 24% per-loan cap and
#: 4 x the 1-year LPR of 3.00% (the small-loan target and the private-lending ceiling). Policy,
#: not law: pass the regulator's current values.
DEFAULT_CAPS_BPS: Mapping[str, int] = {"cap_24pct": 2_400, "lpr_x4": 1_200}
#: Upper edges of the APR buckets (bps): <=1200, 1201-1800, 1801-2400, 2401-3600, >3600.
DEFAULT_APR_BUCKETS_BPS: tuple[int, ...] = (1_200, 1_800, 2_400, 3_600)
#: Consumer-finance companies: average cost of new loans <= 20% per quarter (window guidance,
#: unconfirmed as text), from 2026-Q1.
CF_THRESHOLD_BPS = 2_000
CF_RULE_FROM = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())

GroupBy = Literal["institution_type", "funder", "platform"]
Period = Literal["month", "quarter", "year"]
Status = Literal["awaiting_funder", "queued", "anchored", "rejected"]
InstitutionName = Literal["bank", "trust", "consumer_finance", "small_loan", "other"]

_UINT64 = 2**64


class LoanFilter(BaseModel):
    """Which loans. Every field is optional; given fields must all match.

    `issued_from <= issued_at < issued_to` (unix seconds, half-open);
    `apr_min_bps <= apr_bps <= apr_max_bps`; `rule`: loans rejected with that code (e.g.
    `RATE_CAP_EXCEEDED`, `FUNDER_REJECTED`); `legacy`: the legacy flag (R8); `retired`: True any
    retired record, False none, or `"revoked"` / `"superseded"`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    funder_id: int | None = Field(default=None, ge=1, lt=_UINT64)
    platform_id: int | None = Field(default=None, ge=1, lt=_UINT64)
    guarantor_id: int | None = Field(default=None, ge=1, lt=_UINT64)
    institution_type: InstitutionName | None = None
    issued_from: int | None = Field(default=None, ge=0, lt=_UINT64)
    issued_to: int | None = Field(default=None, ge=0, lt=_UINT64)
    apr_min_bps: int | None = Field(default=None, ge=0, lt=2**32)
    apr_max_bps: int | None = Field(default=None, ge=0, lt=2**32)
    status: Status | None = None
    rule: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{0,63}$")
    legacy: bool | None = None
    retired: bool | Literal["revoked", "superseded"] | None = None

    @model_validator(mode="after")
    def _ranges(self) -> LoanFilter:
        if (
            self.issued_from is not None
            and self.issued_to is not None
            and self.issued_from > self.issued_to
        ):
            raise ValueError("issued_from is after issued_to")
        if (
            self.apr_min_bps is not None
            and self.apr_max_bps is not None
            and self.apr_min_bps > self.apr_max_bps
        ):
            raise ValueError("apr_min_bps is above apr_max_bps")
        return self

    def fingerprint(self) -> str:
        """A short digest of the filter; cursors carry it so they are not reused across filters."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


# ---------------------------------------------------------------------- helpers


def _legacy_column() -> ColumnElement[bool]:
    return SubmissionRow.flags.bitwise_and(FLAG_LEGACY) != 0


def _conditions(flt: LoanFilter) -> list[ColumnElement[bool]]:
    s = SubmissionRow
    out: list[ColumnElement[bool]] = []
    if flt.funder_id is not None:
        out.append(s.funder_id == flt.funder_id)
    if flt.platform_id is not None:
        out.append(s.platform_id == flt.platform_id)
    if flt.guarantor_id is not None:
        out.append(s.guarantor_id == flt.guarantor_id)
    if flt.institution_type is not None:
        out.append(s.institution_type == flt.institution_type)
    if flt.issued_from is not None:
        out.append(s.issued_at >= flt.issued_from)
    if flt.issued_to is not None:
        out.append(s.issued_at < flt.issued_to)
    if flt.apr_min_bps is not None:
        out.append(s.apr_bps >= flt.apr_min_bps)
    if flt.apr_max_bps is not None:
        out.append(s.apr_bps <= flt.apr_max_bps)
    if flt.status is not None:
        out.append(s.status == flt.status)
    if flt.rule is not None:
        out.append(and_(s.status == "rejected", s.rejection_code == flt.rule))
    if flt.legacy is not None:
        out.append(_legacy_column() if flt.legacy else ~_legacy_column())
    if flt.retired is True:
        out.append(s.retired.is_not(None))
    elif flt.retired is False:
        out.append(s.retired.is_(None))
    elif flt.retired is not None:
        out.append(s.retired == flt.retired)
    return out


def _scope(caller: Caller | None) -> list[ColumnElement[bool]]:
    """SQL form of `LedgerService.may_see`."""
    if caller is None or caller.role in (Role.REGULATOR, Role.AUDITOR):
        return []
    pid = caller.participant_id
    if caller.role is Role.PLATFORM:
        return [SubmissionRow.platform_id == pid]
    if caller.role is Role.FUNDER:
        return [or_(SubmissionRow.funder_id == pid, SubmissionRow.co_funder_id == pid)]
    if caller.role is Role.CREDIT_ENHANCER:
        return [SubmissionRow.guarantor_id == pid]
    return [false()]


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit must be between 1 and {MAX_PAGE}", code="INVALID_LIMIT")


def _encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, kind: str, fingerprint: str) -> dict[str, Any]:
    bad = InputError("the cursor is malformed or belongs to another query", code="INVALID_CURSOR")
    try:
        if len(cursor) > 512:
            raise ValueError(cursor)
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise bad from exc
    if not isinstance(payload, dict) or payload.get("k") != kind or payload.get("f") != fingerprint:
        raise bad
    return payload


def _half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (both non-negative, denominator > 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


def _period_label(ts: int, period: str) -> str:
    try:
        when = datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        return "out-of-range"
    if period == "month":
        return f"{when.year:04d}-{when.month:02d}"
    if period == "quarter":
        return f"{when.year:04d}-Q{(when.month - 1) // 3 + 1}"
    return f"{when.year:04d}"


# ---------------------------------------------------------------------- loans


def list_loans(
    db: Database,
    flt: LoanFilter | None = None,
    *,
    cursor: str | None = None,
    limit: int = 100,
    caller: Caller | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the gateway's loans matching `flt`, ordered by (issued_at, record_id).

    Returns the items (`submission_summary` of each row) and the cursor of the next page (None
    on the last page). Keyset pagination: pages never overlap or skip rows, whatever is added
    meanwhile. Loans anchored on chain by others are not included (see `chain_only_loans`)."""
    flt = flt or LoanFilter()
    _check_limit(limit)
    fingerprint = flt.fingerprint()
    where = _conditions(flt) + _scope(caller)
    if cursor is not None:
        position = _decode_cursor(cursor, "loans", fingerprint)
        try:
            after_time, after_id = int(position["i"]), str(position["r"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError("the cursor is malformed", code="INVALID_CURSOR") from exc
        where.append(
            or_(
                SubmissionRow.issued_at > after_time,
                and_(SubmissionRow.issued_at == after_time, SubmissionRow.record_id > after_id),
            )
        )
    query = (
        select(SubmissionRow)
        .where(*where)
        .order_by(SubmissionRow.issued_at, SubmissionRow.record_id)
        .limit(limit + 1)
    )
    with db.session() as s:
        rows = list(s.execute(query).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [submission_summary(r) for r in rows]
    next_cursor = (
        _encode_cursor(
            {"k": "loans", "f": fingerprint, "i": rows[-1].issued_at, "r": rows[-1].record_id}
        )
        if more and rows
        else None
    )
    return items, next_cursor


#: Columns of `loans_csv`, in order.
CSV_COLUMNS: tuple[str, ...] = (
    "record_id",
    "status",
    "anchoring",
    "platform_id",
    "funder_id",
    "guarantor_id",
    "co_funder_id",
    "institution_type",
    "principal_fen",
    "apr_bps",
    "issued_at",
    "legacy",
    "batch_root",
    "transaction_hash",
    "block_number",
    "block_time",
    "rejection_code",
    "rejection_reason",
    "retired",
)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # Spreadsheet formula injection: free text (a funder's rejection reason) is defused.
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([_csv_cell(v) for v in values])
    return buffer.getvalue()


def loans_csv(
    db: Database,
    flt: LoanFilter | None = None,
    *,
    caller: Caller | None = None,
    page_size: int = MAX_PAGE,
) -> Iterator[str]:
    """The loans matching `flt` as CSV (RFC 4180, CRLF): the header, then one line per loan,
    read page by page (constant memory)."""
    yield _csv_line(CSV_COLUMNS)
    cursor: str | None = None
    while True:
        items, cursor = list_loans(db, flt, cursor=cursor, limit=page_size, caller=caller)
        for item in items:
            rejection = item["rejection"] or {}
            yield _csv_line(
                [
                    item["record_id"],
                    item["status"],
                    item["anchoring"],
                    item["platform_id"],
                    item["funder_id"],
                    item["guarantor_id"],
                    item["co_funder_id"],
                    item["institution_type"],
                    item["principal"],
                    item["apr_bps"],
                    item["issued_at"],
                    item["legacy"],
                    item["batch_root"],
                    item["transaction_hash"],
                    item["block_number"],
                    item["block_time"],
                    rejection.get("code"),
                    rejection.get("reason"),
                    item["retired"],
                ]
            )
        if cursor is None:
            return


# ---------------------------------------------------------------------- chain-only loans


def _institution_names(s: Session) -> dict[int, str]:
    """Participant id -> institution type name, from the gateway's participants and the indexed
    `ParticipantRegistered` events (which cover participants registered elsewhere)."""
    names: dict[int, str] = {}
    events = s.execute(
        select(ChainEventRow.args_json).where(ChainEventRow.name == "ParticipantRegistered")
    ).scalars()
    for raw in events:
        args = json.loads(raw)
        try:
            names[int(args["participantId"])] = InstitutionType(
                int(args["institutionType"])
            ).name.lower()
        except (KeyError, ValueError):
            continue
    for pid, kind in s.execute(select(ParticipantRow.id, ParticipantRow.institution_type)):
        names[int(pid)] = str(kind)
    return names


def _retirements(s: Session) -> dict[str, str]:
    out: dict[str, str] = {}
    events = s.execute(
        select(ChainEventRow.name, ChainEventRow.args_json)
        .where(ChainEventRow.name.in_(("RecordRevoked", "RecordAmended")))
        .order_by(ChainEventRow.block_number, ChainEventRow.log_index)
    )
    for name, raw in events:
        record_id = str(json.loads(raw)["recordId"]).lower()
        out.setdefault(record_id, "revoked" if name == "RecordRevoked" else "superseded")
    return out


def _chain_item(
    event: ChainEventRow, institution: Mapping[int, str], retired: Mapping[str, str]
) -> dict[str, Any]:
    args = json.loads(event.args_json)
    record_id = str(args["recordId"]).lower()
    funder_id = int(args["funderId"])
    return {
        "record_id": record_id,
        "status": "anchored",
        "anchoring": "per-record",
        "platform_id": int(args["platformId"]),
        "funder_id": funder_id,
        "guarantor_id": int(args["guarantorId"]) or None,
        "co_funder_id": int(args["coFunderId"]) or None,
        "institution_type": institution.get(funder_id, "unknown"),
        "principal": int(args["principal"]),
        "apr_bps": int(args["aprBps"]),
        "issued_at": int(args["issuedAt"]),
        "legacy": bool(int(args["flags"]) & FLAG_LEGACY),
        "batch_root": None,
        "transaction_hash": event.tx_hash,
        "block_number": event.block_number,
        "block_time": event.block_time,
        "rejection": None,
        "retired": retired.get(record_id),
        "source": "chain",
    }


def _chain_item_matches(item: Mapping[str, Any], flt: LoanFilter) -> bool:
    checks: list[bool] = [
        flt.funder_id is None or item["funder_id"] == flt.funder_id,
        flt.platform_id is None or item["platform_id"] == flt.platform_id,
        flt.guarantor_id is None or item["guarantor_id"] == flt.guarantor_id,
        flt.institution_type is None or item["institution_type"] == flt.institution_type,
        flt.issued_from is None or item["issued_at"] >= flt.issued_from,
        flt.issued_to is None or item["issued_at"] < flt.issued_to,
        flt.apr_min_bps is None or item["apr_bps"] >= flt.apr_min_bps,
        flt.apr_max_bps is None or item["apr_bps"] <= flt.apr_max_bps,
        flt.status is None or flt.status == "anchored",
        flt.rule is None,
        flt.legacy is None or item["legacy"] == flt.legacy,
        flt.retired is None
        or (flt.retired is True and item["retired"] is not None)
        or (flt.retired is False and item["retired"] is None)
        or (isinstance(flt.retired, str) and item["retired"] == flt.retired),
    ]
    return all(checks)


def chain_only_loans(
    db: Database,
    flt: LoanFilter | None = None,
    *,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], str | None]:
    """Loans anchored on chain by themselves (indexed `LoanAnchored` events) that the gateway
    does not hold, ordered by (block_number, log_index), each marked `"source": "chain"`.

    The filter is applied to the event's fields (the funder's institution type from the
    registry's events); `status` can only match `anchored` and `rule` never matches. This scans
    the indexed events, so it costs in proportion to the per-record anchors on chain."""
    flt = flt or LoanFilter()
    _check_limit(limit)
    fingerprint = flt.fingerprint()
    after_block, after_index = -1, -1
    if cursor is not None:
        position = _decode_cursor(cursor, "chain", fingerprint)
        try:
            after_block, after_index = int(position["b"]), int(position["l"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError("the cursor is malformed", code="INVALID_CURSOR") from exc
    found: list[tuple[ChainEventRow, dict[str, Any]]] = []
    chunk = max(2 * limit, 500)
    with db.session() as s:
        institution = _institution_names(s)
        retired = _retirements(s)
        while len(found) <= limit:
            events = list(
                s.execute(
                    select(ChainEventRow)
                    .where(
                        ChainEventRow.name == "LoanAnchored",
                        or_(
                            ChainEventRow.block_number > after_block,
                            and_(
                                ChainEventRow.block_number == after_block,
                                ChainEventRow.log_index > after_index,
                            ),
                        ),
                    )
                    .order_by(ChainEventRow.block_number, ChainEventRow.log_index)
                    .limit(chunk)
                ).scalars()
            )
            if not events:
                break
            items = [(e, _chain_item(e, institution, retired)) for e in events]
            known = set(
                s.execute(
                    select(SubmissionRow.record_id).where(
                        SubmissionRow.record_id.in_([item["record_id"] for _, item in items])
                    )
                ).scalars()
            )
            for event, item in items:
                if item["record_id"] not in known and _chain_item_matches(item, flt):
                    found.append((event, item))
                    if len(found) > limit:
                        break
            after_block, after_index = events[-1].block_number, events[-1].log_index
            if len(events) < chunk:
                break
    more = len(found) > limit
    found = found[:limit]
    next_cursor = (
        _encode_cursor(
            {
                "k": "chain",
                "f": fingerprint,
                "b": found[-1][0].block_number,
                "l": found[-1][0].log_index,
            }
        )
        if more and found
        else None
    )
    return [item for _, item in found], next_cursor


# ---------------------------------------------------------------------- statistics


@dataclass
class _Agg:
    """Running integer sums of one group and period."""

    edges: tuple[int, ...]
    caps: tuple[tuple[str, int], ...]
    count: int = 0
    volume: int = 0
    apr_sum: int = 0
    weighted_sum: int = 0
    apr_min: int | None = None
    apr_max: int | None = None
    legacy_count: int = 0
    legacy_volume: int = 0
    bucket_count: list[int] = field(default_factory=list)
    bucket_volume: list[int] = field(default_factory=list)
    above_count: dict[str, int] = field(default_factory=dict)
    above_volume: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bucket_count = [0] * (len(self.edges) + 1)
        self.bucket_volume = [0] * (len(self.edges) + 1)
        self.above_count = {name: 0 for name, _ in self.caps}
        self.above_volume = {name: 0 for name, _ in self.caps}

    def add(self, principal: int, apr: int, legacy: bool) -> None:
        self.count += 1
        self.volume += principal
        self.apr_sum += apr
        self.weighted_sum += principal * apr
        self.apr_min = apr if self.apr_min is None else min(self.apr_min, apr)
        self.apr_max = apr if self.apr_max is None else max(self.apr_max, apr)
        if legacy:
            self.legacy_count += 1
            self.legacy_volume += principal
        bucket = next((i for i, edge in enumerate(self.edges) if apr <= edge), len(self.edges))
        self.bucket_count[bucket] += 1
        self.bucket_volume[bucket] += principal
        for name, cap in self.caps:
            if apr > cap:
                self.above_count[name] += 1
                self.above_volume[name] += principal

    def weighted_bps(self) -> int | None:
        return _half_up(self.weighted_sum, self.volume) if self.volume else None

    def simple_bps(self) -> int | None:
        return _half_up(self.apr_sum, self.count) if self.count else None

    def as_dict(self) -> dict[str, Any]:
        buckets = []
        lower = 0
        for index, upper in enumerate((*self.edges, None)):
            buckets.append(
                {
                    "min_bps": lower,
                    "max_bps": upper,
                    "count": self.bucket_count[index],
                    "volume": self.bucket_volume[index],
                }
            )
            lower = (upper or 0) + 1
        return {
            "count": self.count,
            "volume": self.volume,
            "legacy_count": self.legacy_count,
            "legacy_volume": self.legacy_volume,
            "apr_bps": {
                "weighted": self.weighted_bps(),
                "simple": self.simple_bps(),
                "min": self.apr_min,
                "max": self.apr_max,
            },
            "distribution": buckets,
            "above_cap": {
                name: {
                    "cap_bps": cap,
                    "count": self.above_count[name],
                    "share_bps": _half_up(self.above_count[name] * 10_000, self.count)
                    if self.count
                    else 0,
                    "volume": self.above_volume[name],
                    "volume_share_bps": _half_up(self.above_volume[name] * 10_000, self.volume)
                    if self.volume
                    else 0,
                }
                for name, cap in self.caps
            },
        }


@dataclass
class _CfAgg:
    count: int = 0
    volume: int = 0
    apr_sum: int = 0
    weighted_sum: int = 0

    def add(self, principal: int, apr: int) -> None:
        self.count += 1
        self.volume += principal
        self.apr_sum += apr
        self.weighted_sum += principal * apr

    def as_dict(self, threshold: int, average: str) -> dict[str, Any]:
        if average == "weighted":
            # Exact comparison of the unrounded average: sum(p*apr)/sum(p) <= threshold.
            within = self.weighted_sum <= threshold * self.volume
        else:
            within = self.apr_sum <= threshold * self.count
        return {
            "count": self.count,
            "volume": self.volume,
            "weighted_apr_bps": _half_up(self.weighted_sum, self.volume) if self.volume else None,
            "simple_apr_bps": _half_up(self.apr_sum, self.count) if self.count else None,
            "within_limit": within,
        }


def _group_key(group_by: str, institution_type: str, funder_id: int, platform_id: int) -> Any:
    if group_by == "institution_type":
        return institution_type
    if group_by == "funder":
        return funder_id
    return platform_id


def stats(
    db: Database,
    *,
    group_by: GroupBy = "institution_type",
    period: Period = "quarter",
    caps_bps: Mapping[str, int] | None = None,
    flt: LoanFilter | None = None,
    apr_buckets_bps: Sequence[int] = DEFAULT_APR_BUCKETS_BPS,
    cf_threshold_bps: int = CF_THRESHOLD_BPS,
    cf_rule_from: int = CF_RULE_FROM,
    cf_average: Literal["weighted", "simple"] = "weighted",
    include_retired: bool = False,
) -> dict[str, Any]:
    """Loan statistics per group and UTC period of `issued_at`, over anchored loans only.

    Per group and period (and in `totals`, per period over all groups): count, volume (sum of
    principal, fen), legacy count and volume, APR in bps (`weighted` by principal and `simple`
    mean, both rounded half up; min, max), the APR distribution over `apr_buckets_bps`
    (upper-inclusive edges), and for each cap in `caps_bps` the loans strictly above it (count,
    share of the count in bps, volume, share of the volume in bps).

    `consumer_finance_rule`: for consumer-finance funders, per UTC quarter from `cf_rule_from`,
    the average APR of new loans (anchored, not legacy) against `cf_threshold_bps`, per funder
    (the rule binds each company) and over all of them; `within_limit` compares the exact
    (unrounded) `cf_average` with the threshold.

    Retired records (revoked, or superseded by an amendment) are left out unless
    `include_retired`. `flt` narrows the loans further (a status other than anchored selects
    nothing). Every number in the result is an integer."""
    if group_by not in ("institution_type", "funder", "platform"):
        raise InputError("group_by must be institution_type, funder or platform")
    if period not in ("month", "quarter", "year"):
        raise InputError("period must be month, quarter or year")
    if cf_average not in ("weighted", "simple"):
        raise InputError("cf_average must be weighted or simple")
    caps = dict(DEFAULT_CAPS_BPS if caps_bps is None else caps_bps)
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in caps.values()):
        raise InputError("caps must be non-negative integers (bps)")
    edges = tuple(apr_buckets_bps)
    if any(not isinstance(e, int) or e < 0 for e in edges) or list(edges) != sorted(set(edges)):
        raise InputError("APR bucket edges must be increasing non-negative integers (bps)")
    cap_items = tuple(sorted(caps.items(), key=lambda kv: (kv[1], kv[0])))
    where = [SubmissionRow.status == "anchored", *_conditions(flt or LoanFilter())]
    if not include_retired:
        where.append(SubmissionRow.retired.is_(None))
    query = (
        select(
            SubmissionRow.institution_type,
            SubmissionRow.funder_id,
            SubmissionRow.platform_id,
            SubmissionRow.principal,
            SubmissionRow.apr_bps,
            SubmissionRow.issued_at,
            SubmissionRow.flags,
        )
        .where(*where)
        .execution_options(yield_per=5_000)
    )
    groups: dict[tuple[Any, str], _Agg] = {}
    totals: dict[str, _Agg] = {}
    cf_funders: dict[tuple[int, str], _CfAgg] = {}
    cf_all: dict[str, _CfAgg] = {}
    with db.session() as s:
        for kind, funder_id, platform_id, principal, apr, issued_at, flags in s.execute(query):
            principal, apr, issued_at = int(principal), int(apr), int(issued_at)
            legacy = bool(int(flags) & FLAG_LEGACY)
            label = _period_label(issued_at, period)
            key = (_group_key(group_by, str(kind), int(funder_id), int(platform_id)), label)
            if key not in groups:
                groups[key] = _Agg(edges, cap_items)
            groups[key].add(principal, apr, legacy)
            if label not in totals:
                totals[label] = _Agg(edges, cap_items)
            totals[label].add(principal, apr, legacy)
            if kind == "consumer_finance" and not legacy and issued_at >= cf_rule_from:
                quarter = _period_label(issued_at, "quarter")
                cf_funders.setdefault((int(funder_id), quarter), _CfAgg()).add(principal, apr)
                cf_all.setdefault(quarter, _CfAgg()).add(principal, apr)
    return {
        "basis": {
            "loans": "anchored loans held by this gateway",
            "statuses": ["anchored"],
            "retired": "included" if include_retired else "excluded",
            "legacy": "included (see legacy_count); excluded from consumer_finance_rule",
            "time": "issued_at, UTC calendar periods",
            "group_by": group_by,
            "period": period,
            "units": {"volume": "fen", "apr": "bps", "share": "bps (10000 = 100%)"},
            "apr_average": "weighted = sum(principal*apr)/sum(principal); simple = sum(apr)/count;"
            " both rounded half up to whole bps",
            "above_cap": "apr_bps strictly above the cap",
            "distribution": "buckets [min_bps, max_bps] inclusive; max_bps null = no upper bound",
            "caps_bps": caps,
        },
        "groups": [
            {"group": group, "period": label, **groups[(group, label)].as_dict()}
            for group, label in sorted(groups, key=lambda k: (str(type(k[0])), k[0], k[1]))
        ],
        "totals": [{"period": label, **totals[label].as_dict()} for label in sorted(totals)],
        "consumer_finance_rule": {
            "institution_type": "consumer_finance",
            "threshold_bps": cf_threshold_bps,
            "average": cf_average,
            "from": _period_label(cf_rule_from, "quarter"),
            "basis": "anchored, non-legacy loans of consumer-finance funders issued in the UTC"
            " quarter; within_limit compares the exact average with the threshold",
            "by_funder": [
                {
                    "funder_id": funder_id,
                    "quarter": quarter,
                    **cf_funders[(funder_id, quarter)].as_dict(cf_threshold_bps, cf_average),
                }
                for funder_id, quarter in sorted(cf_funders)
            ],
            "overall": [
                {"quarter": quarter, **cf_all[quarter].as_dict(cf_threshold_bps, cf_average)}
                for quarter in sorted(cf_all)
            ],
        },
    }


# ---------------------------------------------------------------------- violations


def _rule_of(code_hex: str) -> tuple[str | None, str]:
    """(custom error name, stable rule code) of a bytes4 error selector."""
    try:
        selector = bytes.fromhex(code_hex.removeprefix("0x"))
    except ValueError:
        return None, "UNKNOWN"
    entry = error_selectors().get(selector)
    if entry is None:
        return None, "UNKNOWN"
    name = entry[0]
    return name, RULE_CODES[name][0] if name in RULE_CODES else name


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, int | str):
        return value
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def violations(db: Database, *, legacy_limit: int = MAX_PAGE) -> dict[str, Any]:
    """What the regulator pursues:

    - `proven`: violations proven on chain (indexed `ViolationProven` events): record, batch
      root, gateway, the rule (custom error name and stable code, decoded from the bytes4
      selector, with the error's arguments), reporter, transaction, and whether this gateway
      holds the record;
    - `legacy_awaiting_clearance`: anchored legacy loans (R8) not yet retired: count, principal
      and the first `legacy_limit` of them by (issued_at, record_id);
    - `rejected_at_submission`: loans the gateway rejected, counted by code.

    `index.last_block` tells how far the event index reaches."""
    if legacy_limit < 0:
        raise InputError("legacy_limit must be 0 or more")
    with db.session() as s:
        events = list(
            s.execute(
                select(ChainEventRow)
                .where(ChainEventRow.name == "ViolationProven")
                .order_by(ChainEventRow.block_number, ChainEventRow.log_index)
            ).scalars()
        )
        proven: list[dict[str, Any]] = []
        for event in events:
            args = json.loads(event.args_json)
            name, rule = _rule_of(str(args["code"]))
            decoded = decode_custom_error(str(args.get("reason") or "0x"))
            proven.append(
                {
                    "record_id": str(args["recordId"]).lower(),
                    "root": str(args["root"]).lower(),
                    "gateway_id": int(args["gatewayId"]),
                    "code": str(args["code"]),
                    "error": name,
                    "rule": rule,
                    "description": RULE_CODES[name][1] if name in RULE_CODES else None,
                    "error_args": _plain(decoded.args) if decoded else None,
                    "reporter": args.get("reporter"),
                    "transaction_hash": event.tx_hash,
                    "block_number": event.block_number,
                    "block_time": event.block_time,
                }
            )
        known: set[str] = set()
        ids = [p["record_id"] for p in proven]
        for start in range(0, len(ids), 500):
            known.update(
                s.execute(
                    select(SubmissionRow.record_id).where(
                        SubmissionRow.record_id.in_(ids[start : start + 500])
                    )
                ).scalars()
            )
        for item in proven:
            item["known_to_gateway"] = item["record_id"] in known
        by_rule: dict[str, int] = {}
        for item in proven:
            by_rule[item["rule"]] = by_rule.get(item["rule"], 0) + 1

        legacy_where = (
            SubmissionRow.status == "anchored",
            _legacy_column(),
            SubmissionRow.retired.is_(None),
        )
        legacy_count, legacy_principal = s.execute(
            select(func.count(), func.coalesce(func.sum(SubmissionRow.principal), 0)).where(
                *legacy_where
            )
        ).one()
        legacy_rows = list(
            s.execute(
                select(SubmissionRow)
                .where(*legacy_where)
                .order_by(SubmissionRow.issued_at, SubmissionRow.record_id)
                .limit(legacy_limit)
            ).scalars()
        )
        rejected: dict[str | None, int] = {
            code: int(n)
            for code, n in s.execute(
                select(SubmissionRow.rejection_code, func.count())
                .where(SubmissionRow.status == "rejected")
                .group_by(SubmissionRow.rejection_code)
            )
        }
        cursor = s.get(MetaRow, CURSOR_KEY)
    by_code = {
        str(code or "UNKNOWN"): int(n)
        for code, n in sorted(rejected.items(), key=lambda kv: str(kv[0] or ""))
    }
    return {
        "proven": proven,
        "proven_count": len(proven),
        "proven_by_rule": dict(sorted(by_rule.items())),
        "legacy_awaiting_clearance": {
            "basis": "anchored, legacy flag set, not revoked or superseded",
            "count": int(legacy_count),
            "principal": int(legacy_principal),
            "records": [submission_summary(r) for r in legacy_rows],
            "truncated": int(legacy_count) > len(legacy_rows),
        },
        "rejected_at_submission": {
            "total": sum(by_code.values()),
            "by_code": by_code,
        },
        "index": {"last_block": int(cursor.value) if cursor and cursor.value else None},
    }
