"""Baseline: the schema the releases before migrations created with `create_all`.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("root"),
    )
    op.create_table(
        "chain_events",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("args_json", sa.Text(), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
    )
    with op.batch_alter_table("chain_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_events_name"), ["name"], unique=False)

    op.create_table(
        "documents",
        sa.Column("sha256", sa.String(length=66), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("shredded_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "participants",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("institution_type", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("signer_address", sa.String(length=42), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("custodial", sa.Boolean(), nullable=False),
        sa.Column("encrypted_key", sa.LargeBinary(), nullable=True),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_participants_role"), ["role"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_participants_signer_address"), ["signer_address"], unique=False
        )

    op.create_table(
        "receipts",
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("receipt_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("record_id"),
    )
    op.create_table(
        "submissions",
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("anchoring", sa.String(length=16), nullable=False),
        sa.Column("agreement_digest", sa.String(length=66), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("funder_id", sa.Integer(), nullable=False),
        sa.Column("guarantor_id", sa.Integer(), nullable=False),
        sa.Column("co_funder_id", sa.Integer(), nullable=False),
        sa.Column("institution_type", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("apr_bps", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("record_json", sa.Text(), nullable=False),
        sa.Column("signatures_json", sa.Text(), nullable=False),
        sa.Column("document_json", sa.Text(), nullable=False),
        sa.Column("disclosure_json", sa.Text(), nullable=True),
        sa.Column("provenance_json", sa.Text(), nullable=False),
        sa.Column("entry_timestamp_json", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("queued_at", sa.Float(), nullable=True),
        sa.Column("anchored_at", sa.Float(), nullable=True),
        sa.Column("batch_root", sa.String(length=66), nullable=True),
        sa.Column("proof_json", sa.Text(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_time", sa.BigInteger(), nullable=True),
        sa.Column("rejection_code", sa.String(length=64), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("retired", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("record_id"),
    )
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submissions_apr_bps"), ["apr_bps"], unique=False)
        batch_op.create_index(batch_op.f("ix_submissions_batch_root"), ["batch_root"], unique=False)
        batch_op.create_index(batch_op.f("ix_submissions_funder_id"), ["funder_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_submissions_guarantor_id"), ["guarantor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_submissions_institution_type"), ["institution_type"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_submissions_issued_at"), ["issued_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_submissions_platform_id"), ["platform_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_submissions_status"), ["status"], unique=False)
        batch_op.create_index("ix_submissions_status_queued", ["status", "queued_at"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_key_hash"), ["key_hash"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_key_hash"))

    op.drop_table("api_keys")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_submissions_status_queued")
        batch_op.drop_index(batch_op.f("ix_submissions_status"))
        batch_op.drop_index(batch_op.f("ix_submissions_platform_id"))
        batch_op.drop_index(batch_op.f("ix_submissions_issued_at"))
        batch_op.drop_index(batch_op.f("ix_submissions_institution_type"))
        batch_op.drop_index(batch_op.f("ix_submissions_guarantor_id"))
        batch_op.drop_index(batch_op.f("ix_submissions_funder_id"))
        batch_op.drop_index(batch_op.f("ix_submissions_batch_root"))
        batch_op.drop_index(batch_op.f("ix_submissions_apr_bps"))

    op.drop_table("submissions")
    op.drop_table("receipts")
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_participants_signer_address"))
        batch_op.drop_index(batch_op.f("ix_participants_role"))

    op.drop_table("participants")
    op.drop_table("meta")
    op.drop_table("documents")
    with op.batch_alter_table("chain_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_events_name"))

    op.drop_table("chain_events")
    op.drop_table("batches")
