"""The document vault, v2: documents stored as encrypted chunks (`document_chunks`), auditors'
access grants, the evidence log (reads, grants, erasures) and erasures (crypto-shredding).
Documents stored whole before (`documents.ciphertext`) stay readable.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("chunk_count", sa.Integer(), nullable=True))
    op.create_table(
        "document_chunks",
        sa.Column("sha256", sa.String(length=66), nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", "idx"),
    )
    op.create_table(
        "access_grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("grantor_id", sa.Integer(), nullable=False),
        sa.Column("grantor_role", sa.String(length=20), nullable=False),
        sa.Column("auditor_id", sa.Integer(), nullable=False),
        sa.Column("record_ids_json", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_until", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_access_grants_grantor_id", "access_grants", ["grantor_id"])
    op.create_index("ix_access_grants_auditor_id", "access_grants", ["auditor_id"])
    op.create_table(
        "evidence_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=66), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("entry_json", sa.Text(), nullable=False),
        sa.Column("entry_digest", sa.String(length=66), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evidence_log_record_id", "evidence_log", ["record_id"])
    op.create_table(
        "erasures",
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("ordered_by", sa.Integer(), nullable=True),
        sa.Column("executed_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("record_id"),
    )


def downgrade() -> None:
    op.drop_table("erasures")
    op.drop_index("ix_evidence_log_record_id", table_name="evidence_log")
    op.drop_table("evidence_log")
    op.drop_index("ix_access_grants_auditor_id", table_name="access_grants")
    op.drop_index("ix_access_grants_grantor_id", table_name="access_grants")
    op.drop_table("access_grants")
    op.drop_table("document_chunks")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("chunk_count")
