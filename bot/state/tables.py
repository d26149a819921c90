"""The tables of the bot's database, as SQLAlchemy Core sees them (the migrations create them).

The migrations in `migrations/versions/` are written by hand and frozen; these definitions are what the
code queries. A test compares the two after `upgrade head` on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)

# Explicit names, so a later migration can drop or alter a constraint by name on either database. A
# unique constraint is named after all its columns (column_0_N_name: the same name for one column).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
METADATA = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC and read back as aware UTC.

    SQLite has no time zones: it keeps the naive UTC wall time, in a fixed-width text form that
    compares in time order. A naive datetime is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"a naive datetime cannot be stored: {value!r} (give it a time zone)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


live_cards = Table(
    "live_cards",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(20), nullable=False),
    Column("follows_id", String(20), nullable=False, index=True),
    Column("surface", String(16), nullable=False),
    Column("channel", String(32), nullable=True),
    Column("ts", String(32), nullable=True),
    Column("url", String(2048), nullable=True),
    Column("response_url", String(2048), nullable=True),
    Column("shared_by", String(32), nullable=True),  # who shared a message card: its "Shared by" line
    Column("place_key", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("uses", Integer, nullable=False, server_default=text("0")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    Column("drawn_at", UTCDateTime, nullable=False),
    Column("needs_redraw", Boolean, nullable=False, server_default=false()),
    # "full" or "redacted" (bot.config.unfurl.Detail): what the card may show where it is
    Column("detail", String(16), nullable=False, server_default=text("'full'")),
    UniqueConstraint("place_key"),
)

watch_state = Table(
    "watch_state",
    METADATA,
    Column("name", String(64), primary_key=True),
    Column("watermark", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

incident_versions = Table(
    "incident_versions",
    METADATA,
    Column("incident_id", String(20), primary_key=True),
    Column("last_update", UTCDateTime, nullable=False),
)

# ---- channel subscriptions (bot.state.subscriptions) --------------------------------------------------

subscriptions = Table(
    "subscriptions",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False, index=True),
    Column("filter", String(600), nullable=False),  # the filter's canonical text
    Column("updates", String(16), nullable=False, server_default=text("'thread'")),
    Column("remind_unassigned_s", Integer, nullable=True),
    Column("remind_active_s", Integer, nullable=True),
    Column("created_by", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("paused_at", UTCDateTime, nullable=True),
    Column("paused_reason", String(64), nullable=True),
    # people name a subscription by its id: SQLite must never give a removed one's id to another
    sqlite_autoincrement=True,
)

# One parent message per incident per channel, whichever subscriptions matched it; a row is claimed
# before the post and marked posted after, so that replicas and restarts post it exactly once.
channel_posts = Table(
    "channel_posts",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("incident_id", String(20), nullable=False),  # the incident the post was for
    Column("follows_id", String(20), nullable=False, index=True),  # the one it follows (after merges)
    # the subscription that posted it; a removed subscription leaves its posts (they still dedupe)
    Column("subscription_id", Integer, ForeignKey("subscriptions.id", ondelete="SET NULL"), nullable=True),
    Column("state", String(16), nullable=False),  # "claimed" or "posted"
    Column("claim_token", String(64), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("ts", String(32), nullable=True),
    Column("posted_at", UTCDateTime, nullable=True),
    Column("last_version", UTCDateTime, nullable=True),  # the lastUpdateDateTime replied up to
    Column("last_fields", Text, nullable=True),  # JSON of what the thread has told so far
    Column("reminded_at", UTCDateTime, nullable=True),
    Column("reminders", Integer, nullable=False, server_default=text("0")),
    UniqueConstraint("channel", "incident_id"),
)

# The outbox of thread replies: one row per (post, change), claimed before the reply is sent.
thread_replies = Table(
    "thread_replies",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("post_id", Integer, ForeignKey("channel_posts.id", ondelete="CASCADE"), nullable=False),
    Column("change_key", String(128), nullable=False),
    Column("state", String(16), nullable=False),  # "claimed" or "sent"
    Column("claim_token", String(64), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("ts", String(32), nullable=True),
    UniqueConstraint("post_id", "change_key"),
)

mutes = Table(
    "mutes",
    METADATA,
    Column("channel", String(32), nullable=False),
    Column("incident_id", String(20), nullable=False),
    Column("created_by", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("channel", "incident_id"),
)
