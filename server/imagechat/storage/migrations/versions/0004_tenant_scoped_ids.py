"""Marker and comment ids are unique per tenant: keys (tenant_id, id), comments -> (tenant_id, marker_id).

Both tables are rebuilt (new table, copy, drop, rename): changing a primary key in place needs the
old constraints' names, which SQLite does not keep and PostgreSQL made up. Existing rows take the
tenant of their image.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COMMON = ("author_id", "author_name", "created_at", "updated_at")
MARKER_COLUMNS = ("id", "image_id", "x", "y", *COMMON)
COMMENT_COLUMNS = ("id", "marker_id", "text", *COMMON)


def _marker_columns() -> list[sa.Column]:
    return [
        sa.Column("image_id", sa.Integer, nullable=False),
        sa.Column("x", sa.Float, nullable=False),
        sa.Column("y", sa.Float, nullable=False),
        *_common_columns(),
    ]


def _comment_columns() -> list[sa.Column]:
    return [
        sa.Column("marker_id", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        *_common_columns(),
    ]


def _common_columns() -> list[sa.Column]:
    return [
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("author_name", sa.String(60), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    ]


def _replace(old: str, new: str) -> None:
    op.drop_table(old)
    op.rename_table(new, old)


def upgrade() -> None:
    op.create_table(
        "markers_new",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        *_marker_columns(),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_markers"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], name="fk_markers_image", ondelete="CASCADE"),
    )
    op.create_table(
        "comments_new",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        *_comment_columns(),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_comments"),
        sa.ForeignKeyConstraint(["tenant_id", "marker_id"], ["markers_new.tenant_id", "markers_new.id"],
                                name="fk_comments_marker", ondelete="CASCADE"),
    )
    marker_list = ", ".join(MARKER_COLUMNS)
    comment_list = ", ".join(COMMENT_COLUMNS)
    op.execute(
        f"INSERT INTO markers_new (tenant_id, {marker_list}) "
        f"SELECT i.tenant_id, {', '.join('m.' + c for c in MARKER_COLUMNS)} FROM markers m JOIN images i ON i.id = m.image_id"
    )
    op.execute(
        f"INSERT INTO comments_new (tenant_id, {comment_list}) "
        f"SELECT m.tenant_id, {', '.join('c.' + c for c in COMMENT_COLUMNS)} FROM comments c "
        "JOIN markers_new m ON m.id = c.marker_id"
    )
    _replace("comments", "comments_new")
    _replace("markers", "markers_new")
    op.create_index("ix_markers_image_id", "markers", ["image_id"])
    op.create_index("ix_comments_marker", "comments", ["tenant_id", "marker_id", "created_at"])


def downgrade() -> None:
    """Back to global ids: fails if two tenants use one id (which only 0004 allowed)."""
    op.create_table(
        "markers_old",
        sa.Column("id", sa.String(64), primary_key=True),
        *_marker_columns(),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
    )
    op.create_table(
        "comments_old",
        sa.Column("id", sa.String(64), primary_key=True),
        *_comment_columns(),
        sa.ForeignKeyConstraint(["marker_id"], ["markers_old.id"], ondelete="CASCADE"),
    )
    marker_list = ", ".join(MARKER_COLUMNS)
    comment_list = ", ".join(COMMENT_COLUMNS)
    op.execute(f"INSERT INTO markers_old ({marker_list}) SELECT {marker_list} FROM markers")
    op.execute(f"INSERT INTO comments_old ({comment_list}) SELECT {comment_list} FROM comments")
    _replace("comments", "comments_old")
    _replace("markers", "markers_old")
    op.create_index("ix_markers_image_id", "markers", ["image_id"])
    op.create_index("ix_comments_marker_id", "comments", ["marker_id"])
