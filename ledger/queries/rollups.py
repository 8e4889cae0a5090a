"""`stats` from the rollup tables (`ledger.analytics`): about one row read per group and period
of the answer (two with retired loans), not every loan.

Answered here when the question fits the rollups' keys: caps and bucket edges on a multiple of
100 bps up to 3600 (the rollups' APR bands), a filter only on the grouping dimension itself
(`funder_id` by funder, `institution_type` by type or by funder) or on `status` / `rule`, and a
consumer-finance rule starting at a Beijing-time quarter. Anything else returns None and `stats`
counts the index rows instead; both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from sqlalchemy import ColumnElement, literal, select

from ledger.analytics.maintain import ROLLUPS, period_bounds, period_label
from ledger.analytics.tables import BAND_COUNT, BAND_WIDTH_BPS
from ledger.queries.filters import LoanFilter
from ledger.queries.statistics import _Agg, _CfAgg
from ledger.store import Database

__all__ = ["Tally", "from_rollups"]

_BAND_MAX = BAND_WIDTH_BPS * (BAND_COUNT - 1)
#: (groups, totals, consumer-finance by (funder, quarter), consumer-finance by quarter)
Tally = tuple[
    dict[tuple[Any, str], _Agg], dict[str, _Agg], dict[tuple[int, str], _CfAgg], dict[str, _CfAgg]
]


def _tracked(bps: int) -> bool:
    return bps % BAND_WIDTH_BPS == 0 and BAND_WIDTH_BPS <= bps <= _BAND_MAX


def _bands(low: int, high: int, prefix: str) -> Any:
    """SQL sum of the band columns [low, high) of `prefix` (n: counts, v: volumes)."""
    total: Any = literal(0)
    for i in range(low, high):
        total = total + ROLLUPS.c[f"{prefix}{i:02d}"]
    return total


def _answerable(
    group_by: str, flt: LoanFilter, edges: Sequence[int], caps: Sequence[tuple[str, int]]
) -> bool:
    if not all(_tracked(e) for e in edges) or not all(_tracked(c) for _, c in caps):
        return False
    allowed = {"status", "rule"}
    if group_by == "funder":
        allowed |= {"funder_id", "institution_type"}
    elif group_by == "institution_type":
        allowed.add("institution_type")
    given = {name for name, value in flt.model_dump().items() if value is not None}
    return given <= allowed


def _where(
    kind: str, dimension: str, flt: LoanFilter, include_retired: bool
) -> list[ColumnElement[bool]]:
    c = ROLLUPS.c
    out = [c.period_kind == kind, c.dimension == dimension, c["count"] > 0]
    if not include_retired:
        out.append(c.retired.is_(False))
    if flt.funder_id is not None and dimension == "funder":
        out.append(c.party_id == flt.funder_id)
    if flt.institution_type is not None and dimension != "platform":
        out.append(c.institution_type == flt.institution_type)
    return out


def from_rollups(
    db: Database,
    *,
    group_by: str,
    period: str,
    flt: LoanFilter,
    edges: tuple[int, ...],
    caps: tuple[tuple[str, int], ...],
    cf_rule_from: int,
    include_retired: bool,
) -> Tally | None:
    """The running sums `stats` formats, from the rollups; None if the question does not fit
    them (see the module docstring)."""
    if not _answerable(group_by, flt, edges, caps):
        return None
    cf_from = period_label(cf_rule_from, "quarter")
    cf_bounds = period_bounds("quarter", cf_from)
    if cf_bounds is None or cf_bounds[0] != cf_rule_from:
        return None
    groups: dict[tuple[Any, str], _Agg] = {}
    totals: dict[str, _Agg] = {}
    cf_funders: dict[tuple[int, str], _CfAgg] = {}
    cf_all: dict[str, _CfAgg] = {}
    if (flt.status not in (None, "anchored")) or flt.rule is not None:
        return groups, totals, cf_funders, cf_all  # only anchored loans are counted
    c = ROLLUPS.c
    marks = [0]
    for e in edges:
        marks.append(e // BAND_WIDTH_BPS)
    marks.append(BAND_COUNT)
    buckets = [
        expr
        for low, high in pairwise(marks)
        for expr in (_bands(low, high, "n"), _bands(low, high, "v"))
    ]
    above = [
        expr
        for _, cap in caps
        for expr in (
            _bands(cap // BAND_WIDTH_BPS, BAND_COUNT, "n"),
            _bands(cap // BAND_WIDTH_BPS, BAND_COUNT, "v"),
        )
    ]
    dimension = group_by
    query = select(
        c.party_id,
        c.institution_type,
        c.period,
        c["count"],
        c.volume,
        c.apr_sum,
        c.weighted_sum,
        c.legacy_count,
        c.legacy_volume,
        c.apr_min,
        c.apr_max,
        *buckets,
        *above,
    ).where(*_where(period, dimension, flt, include_retired))
    cf_query = select(
        c.party_id,
        c.period,
        c["count"] - c.legacy_count,
        c.volume - c.legacy_volume,
        c.apr_sum - c.legacy_apr_sum,
        c.weighted_sum - c.legacy_weighted_sum,
    ).where(
        *_where("quarter", "funder", flt, include_retired),
        c.institution_type == "consumer_finance",
        (c.period >= cf_from) | (c.period == "out-of-range"),
    )
    nb = len(edges) + 1
    with db.engine.connect() as connection:
        rows = connection.execute(query).all()
        cf_rows = (
            connection.execute(cf_query).all()
            if flt.institution_type in (None, "consumer_finance")
            else []
        )
    for row in rows:
        if group_by == "institution_type":
            group: Any = str(row[1])
        else:
            group = int(row[0])
        label = str(row[2])
        for agg in (
            groups.get((group, label)) or groups.setdefault((group, label), _Agg(edges, caps)),
            totals.get(label) or totals.setdefault(label, _Agg(edges, caps)),
        ):
            _merge(agg, row, nb, caps)
    for funder_id, label, count, volume, apr_sum, weighted_sum in cf_rows:
        if not count:
            continue
        for cf in (
            cf_funders.setdefault((int(funder_id), str(label)), _CfAgg()),
            cf_all.setdefault(str(label), _CfAgg()),
        ):
            cf.count += int(count)
            cf.volume += int(volume)
            cf.apr_sum += int(apr_sum)
            cf.weighted_sum += int(weighted_sum)
    return groups, totals, cf_funders, cf_all


def _merge(agg: _Agg, row: Any, nb: int, caps: tuple[tuple[str, int], ...]) -> None:
    agg.count += int(row[3])
    agg.volume += int(row[4])
    agg.apr_sum += int(row[5])
    agg.weighted_sum += int(row[6])
    agg.legacy_count += int(row[7])
    agg.legacy_volume += int(row[8])
    low, high = row[9], row[10]
    if low is not None:
        agg.apr_min = int(low) if agg.apr_min is None else min(agg.apr_min, int(low))
    if high is not None:
        agg.apr_max = int(high) if agg.apr_max is None else max(agg.apr_max, int(high))
    for j in range(nb):
        agg.bucket_count[j] += int(row[11 + 2 * j])
        agg.bucket_volume[j] += int(row[12 + 2 * j])
    base = 11 + 2 * nb
    for k, (name, _) in enumerate(caps):
        agg.above_count[name] += int(row[base + 2 * k])
        agg.above_volume[name] += int(row[base + 2 * k + 1])
