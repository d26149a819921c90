"""Answers that are not about an incident's data: a card value the bot cannot vouch for."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.blocks.messages import build_notice_blocks
from bot.blocks.pending_modals import build_out_of_date_modal
from bot.blocks.seal import CardOutOfDate, out_of_date_text
from bot.jobs import TellOutOfDate
from bot.work.context import Work

logger = logging.getLogger(__name__)

# Slack's answers meaning the person has moved on (the modal closed, the channel gone): nothing to
# tell any more, and asking again would only fail again.
_GONE = {"not_found", "view_not_found", "hash_conflict", "channel_not_found", "not_in_channel", "is_archived"}


async def tell_out_of_date(work: Work, job: TellOutOfDate) -> None:
    """Where the person acted: the open modal, the card's response_url, or an ephemeral message."""
    text = out_of_date_text(CardOutOfDate(job.incident_id))
    try:
        if job.view_id:
            await work.slack.views_update(view_id=job.view_id, view=build_out_of_date_modal(text))
        elif job.response_url:
            body = {"response_type": "ephemeral", "replace_original": False, "text": text}
            await work.respond(job.response_url, {**body, "blocks": build_notice_blocks(f":warning: {text}")})
        elif job.channel_id:
            await work.slack.chat_postEphemeral(channel=job.channel_id, user=job.user_id, text=text)
    except SlackApiError as error:
        if error.response.get("error") not in _GONE:
            raise
        logger.info("out-of-date notice not shown: %s", error.response.get("error"))
