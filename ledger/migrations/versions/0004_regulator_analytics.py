"""The regulator's analytics: the narrow index of anchored loans and the rollups, filled from
the loans a database already holds (through the same library call the anchoring hook makes, so
this revision must be read with the library of its release).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loan_index",
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("platform_id", sa.BigInteger(), nullable=False),
        sa.Column("funder_id", sa.BigInteger(), nullable=False),
        sa.Column("guarantor_id", sa.BigInteger(), nullable=False),
        sa.Column("co_funder_id", sa.BigInteger(), nullable=False),
        sa.Column("institution_type", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("apr_bps", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("legacy", sa.Boolean(), nullable=False),
        sa.Column("anchoring", sa.String(length=16), nullable=False),
        sa.Column("batch_root", sa.String(length=66), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_time", sa.BigInteger(), nullable=True),
        sa.Column("retired", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("record_id"),
    )
    with op.batch_alter_table("loan_index", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loan_index_co_funder",
            ["co_funder_id", "issued_at", "record_id"],
            unique=False,
            sqlite_where=sa.text("co_funder_id != 0"),
            postgresql_where=sa.text("co_funder_id != 0"),
        )
        batch_op.create_index(
            "ix_loan_index_funder", ["funder_id", "issued_at", "record_id"], unique=False
        )
        batch_op.create_index(
            "ix_loan_index_guarantor",
            ["guarantor_id", "issued_at", "record_id"],
            unique=False,
            sqlite_where=sa.text("guarantor_id != 0"),
            postgresql_where=sa.text("guarantor_id != 0"),
        )
        batch_op.create_index("ix_loan_index_issued", ["issued_at", "record_id"], unique=False)
        batch_op.create_index(
            "ix_loan_index_legacy",
            ["issued_at", "record_id"],
            unique=False,
            sqlite_where=sa.text("legacy"),
            postgresql_where=sa.text("legacy"),
        )
        batch_op.create_index(
            "ix_loan_index_platform", ["platform_id", "issued_at", "record_id"], unique=False
        )
        batch_op.create_index(
            "ix_loan_index_type", ["institution_type", "issued_at", "record_id"], unique=False
        )

    op.create_table(
        "loan_rollups",
        sa.Column("period_kind", sa.String(length=8), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("party_id", sa.BigInteger(), nullable=False),
        sa.Column("institution_type", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column(
            "volume",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "apr_sum",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "weighted_sum",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column("legacy_count", sa.BigInteger(), nullable=False),
        sa.Column(
            "legacy_volume",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "legacy_apr_sum",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "legacy_weighted_sum",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column("apr_min", sa.Integer(), nullable=True),
        sa.Column("apr_max", sa.Integer(), nullable=True),
        sa.Column("n00", sa.BigInteger(), nullable=False),
        sa.Column("n01", sa.BigInteger(), nullable=False),
        sa.Column("n02", sa.BigInteger(), nullable=False),
        sa.Column("n03", sa.BigInteger(), nullable=False),
        sa.Column("n04", sa.BigInteger(), nullable=False),
        sa.Column("n05", sa.BigInteger(), nullable=False),
        sa.Column("n06", sa.BigInteger(), nullable=False),
        sa.Column("n07", sa.BigInteger(), nullable=False),
        sa.Column("n08", sa.BigInteger(), nullable=False),
        sa.Column("n09", sa.BigInteger(), nullable=False),
        sa.Column("n10", sa.BigInteger(), nullable=False),
        sa.Column("n11", sa.BigInteger(), nullable=False),
        sa.Column("n12", sa.BigInteger(), nullable=False),
        sa.Column("n13", sa.BigInteger(), nullable=False),
        sa.Column("n14", sa.BigInteger(), nullable=False),
        sa.Column("n15", sa.BigInteger(), nullable=False),
        sa.Column("n16", sa.BigInteger(), nullable=False),
        sa.Column("n17", sa.BigInteger(), nullable=False),
        sa.Column("n18", sa.BigInteger(), nullable=False),
        sa.Column("n19", sa.BigInteger(), nullable=False),
        sa.Column("n20", sa.BigInteger(), nullable=False),
        sa.Column("n21", sa.BigInteger(), nullable=False),
        sa.Column("n22", sa.BigInteger(), nullable=False),
        sa.Column("n23", sa.BigInteger(), nullable=False),
        sa.Column("n24", sa.BigInteger(), nullable=False),
        sa.Column("n25", sa.BigInteger(), nullable=False),
        sa.Column("n26", sa.BigInteger(), nullable=False),
        sa.Column("n27", sa.BigInteger(), nullable=False),
        sa.Column("n28", sa.BigInteger(), nullable=False),
        sa.Column("n29", sa.BigInteger(), nullable=False),
        sa.Column("n30", sa.BigInteger(), nullable=False),
        sa.Column("n31", sa.BigInteger(), nullable=False),
        sa.Column("n32", sa.BigInteger(), nullable=False),
        sa.Column("n33", sa.BigInteger(), nullable=False),
        sa.Column("n34", sa.BigInteger(), nullable=False),
        sa.Column("n35", sa.BigInteger(), nullable=False),
        sa.Column("n36", sa.BigInteger(), nullable=False),
        sa.Column(
            "v00",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v01",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v02",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v03",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v04",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v05",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v06",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v07",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v08",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v09",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v10",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v11",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v12",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v13",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v14",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v15",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v16",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v17",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v18",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v19",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v20",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v21",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v22",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v23",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v24",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v25",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v26",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v27",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v28",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v29",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v30",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v31",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v32",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v33",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v34",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v35",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "v36",
            sa.BigInteger().with_variant(sa.Numeric(precision=40, scale=0), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "period_kind", "dimension", "party_id", "institution_type", "period", "retired"
        ),
    )
    _backfill()


def _backfill() -> None:
    """Indexes the loans anchored before this revision (and their retirements)."""
    from sqlalchemy.orm import Session

    from ledger.analytics.maintain import index_anchored

    bind = op.get_bind()
    ids = [
        row[0]
        for row in bind.execute(
            sa.text(
                "SELECT record_id FROM submissions WHERE status = 'anchored' ORDER BY record_id"
            )
        )
    ]
    session = Session(bind=bind)
    try:
        for start in range(0, len(ids), 1_000):
            index_anchored(session, ids[start : start + 1_000])
        session.flush()
    finally:
        session.close()


def downgrade() -> None:
    op.drop_table("loan_rollups")
    with op.batch_alter_table("loan_index", schema=None) as batch_op:
        batch_op.drop_index("ix_loan_index_type")
        batch_op.drop_index("ix_loan_index_platform")
        batch_op.drop_index(
            "ix_loan_index_legacy",
            sqlite_where=sa.text("legacy"),
            postgresql_where=sa.text("legacy"),
        )
        batch_op.drop_index("ix_loan_index_issued")
        batch_op.drop_index(
            "ix_loan_index_guarantor",
            sqlite_where=sa.text("guarantor_id != 0"),
            postgresql_where=sa.text("guarantor_id != 0"),
        )
        batch_op.drop_index("ix_loan_index_funder")
        batch_op.drop_index(
            "ix_loan_index_co_funder",
            sqlite_where=sa.text("co_funder_id != 0"),
            postgresql_where=sa.text("co_funder_id != 0"),
        )

    op.drop_table("loan_index")
