"""A channel the bot can no longer post in: its subscriptions pause, their makers are told.

Slack says so with `channel_left` (the bot was removed), or answers a post `not_in_channel`,
`channel_not_found` or `is_archived`. The subscriptions are kept, paused with the reason, so that
`/incident subscriptions` shows what happened and inviting the bot back (then `/incident
subscribe` again, or an admin) is all it takes; nothing is retried against the closed channel.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from slack_sdk.errors import SlackApiError

from bot.blocks.messages import build_notice_blocks
from bot.jobs import ChannelLeft
from bot.work.context import Work

logger = logging.getLogger(__name__)


async def channel_gone(work: Work, channel: str, reason: str) -> None:
    """Pause the channel's subscriptions and tell each person who made one, in their DM with the bot."""
    store = work.subscriptions
    if store is None:
        return
    paused = await store.pause_channel(channel, reason, now=datetime.now(UTC))
    for person in sorted({subscription.created_by for subscription in paused}):
        ids = ", ".join(f"#{s.id}" for s in paused if s.created_by == person)
        text = (
            f"Your incident subscription {ids} in <#{channel}> is paused: the bot can no longer post "
            f"there ({reason}). Invite it back and subscribe again to resume."
        )
        try:
            await work.slack.chat_postMessage(channel=person, text=text, blocks=build_notice_blocks(text))
        except SlackApiError as error:
            logger.warning("could not tell %s about the paused subscription: %s", person,
                           error.response.get("error"))  # fmt: skip


async def channel_left(work: Work, job: ChannelLeft) -> None:
    await channel_gone(work, job.channel_id, job.reason)
