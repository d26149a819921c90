"""Channel subscriptions: the subscriptions, the one parent post per incident per channel, the outbox
of thread replies, and the incidents muted in a channel.

channel_posts and thread_replies are claimed before Slack is called and marked done after, so that
replicas and restarts post each message exactly once (bot.state.subscriptions).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("filter", sa.String(600), nullable=False),
        sa.Column("updates", sa.String(16), server_default="thread", nullable=False),
        sa.Column("remind_unassigned_s", sa.Integer(), nullable=True),
        sa.Column("remind_active_s", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_reason", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_subscriptions_channel"), "subscriptions", ["channel"])
    op.create_table(
        "channel_posts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.String(20), nullable=False),
        sa.Column("follows_id", sa.String(20), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("claim_token", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ts", sa.String(32), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_version", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fields", sa.Text(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminders", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_posts")),
        sa.UniqueConstraint("channel", "incident_id", name=op.f("uq_channel_posts_channel_incident_id")),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_channel_posts_subscription_id_subscriptions"),
            ondelete="SET NULL",
        ),
    )
    op.create_index(op.f("ix_channel_posts_follows_id"), "channel_posts", ["follows_id"])
    op.create_table(
        "thread_replies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("change_key", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("claim_token", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ts", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_thread_replies")),
        sa.UniqueConstraint("post_id", "change_key", name=op.f("uq_thread_replies_post_id_change_key")),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["channel_posts.id"],
            name=op.f("fk_thread_replies_post_id_channel_posts"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "mutes",
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "incident_id", name=op.f("pk_mutes")),
    )


def downgrade() -> None:
    op.drop_table("mutes")
    op.drop_table("thread_replies")
    op.drop_index(op.f("ix_channel_posts_follows_id"), table_name="channel_posts")
    op.drop_table("channel_posts")
    op.drop_index(op.f("ix_subscriptions_channel"), table_name="subscriptions")
    op.drop_table("subscriptions")
