"""Loan statistics (`stats`): counts, volumes, APRs and caps per group and period, and R3.

R3 is the consumer-finance rule: the average cost of new loans per quarter against a threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from sqlalchemy import select

from ledger.analytics.tables import LoanIndexRow
from ledger.errors import InputError
from ledger.queries.filters import LoanFilter, _conditions
from ledger.records import FLAG_LEGACY
from ledger.store import Database, SubmissionRow

#: Caps whose exceedance `stats` reports by default (domain.md R3): the 24% per-loan cap and
#: 4 x the 1-year LPR of 3.00% (the small-loan target and the private-lending ceiling). Policy,
#: not law: pass the regulator's current values.
DEFAULT_CAPS_BPS: Mapping[str, int] = {"cap_24pct": 2_400, "lpr_x4": 1_200}
#: Upper edges of the APR buckets (bps): <=1200, 1201-1800, 1801-2400, 2401-3600, >3600.
DEFAULT_APR_BUCKETS_BPS: tuple[int, ...] = (1_200, 1_800, 2_400, 3_600)
#: Periods are calendar periods in Beijing time (UTC+8, no daylight saving): the market's.
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
#: Consumer-finance companies: average cost of new loans <= 20% per quarter (window guidance,
#: unconfirmed as text), from 2026-Q1. Defaults of `ConsumerFinancePolicy`.
CF_THRESHOLD_BPS = 2_000
CF_RULE_FROM = int(datetime(2026, 1, 1, tzinfo=BEIJING).timestamp())


@dataclass(frozen=True)
class ConsumerFinancePolicy:
    """The consumer-finance portfolio rule (R3): the average computed cost of each company's new
    loans per Beijing-time quarter, from `rule_from`, at most `threshold_bps`."""

    threshold_bps: int = CF_THRESHOLD_BPS
    rule_from: int = CF_RULE_FROM
    average: Literal["weighted", "simple"] = "weighted"

    def __post_init__(self) -> None:
        if self.threshold_bps < 0 or self.average not in ("weighted", "simple"):
            raise InputError("consumer-finance policy: threshold >= 0, average weighted or simple")


GroupBy = Literal["institution_type", "funder", "platform"]
Period = Literal["month", "quarter", "year"]


def _half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (both non-negative, denominator > 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


def _period_label(ts: int, period: str) -> str:
    try:
        when = datetime.fromtimestamp(ts, BEIJING)
    except (OverflowError, OSError, ValueError):
        return "out-of-range"
    if period == "month":
        return f"{when.year:04d}-{when.month:02d}"
    if period == "quarter":
        return f"{when.year:04d}-Q{(when.month - 1) // 3 + 1}"
    return f"{when.year:04d}"


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


def scan(
    db: Database,
    *,
    group_by: str,
    period: str,
    flt: LoanFilter,
    edges: tuple[int, ...],
    caps: tuple[tuple[str, int], ...],
    cf_rule_from: int,
    include_retired: bool,
    table: Any = LoanIndexRow,
) -> tuple[
    dict[tuple[Any, str], _Agg], dict[str, _Agg], dict[tuple[int, str], _CfAgg], dict[str, _CfAgg]
]:
    """The sums of `stats` by reading every matching loan of `table`: the regulator's index
    (what `stats` falls back to when the rollups do not fit the question), or the submissions
    (`SubmissionRow`, the reference the rollups are tested against)."""
    where = [*_conditions(flt, table)]
    if table is SubmissionRow:
        where.append(SubmissionRow.status == "anchored")
    if not include_retired:
        where.append(table.retired.is_(None))
    legacy = table.legacy if table is LoanIndexRow else table.flags.bitwise_and(FLAG_LEGACY)
    query = (
        select(
            table.institution_type,
            table.funder_id,
            table.platform_id,
            table.principal,
            table.apr_bps,
            table.issued_at,
            legacy,
        )
        .where(*where)
        .execution_options(yield_per=5_000)
    )
    groups: dict[tuple[Any, str], _Agg] = {}
    totals: dict[str, _Agg] = {}
    cf_funders: dict[tuple[int, str], _CfAgg] = {}
    cf_all: dict[str, _CfAgg] = {}
    with db.session() as s:
        for kind, funder_id, platform_id, principal, apr, issued_at, flag in s.execute(query):
            principal, apr, issued_at = int(principal), int(apr), int(issued_at)
            is_legacy = bool(flag)
            label = _period_label(issued_at, period)
            key = (_group_key(group_by, str(kind), int(funder_id), int(platform_id)), label)
            if key not in groups:
                groups[key] = _Agg(edges, caps)
            groups[key].add(principal, apr, is_legacy)
            if label not in totals:
                totals[label] = _Agg(edges, caps)
            totals[label].add(principal, apr, is_legacy)
            if kind == "consumer_finance" and not is_legacy and issued_at >= cf_rule_from:
                quarter = _period_label(issued_at, "quarter")
                cf_funders.setdefault((int(funder_id), quarter), _CfAgg()).add(principal, apr)
                cf_all.setdefault(quarter, _CfAgg()).add(principal, apr)
    return groups, totals, cf_funders, cf_all


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
    source: Literal["auto", "index", "submissions"] = "auto",
) -> dict[str, Any]:
    """Loan statistics per group and Beijing-time period of `issued_at`, over anchored loans only.

    Per group and period (and in `totals`, per period over all groups): count, volume (sum of
    principal, fen), legacy count and volume, APR in bps (`weighted` by principal and `simple`
    mean, both rounded half up; min, max), the APR distribution over `apr_buckets_bps`
    (upper-inclusive edges), and for each cap in `caps_bps` the loans strictly above it (count,
    share of the count in bps, volume, share of the volume in bps).

    `consumer_finance_rule`: for consumer-finance funders, per quarter from `cf_rule_from`,
    the average APR of new loans (anchored, not legacy) against `cf_threshold_bps`, per funder
    (the rule binds each company) and over all of them; `within_limit` compares the exact
    (unrounded) `cf_average` with the threshold.

    Retired records (revoked, or superseded by an amendment) are left out unless
    `include_retired`. `flt` narrows the loans further (a status other than anchored selects
    nothing). Every number in the result is an integer.

    `source`: `auto` answers from the rollups (`ledger.analytics`) when they fit the question
    (`ledger.queries.rollups`) and otherwise counts the regulator's index rows; `index` always
    counts the index rows; `submissions` counts the submissions themselves (the reference the
    rollups are checked against). All three give the same result."""
    if source not in ("auto", "index", "submissions"):
        raise InputError("source must be auto, index or submissions")
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
    from ledger.queries.rollups import from_rollups  # the rollups' module imports this one

    question: dict[str, Any] = {
        "group_by": group_by,
        "period": period,
        "flt": flt or LoanFilter(),
        "edges": edges,
        "caps": cap_items,
        "cf_rule_from": cf_rule_from,
        "include_retired": include_retired,
    }
    tally = from_rollups(db, **question) if source == "auto" else None
    if tally is None:
        table = SubmissionRow if source == "submissions" else LoanIndexRow
        tally = scan(db, **question, table=table)
    groups, totals, cf_funders, cf_all = tally
    return {
        "basis": {
            "loans": "anchored loans held by this gateway",
            "statuses": ["anchored"],
            "retired": "included" if include_retired else "excluded",
            "legacy": "included (see legacy_count); excluded from consumer_finance_rule",
            "time": "issued_at, calendar periods in Beijing time (UTC+8)",
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
            "basis": "anchored, non-legacy loans of consumer-finance funders issued in the"
            " quarter (Beijing time), at the rate computed from each loan's disclosure;"
            " within_limit compares the exact average with the threshold",
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


def consumer_finance_breaches(db: Database, policy: ConsumerFinancePolicy) -> list[dict[str, Any]]:
    """The (funder, quarter) pairs whose consumer-finance average breaks `policy`."""
    rule = stats(
        db,
        flt=LoanFilter(institution_type="consumer_finance"),
        caps_bps={},
        cf_threshold_bps=policy.threshold_bps,
        cf_rule_from=policy.rule_from,
        cf_average=policy.average,
    )["consumer_finance_rule"]
    return [
        {
            "funder_id": item["funder_id"],
            "quarter": item["quarter"],
            "count": item["count"],
            "volume": item["volume"],
            f"{policy.average}_apr_bps": item[f"{policy.average}_apr_bps"],
            "threshold_bps": policy.threshold_bps,
        }
        for item in rule["by_funder"]
        if not item["within_limit"]
    ]
