"""A thread can be resolved (and reopened): when, and by whom.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("markers") as markers:
        markers.add_column(sa.Column("resolved_at", sa.BigInteger, nullable=True))
        markers.add_column(sa.Column("resolved_by", sa.String(60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("markers") as markers:
        markers.drop_column("resolved_by")
        markers.drop_column("resolved_at")
