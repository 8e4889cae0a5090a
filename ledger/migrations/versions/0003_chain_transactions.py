"""The transaction log: every signed attempt of the gateway's chain accounts (nonces that survive
restarts, raw bytes to broadcast again what a node lost; `ledger/chain/txlog.py`).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_transactions",
        sa.Column("tx_hash", sa.String(66), primary_key=True),
        sa.Column("account", sa.String(42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("gas", sa.BigInteger(), nullable=False),
        sa.Column("max_fee_per_gas", sa.BigInteger(), nullable=True),
        sa.Column("max_priority_fee_per_gas", sa.BigInteger(), nullable=True),
        sa.Column("gas_price", sa.BigInteger(), nullable=True),
        sa.Column("sent_at", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
    )
    op.create_index(
        "ix_chain_transactions_account_nonce", "chain_transactions", ["account", "nonce"]
    )


def downgrade() -> None:
    op.drop_index("ix_chain_transactions_account_nonce", table_name="chain_transactions")
    op.drop_table("chain_transactions")
