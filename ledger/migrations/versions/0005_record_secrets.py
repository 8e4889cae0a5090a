"""Per-record secrets, sealed under the master key: the salt of a borrower commitment the gateway
made (so it can be opened before a court) and the seed of a fee form's salted leaves (so single
fields can be disclosed). Erasure destroys them (`shredded_at`).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_secrets",
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("borrower_salt", sa.LargeBinary(), nullable=True),
        sa.Column("disclosure_seed", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("shredded_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("record_id"),
    )


def downgrade() -> None:
    op.drop_table("record_secrets")
