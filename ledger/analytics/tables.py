"""The regulator's tables: a narrow index of anchored loans and the rollups kept from it.

Apart from the evidence (`SubmissionRow` carries the record, signatures, disclosure and proof,
~4.5 KB a row): `LoanIndexRow` is ~150 bytes of the facts the regulator filters and lists by,
and `RollupRow` holds the integer sums `ledger.queries.stats` answers from. Both are derived:
`ledger.analytics.rebuild` makes them again from the submissions.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, Numeric, String, Table, text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store import Base

__all__ = [
    "BAND_COUNT",
    "BAND_WIDTH_BPS",
    "LoanIndexRow",
    "RollupRow",
    "band_columns",
    "band_of",
]

#: APR bands of the rollups: band 0 is [0, 100] bps, band k (1..35) is (100k, 100(k+1)], band 36
#: is above 3600. Caps and bucket edges on a multiple of 100 bps up to 3600 are answered from
#: the rollups; others are counted from the index rows.
BAND_WIDTH_BPS = 100
BAND_COUNT = 37

#: Sums that can exceed 2**63 (principal x APR over millions of loans): exact NUMERIC on
#: PostgreSQL; SQLite keeps 64-bit integers (exact while a sum stays below 9.2e18).
_Sum = BigInteger().with_variant(Numeric(40, 0), "postgresql")


def band_of(apr_bps: int) -> int:
    """The rollup band of an APR."""
    return min(BAND_COUNT - 1, max(0, (apr_bps - 1) // BAND_WIDTH_BPS))


def band_columns() -> list[str]:
    """Names of the band columns: `n00..n36` (counts), then `v00..v36` (principal sums)."""
    return [f"n{i:02d}" for i in range(BAND_COUNT)] + [f"v{i:02d}" for i in range(BAND_COUNT)]


class LoanIndexRow(Base):
    """One anchored loan the gateway holds, as the regulator filters, lists and exports it.

    Written in the transaction that marks the loan anchored (`ledger.analytics.index_anchored`),
    `retired` set in the one that retires it. Keyset order is (issued_at, record_id); every index
    below ends with that pair, so a filtered page is one index range."""

    __tablename__ = "loan_index"
    record_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    platform_id: Mapped[int] = mapped_column(BigInteger)
    funder_id: Mapped[int] = mapped_column(BigInteger)
    guarantor_id: Mapped[int] = mapped_column(BigInteger)
    co_funder_id: Mapped[int] = mapped_column(BigInteger)
    institution_type: Mapped[str] = mapped_column(String(32))
    principal: Mapped[int] = mapped_column(BigInteger)
    apr_bps: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    legacy: Mapped[bool] = mapped_column(Boolean)
    anchoring: Mapped[str] = mapped_column(String(16))
    batch_root: Mapped[str | None] = mapped_column(String(66), nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    retired: Mapped[str | None] = mapped_column(String(16), nullable=True)

    __table_args__ = (
        Index("ix_loan_index_issued", "issued_at", "record_id"),
        Index("ix_loan_index_platform", "platform_id", "issued_at", "record_id"),
        Index("ix_loan_index_funder", "funder_id", "issued_at", "record_id"),
        Index("ix_loan_index_type", "institution_type", "issued_at", "record_id"),
        # Partial: most loans have no co-funder or guarantor, and few are legacy (queries say
        # `co_funder_id != 0` / `guarantor_id != 0` / `legacy` so the planner may use them).
        Index(
            "ix_loan_index_co_funder",
            "co_funder_id",
            "issued_at",
            "record_id",
            sqlite_where=text("co_funder_id != 0"),
            postgresql_where=text("co_funder_id != 0"),
        ),
        Index(
            "ix_loan_index_guarantor",
            "guarantor_id",
            "issued_at",
            "record_id",
            sqlite_where=text("guarantor_id != 0"),
            postgresql_where=text("guarantor_id != 0"),
        ),
        Index(
            "ix_loan_index_legacy",
            "issued_at",
            "record_id",
            sqlite_where=text("legacy"),
            postgresql_where=text("legacy"),
        ),
    )


_rollups = Table(
    "loan_rollups",
    Base.metadata,
    # the key: a Beijing-time period, a grouping dimension and its member, live or retired
    # (in key order: a question reads one range of the primary key, kind and dimension first)
    Column("period_kind", String(8), primary_key=True),  # month | quarter | year
    Column("dimension", String(16), primary_key=True),  # institution_type | funder | platform
    Column("party_id", BigInteger, primary_key=True),  # funder / platform id; 0 by type
    # the loans' institution type (by type and by funder); "" by platform (all types)
    Column("institution_type", String(32), primary_key=True),
    Column("period", String(16), primary_key=True),  # 2026-03 | 2026-Q1 | 2026 | out-of-range
    Column("retired", Boolean, primary_key=True),  # revoked or superseded
    Column("count", BigInteger, nullable=False),
    Column("volume", _Sum, nullable=False),
    Column("apr_sum", _Sum, nullable=False),
    Column("weighted_sum", _Sum, nullable=False),  # sum of principal x apr_bps
    Column("legacy_count", BigInteger, nullable=False),
    Column("legacy_volume", _Sum, nullable=False),
    Column("legacy_apr_sum", _Sum, nullable=False),
    Column("legacy_weighted_sum", _Sum, nullable=False),
    Column("apr_min", Integer, nullable=True),
    Column("apr_max", Integer, nullable=True),
    *(Column(f"n{i:02d}", BigInteger, nullable=False) for i in range(BAND_COUNT)),
    *(Column(f"v{i:02d}", _Sum, nullable=False) for i in range(BAND_COUNT)),
)


class RollupRow(Base):
    """Integer sums of the anchored loans of one (period, dimension member, institution type,
    retired) key, maintained by atomic upserts (`count = count + excluded.count`) as loans are
    anchored and retired. Every loan counts in 9 keys: month, quarter and year x by type, by
    funder, by platform."""

    __table__ = _rollups
