"""conversations marked good for training: when, by whom, and up to which message

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("marked_good_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("marked_good_by", sa.String(32), nullable=True))
        batch.add_column(sa.Column("marked_good_seq", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_conversations_marked_good_by_users", "users", ["marked_good_by"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("fk_conversations_marked_good_by_users", type_="foreignkey")
        batch.drop_column("marked_good_seq")
        batch.drop_column("marked_good_by")
        batch.drop_column("marked_good_at")
