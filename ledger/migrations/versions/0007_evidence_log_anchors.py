"""The evidence log anchored on chain: each entry's batch root, and the batches
(`EvidenceLedger.anchorEvidenceLog`).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_log") as table:
        table.add_column(sa.Column("batch_root", sa.String(length=66), nullable=True))
        table.create_index("ix_evidence_log_batch_root", ["batch_root"])
    op.create_table(
        "evidence_log_batches",
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("gateway_id", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_time", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("root"),
    )


def downgrade() -> None:
    op.drop_table("evidence_log_batches")
    with op.batch_alter_table("evidence_log") as table:
        table.drop_index("ix_evidence_log_batch_root")
        table.drop_column("batch_root")
