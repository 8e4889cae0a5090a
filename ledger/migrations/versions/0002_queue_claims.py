"""Several gateways on one database: claims on queued records; the duplicate check's index
(created by the last releases without migrations, missing from older databases).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


_AGREEMENT_INDEX = "ix_submissions_agreement_platform"


def upgrade() -> None:
    indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("submissions")}
    with op.batch_alter_table("submissions") as table:
        table.add_column(sa.Column("claimed_by", sa.Integer(), nullable=True))
        table.add_column(sa.Column("claimed_until", sa.Float(), nullable=True))
        if _AGREEMENT_INDEX not in indexes:
            table.create_index(_AGREEMENT_INDEX, ["agreement_digest", "platform_id"])


def downgrade() -> None:
    with op.batch_alter_table("submissions") as table:
        table.drop_index(_AGREEMENT_INDEX)
        table.drop_column("claimed_until")
        table.drop_column("claimed_by")
