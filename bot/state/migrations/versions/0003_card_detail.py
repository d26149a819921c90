"""live_cards.detail: how much of the incident a card shows (full or redacted), kept across redraws.

A card drawn redacted (an unfurl in a public or shared conversation) must stay redacted when the
watcher redraws it; every card recorded before this revision was drawn in full.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("live_cards") as batch:
        batch.add_column(sa.Column("detail", sa.String(16), nullable=False, server_default="full"))


def downgrade() -> None:
    with op.batch_alter_table("live_cards") as batch:
        batch.drop_column("detail")
