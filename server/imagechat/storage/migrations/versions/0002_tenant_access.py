"""Tenants get allowed origins, an API secret and a read-only switch; the server's signing key.

Revision ID: 0002
Revises: 0001
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # "self": the origin the ImageChat server itself is served from (the demo site).
    op.add_column("tenants", sa.Column("origins", sa.Text, nullable=False, server_default='["self"]'))
    op.add_column("tenants", sa.Column("secret", sa.String(64), nullable=False, server_default=""))
    op.add_column("tenants", sa.Column("readonly", sa.Boolean, nullable=False, server_default=sa.false()))
    connection = op.get_bind()
    for (tenant_id,) in connection.execute(sa.text("SELECT id FROM tenants")).fetchall():
        connection.execute(
            sa.text("UPDATE tenants SET secret = :secret WHERE id = :id"),
            {"secret": secrets.token_urlsafe(32), "id": tenant_id},
        )
    op.create_table(
        "server_keys",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("server_keys")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("readonly")
        batch.drop_column("secret")
        batch.drop_column("origins")
