"""Answers that are not about an incident's data: a card value the bot cannot vouch for."""

from __future__ import annotations

from bot.blocks.messages import build_notice_blocks
from bot.blocks.pending_modals import build_out_of_date_modal
from bot.blocks.seal import CardOutOfDate, out_of_date_text
from bot.jobs import TellOutOfDate
from bot.work.context import Work


async def tell_out_of_date(work: Work, job: TellOutOfDate) -> None:
    """Where the person acted: the open modal, the card's response_url, or an ephemeral message."""
    text = out_of_date_text(CardOutOfDate(job.incident_id))
    if job.view_id:
        await work.slack.views_update(view_id=job.view_id, view=build_out_of_date_modal(text))
    elif job.response_url:
        body = {"response_type": "ephemeral", "replace_original": False, "text": text}
        await work.respond(job.response_url, {**body, "blocks": build_notice_blocks(f":warning: {text}")})
    elif job.channel_id:
        await work.slack.chat_postEphemeral(channel=job.channel_id, user=job.user_id, text=text)
