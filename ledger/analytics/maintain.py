"""Keeping the regulator's index and rollups in step with the loans, in the loans' transaction.

- `index_anchored(session, record_ids)`: the sequencer's hook, called in the transaction that
  marks the records anchored; reads their narrow columns and calls `add_loans`.
- `add_loans(session, loans)`: inserts index rows (`ON CONFLICT DO NOTHING`: a record anchored
  twice, by a recovery or a second gateway, counts once) and adds the inserted ones to the
  rollups with one upsert per key (`count = count + excluded.count`), keys in sorted order so
  that concurrent gateways on PostgreSQL take row locks in one order.
- `retire_loans(session, record_ids, state)`: the retirement hook (the retirement stage and the
  event indexer); moves each newly retired loan from the live to the retired rollups.
- `rebuild(db)`: both tables again from the submissions (an index created before them, or a
  check); `recompute(session)`: the rollups from the index rows alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, case, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ledger.analytics.tables import BAND_COUNT, LoanIndexRow, RollupRow, band_of
from ledger.records import FLAG_LEGACY
from ledger.store import SUMMARY_COLUMNS, Database, SubmissionRow

__all__ = [
    "DIMENSIONS",
    "PERIOD_KINDS",
    "IndexedLoan",
    "add_loans",
    "index_anchored",
    "period_bounds",
    "period_label",
    "rebuild",
    "recompute",
    "retire_loans",
]

ROLLUPS: Table = RollupRow.__table__
PERIOD_KINDS = ("month", "quarter", "year")
DIMENSIONS = ("institution_type", "funder", "platform")
_KEY = ("period_kind", "dimension", "party_id", "institution_type", "period", "retired")
_SUMS = (
    "count",
    "volume",
    "apr_sum",
    "weighted_sum",
    "legacy_count",
    "legacy_volume",
    "legacy_apr_sum",
    "legacy_weighted_sum",
    *(f"n{i:02d}" for i in range(BAND_COUNT)),
    *(f"v{i:02d}" for i in range(BAND_COUNT)),
)
_COLUMNS = (*_KEY, *_SUMS, "apr_min", "apr_max")
_BEIJING_OFFSET = 8 * 3600
_DAY = 86_400


@dataclass(frozen=True, slots=True)
class IndexedLoan:
    """The narrow facts of one anchored loan (a `LoanIndexRow`)."""

    record_id: str
    platform_id: int
    funder_id: int
    guarantor_id: int
    co_funder_id: int
    institution_type: str
    principal: int
    apr_bps: int
    issued_at: int
    legacy: bool
    anchoring: str = "batch"
    batch_root: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    block_time: int | None = None
    retired: str | None = None


# ---------------------------------------------------------------------- periods


@lru_cache(maxsize=65_536)
def _labels_of_day(day: int) -> tuple[str, str, str]:
    from ledger.queries.statistics import BEIJING

    when = datetime.fromtimestamp(day * _DAY - _BEIJING_OFFSET, BEIJING)
    return (
        f"{when.year:04d}-{when.month:02d}",
        f"{when.year:04d}-Q{(when.month - 1) // 3 + 1}",
        f"{when.year:04d}",
    )


def period_labels(ts: int) -> tuple[str, str, str]:
    """(month, quarter, year) labels of `ts` in Beijing time, as `stats` names periods."""
    from ledger.queries.statistics import _period_label

    try:
        day = (ts + _BEIJING_OFFSET) // _DAY
        if not 0 <= day < 2_900_000:  # years 1970..9909: the cached path
            raise ValueError(ts)
        return _labels_of_day(day)
    except (OverflowError, OSError, ValueError):
        return (
            _period_label(ts, "month"),
            _period_label(ts, "quarter"),
            _period_label(ts, "year"),
        )


def period_label(ts: int, kind: str) -> str:
    return period_labels(ts)[PERIOD_KINDS.index(kind)]


def period_bounds(kind: str, label: str) -> tuple[int, int] | None:
    """[start, end) unix seconds of a Beijing-time period label; None for `out-of-range`."""
    from ledger.queries.statistics import BEIJING

    try:
        if kind == "month":
            year, month = int(label[:4]), int(label[5:7])
            start, end = (year, month), (year + month // 12, month % 12 + 1)
        elif kind == "quarter":
            year, quarter = int(label[:4]), int(label[6:])
            first = 3 * (quarter - 1) + 1
            start, end = (year, first), (year + (first + 3 > 12), (first + 2) % 12 + 1)
        else:
            start, end = (int(label), 1), (int(label) + 1, 1)
        begin = datetime(start[0], start[1], 1, tzinfo=BEIJING)
        if end[0] > 9999:
            return int(begin.timestamp()), _OUT_OF_RANGE_FROM
        return int(begin.timestamp()), int(datetime(end[0], end[1], 1, tzinfo=BEIJING).timestamp())
    except ValueError:
        return None


#: the first second whose Beijing date `datetime` cannot represent (year 10000): `out-of-range`
_OUT_OF_RANGE_FROM = 253_402_300_800 - _BEIJING_OFFSET


# ---------------------------------------------------------------------- deltas


def _empty() -> list[int]:
    return [0] * len(_SUMS)


def _keys(loan: IndexedLoan, retired: bool) -> Iterator[tuple[Any, ...]]:
    for kind, label in zip(PERIOD_KINDS, period_labels(loan.issued_at), strict=True):
        yield (kind, "institution_type", 0, loan.institution_type, label, retired)
        yield (kind, "funder", loan.funder_id, loan.institution_type, label, retired)
        yield (kind, "platform", loan.platform_id, "", label, retired)


_N0 = _SUMS.index("n00")
_V0 = _SUMS.index("v00")


def _accumulate(
    deltas: dict[tuple[Any, ...], list[Any]], loans: Iterable[IndexedLoan], retired: bool
) -> None:
    """Adds each loan's sums to its 9 keys; per key also [apr_min, apr_max] at the end."""
    n0, v0 = _N0, _V0
    for loan in loans:
        p, apr, legacy = loan.principal, loan.apr_bps, loan.legacy
        n_band = n0 + band_of(apr)
        v_band = v0 + n_band - n0
        for key in _keys(loan, retired):
            sums = deltas.get(key)
            if sums is None:
                sums = deltas[key] = [*_empty(), apr, apr]
            sums[0] += 1
            sums[1] += p
            sums[2] += apr
            sums[3] += p * apr
            if legacy:
                sums[4] += 1
                sums[5] += p
                sums[6] += apr
                sums[7] += p * apr
            sums[n_band] += 1
            sums[v_band] += p
            if apr < sums[-2]:
                sums[-2] = apr
            elif apr > sums[-1]:
                sums[-1] = apr


def _upsert(session: Session, deltas: dict[tuple[Any, ...], list[Any]]) -> None:
    """Adds `deltas` to the rollups atomically: one INSERT .. ON CONFLICT DO UPDATE SET
    col = col + excluded.col per key, all keys in one sorted statement (concurrent writers lock
    rollup rows in one order: no deadlock). apr_min/apr_max widen to a delta's, or stay when the
    delta has none (a subtraction: `_refresh_extremes` then looks)."""
    if not deltas:
        return
    rows = []
    for key in sorted(deltas):
        sums = deltas[key]
        row = dict(zip(_KEY, key, strict=True))
        row.update(zip(_SUMS, sums[: len(_SUMS)], strict=True))
        row["apr_min"], row["apr_max"] = sums[-2], sums[-1]
        rows.append(row)
    connection = session.connection()
    statement, sql, names = _upsert_statement(connection.dialect)
    if connection.dialect.name == "postgresql":
        # SQLAlchemy's "insertmanyvalues": a few multi-row INSERTs instead of ~1,000 round trips
        connection.execute(statement, rows)
        return
    # SQLite: one executemany of the compiled statement; the driver binds the parameters, not
    # SQLAlchemy (whose per-parameter processing cost more than the database's work).
    params = [tuple(row[n] for n in names) for row in rows] if names else rows
    connection.exec_driver_sql(sql, params)


@lru_cache(maxsize=8)
def _upsert_statement(dialect: Any) -> tuple[Any, str, tuple[str, ...] | None]:
    """INSERT .. ON CONFLICT DO UPDATE SET col = col + excluded.col for `dialect`, built once:
    the statement, its SQL and, for a positional driver, the order of its parameters."""
    module: Any = postgresql if dialect.name == "postgresql" else sqlite
    least, greatest = (
        (func.least, func.greatest) if dialect.name == "postgresql" else (func.min, func.max)
    )
    statement = module.insert(ROLLUPS)
    excluded = statement.excluded
    values: dict[str, Any] = {name: ROLLUPS.c[name] + excluded[name] for name in _SUMS}
    values["apr_min"] = case(
        (excluded.apr_min.is_(None), ROLLUPS.c.apr_min),
        (ROLLUPS.c.apr_min.is_(None), excluded.apr_min),
        else_=least(ROLLUPS.c.apr_min, excluded.apr_min),
    )
    values["apr_max"] = case(
        (excluded.apr_max.is_(None), ROLLUPS.c.apr_max),
        (ROLLUPS.c.apr_max.is_(None), excluded.apr_max),
        else_=greatest(ROLLUPS.c.apr_max, excluded.apr_max),
    )
    upsert = statement.on_conflict_do_update(index_elements=list(_KEY), set_=values)
    compiled = upsert.compile(dialect=dialect)
    names = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
    return upsert, str(compiled), names


# ---------------------------------------------------------------------- hooks

#: the submission columns an index row is made of (`flags` for the legacy bit)
_INDEX_COLUMNS = tuple(
    c for c in SUMMARY_COLUMNS if c.key in {*IndexedLoan.__slots__, "flags"} - {"legacy"}
)


def _from_submission(row: Any) -> IndexedLoan:
    return IndexedLoan(
        record_id=row.record_id,
        platform_id=int(row.platform_id),
        funder_id=int(row.funder_id),
        guarantor_id=int(row.guarantor_id or 0),
        co_funder_id=int(row.co_funder_id or 0),
        institution_type=str(row.institution_type),
        principal=int(row.principal),
        apr_bps=int(row.apr_bps),
        issued_at=int(row.issued_at),
        legacy=bool(int(row.flags) & FLAG_LEGACY),
        anchoring=str(row.anchoring),
        batch_root=row.batch_root,
        tx_hash=row.tx_hash,
        block_number=row.block_number,
        block_time=row.block_time,
        retired=row.retired,
    )


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def index_anchored(session: Session, record_ids: Sequence[str]) -> int:
    """The anchoring hook: indexes the submissions `record_ids` (already marked anchored in this
    transaction) and adds them to the rollups; a record indexed before only has its chain
    position refreshed (a batch finished again, or re-anchored after a reorganization).
    Returns how many were new."""
    loans: list[IndexedLoan] = []
    for chunk in _chunks(list(record_ids)):
        rows = session.execute(
            select(*_INDEX_COLUMNS).where(
                SubmissionRow.record_id.in_(chunk), SubmissionRow.status == "anchored"
            )
        ).all()
        loans.extend(_from_submission(r) for r in rows)
    return add_loans(session, loans)


#: PostgreSQL advisory lock (transaction-scoped) serializing the analytics writes of concurrent
#: gateways: rollup rows are shared by every batch, and a lock per transaction is simpler and
#: cheaper than ordering every row lock across index inserts, retirements and upserts.
ANALYTICS_LOCK = 0x6C6F616E5F6978  # "loan_ix"


def _serialize(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(ANALYTICS_LOCK)))


def add_loans(session: Session, loans: Sequence[IndexedLoan]) -> int:
    """Indexes anchored loans and adds the new ones to the rollups, in `session`'s transaction.
    Idempotent and safe under concurrent gateways: only the rows this statement inserted are
    counted. Returns how many were new."""
    if not loans:
        return 0
    _serialize(session)
    by_id = {loan.record_id: loan for loan in loans}
    known: set[str] = set()
    for chunk in _chunks(list(by_id)):
        known.update(
            session.execute(
                select(LoanIndexRow.record_id).where(LoanIndexRow.record_id.in_(chunk))
            ).scalars()
        )
    for record_id in sorted(known):
        loan = by_id[record_id]
        session.execute(
            update(LoanIndexRow)
            .where(LoanIndexRow.record_id == record_id)
            .values(
                batch_root=loan.batch_root,
                tx_hash=loan.tx_hash,
                block_number=loan.block_number,
                block_time=loan.block_time,
            )
        )
    fresh = [by_id[rid] for rid in sorted(by_id) if rid not in known]
    if not fresh:
        return 0
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        module.insert(LoanIndexRow.__table__)  # Core, not the ORM's bulk insert: 10x cheaper
        .on_conflict_do_nothing(index_elements=["record_id"])
        .returning(LoanIndexRow.__table__.c.record_id)
    )
    fields = IndexedLoan.__slots__
    inserted = set(
        session.connection()
        .execute(statement, [{f: getattr(loan, f) for f in fields} for loan in fresh])
        .scalars()
    )
    new = [loan for loan in fresh if loan.record_id in inserted]
    deltas: dict[tuple[Any, ...], list[Any]] = {}
    _accumulate(deltas, (x for x in new if x.retired is None), retired=False)
    _accumulate(deltas, (x for x in new if x.retired is not None), retired=True)
    _upsert(session, deltas)
    return len(new)


def retire_loans(session: Session, record_ids: Sequence[str], state: str) -> int:
    """The retirement hook: sets `retired = state` on the index rows of `record_ids` and moves
    those not retired before from the live rollups to the retired ones (the conditional UPDATE
    decides, so a retirement seen by two gateways moves once). Returns how many moved."""
    moved: list[IndexedLoan] = []
    if record_ids:
        _serialize(session)
    for chunk in _chunks(sorted({rid.lower() for rid in record_ids})):
        result = session.execute(
            update(LoanIndexRow)
            .where(LoanIndexRow.record_id.in_(chunk), LoanIndexRow.retired.is_(None))
            .values(retired=state)
            .returning(*LoanIndexRow.__table__.c)
        ).all()
        moved.extend(
            IndexedLoan(**{f: getattr(r, f) for f in IndexedLoan.__slots__}) for r in result
        )
        session.execute(
            update(LoanIndexRow)
            .where(LoanIndexRow.record_id.in_(chunk), LoanIndexRow.retired.is_not(None))
            .values(retired=state)
        )
    if not moved:
        return 0
    deltas: dict[tuple[Any, ...], list[Any]] = {}
    _accumulate(deltas, moved, retired=False)
    extremes = {key: (sums[-2], sums[-1]) for key, sums in deltas.items()}
    for sums in deltas.values():  # out of the live rollups; their extremes are looked at after
        sums[: len(_SUMS)] = [-v for v in sums[: len(_SUMS)]]
        sums[-2:] = [None, None]
    _accumulate(deltas, moved, retired=True)  # into the retired ones
    _upsert(session, deltas)
    _refresh_extremes(session, extremes)
    return len(moved)


def _refresh_extremes(session: Session, removed: dict[tuple[Any, ...], tuple[int, int]]) -> None:
    """After loans left a live rollup: its apr_min/apr_max again from the index rows, where a
    removed loan's APR was the extreme (or the rollup emptied)."""
    keys = sorted(removed)
    current: dict[tuple[Any, ...], Any] = {}
    columns = [ROLLUPS.c[name] for name in _KEY]
    for start in range(0, len(keys), 300):  # one read for the keys, not one each
        for row in session.execute(
            select(*columns, ROLLUPS.c["count"], ROLLUPS.c.apr_min, ROLLUPS.c.apr_max).where(
                tuple_(*columns).in_(keys[start : start + 300])
            )
        ):
            current[tuple(row[: len(_KEY)])] = row[len(_KEY) :]
    for key in keys:
        found = current.get(key)
        if found is None:
            continue
        count, apr_min, apr_max = found
        low, high = removed[key]
        if int(count) > 0 and apr_min < low and apr_max > high:
            continue
        lo, hi = None, None
        if int(count) > 0:
            lo, hi = session.execute(
                select(func.min(LoanIndexRow.apr_bps), func.max(LoanIndexRow.apr_bps)).where(
                    *_members(key)
                )
            ).one()
        where = [ROLLUPS.c[name] == value for name, value in zip(_KEY, key, strict=True)]
        session.execute(update(ROLLUPS).where(*where).values(apr_min=lo, apr_max=hi))


def _members(key: tuple[Any, ...]) -> list[Any]:
    """The index rows a rollup key sums, as SQL conditions (for the extremes)."""
    kind, dimension, party_id, institution_type, label, retired = key
    t = LoanIndexRow
    out: list[Any] = [t.retired.is_not(None) if retired else t.retired.is_(None)]
    bounds = period_bounds(kind, label)
    if bounds is None:  # out of range: beyond what datetime represents
        out.append(t.issued_at >= _OUT_OF_RANGE_FROM)
    else:
        out += [t.issued_at >= bounds[0], t.issued_at < bounds[1]]
    if dimension == "funder":
        out.append(t.funder_id == party_id)
    elif dimension == "platform":
        out.append(t.platform_id == party_id)
    if dimension != "platform":
        out.append(t.institution_type == institution_type)
    return out


# ---------------------------------------------------------------------- from scratch


def recompute(session: Session) -> None:
    """The rollups again from the index rows alone (in `session`'s transaction)."""
    session.execute(delete(ROLLUPS))
    deltas: dict[tuple[Any, ...], list[Any]] = {}
    rows = session.execute(select(*LoanIndexRow.__table__.c).execution_options(yield_per=10_000))
    for r in rows:
        loan = IndexedLoan(**{f: getattr(r, f) for f in IndexedLoan.__slots__})
        _accumulate(deltas, (loan,), retired=loan.retired is not None)
    _upsert(session, deltas)


def rebuild(db: Database) -> int:
    """Both tables again from the anchored submissions; returns how many loans are indexed."""
    with db.session() as s:
        s.execute(delete(LoanIndexRow))
        s.execute(delete(ROLLUPS))
        ids = list(
            s.execute(
                select(SubmissionRow.record_id).where(SubmissionRow.status == "anchored")
            ).scalars()
        )
        total = 0
        for chunk in _chunks(ids, 1_000):
            total += index_anchored(s, chunk)
    return total
