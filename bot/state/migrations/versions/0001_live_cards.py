"""live_cards and watch_state: the cards the bot posted, and the watcher's watermark.

Revision ID: 0001
Revises:
Create Date: 2026-03-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_cards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(20), nullable=False),
        sa.Column("follows_id", sa.String(20), nullable=False),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("ts", sa.String(32), nullable=True),
        sa.Column("url", sa.String(2048), nullable=True),
        sa.Column("response_url", sa.String(2048), nullable=True),
        sa.Column("shared_by", sa.String(32), nullable=True),
        sa.Column("place_key", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("uses", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("needs_redraw", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_cards")),
        sa.UniqueConstraint("place_key", name=op.f("uq_live_cards_place_key")),
    )
    op.create_index(op.f("ix_live_cards_follows_id"), "live_cards", ["follows_id"])
    op.create_index(op.f("ix_live_cards_expires_at"), "live_cards", ["expires_at"])
    op.create_table(
        "watch_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_watch_state")),
    )


def downgrade() -> None:
    op.drop_table("watch_state")
    op.drop_index(op.f("ix_live_cards_expires_at"), table_name="live_cards")
    op.drop_index(op.f("ix_live_cards_follows_id"), table_name="live_cards")
    op.drop_table("live_cards")
