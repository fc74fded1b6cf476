"""Tables. Changed only through Alembic migrations (`server/migrations/`)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("origins", Text, nullable=False),  # JSON list; "self" is the server's own origin
    Column("secret", String(64), nullable=False),  # signs single sign-on payloads
    Column("readonly", Boolean, nullable=False, default=False),
)

# Keys of the server itself, shared by every node (e.g. the one that signs session tokens).
server_keys = Table(
    "server_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(128), nullable=False),
)

# One row per image a tenant's pages show. `seq` is the number of the image's last event;
# `epoch` names its history (it changes if that history is lost, e.g. a restore).
images = Table(
    "images",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("url_id", String(512), nullable=False),
    Column("seq", BigInteger, nullable=False, default=0),
    Column("epoch", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("tenant_id", "url_id", name="uq_images_tenant_url"),
)

# Marker and comment ids may be chosen by clients, so they are unique within a tenant only: one
# tenant can neither probe for nor squat on another's ids.
markers = Table(
    "markers",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("image_id", Integer, nullable=False, index=True),
    Column("x", Float, nullable=False),
    Column("y", Float, nullable=False),
    Column("author_id", String(64), nullable=False),
    Column("author_name", String(60), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # Resolved threads (None: open): when, and the name of who resolved it.
    Column("resolved_at", BigInteger, nullable=True),
    Column("resolved_by", String(60), nullable=True),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_markers"),
    ForeignKeyConstraint(["image_id"], ["images.id"], name="fk_markers_image", ondelete="CASCADE"),
)

comments = Table(
    "comments",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("marker_id", String(64), nullable=False),
    Column("author_id", String(64), nullable=False),
    Column("author_name", String(60), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_comments"),
    ForeignKeyConstraint(["tenant_id", "marker_id"], ["markers.tenant_id", "markers.id"],
                         name="fk_comments_marker", ondelete="CASCADE"),
    Index("ix_comments_marker", "tenant_id", "marker_id", "created_at"),
)

# Append-only log of each image's changes, written in the transaction of the change itself.
# `payload` is the event exactly as sent on the wire, so a replay re-sends the same bytes.
events = Table(
    "events",
    metadata,
    Column("image_id", Integer, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("type", String(32), nullable=False),
    Column("broadcast_id", String(64), nullable=True),
    Column("payload", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# What live sync costs each tenant, per minute (ms since the epoch, at the minute's start).
usage = Table(
    "usage",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("minute", BigInteger, primary_key=True),
    Column("messages", BigInteger, nullable=False),  # pubSubMessageCount: frames sent to viewers
    Column("bytes", BigInteger, nullable=False),  # pubSubBandwidth: their bytes
    Column("connections", BigInteger, nullable=False),  # live connections opened
    Column("markers", BigInteger, nullable=False),  # markers created
)

# Webhooks: URLs of a tenant that receive a signed POST for every event of its images (webhooks/).
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# The outbox is the events table itself: per webhook and image, how far delivery got. The next
# event is sent only once the previous one was accepted; a failing one waits for `next_attempt_at`.
# `lease_until`: a node delivering this image holds it till then (several nodes never send twice at once).
webhook_cursors = Table(
    "webhook_cursors",
    metadata,
    Column("webhook_id", String(64), ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True),
    Column("image_id", Integer, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("delivered_seq", BigInteger, nullable=False),  # the last event accepted (or given up on)
    Column("attempts", Integer, nullable=False, default=0),  # failed attempts at the next event
    Column("failing_since", BigInteger, nullable=True),  # first failure of the next event (ms)
    Column("next_attempt_at", BigInteger, nullable=False, default=0),
    Column("lease_until", BigInteger, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("given_up", Integer, nullable=False, default=0),  # events dropped after retrying for a day
)
