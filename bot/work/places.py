"""Where a clicked card lives, and how to redraw it there after a change.

A click in a channel message carries `message`; a click in an ephemeral message or in an
unfurl does not (an unfurl carries `app_unfurl` and `container.is_app_unfurl`). So what is
needed to redraw travels in the button value / private_metadata (`IncidentRef`), never
taken from `body["message"]`.
"""

from __future__ import annotations

import logging

from bot.blocks.bodies import message_card_body
from bot.blocks.incident import card_fallback_text
from bot.blocks.messages import build_notice_blocks
from bot.blocks.refs import IncidentRef
from bot.models import IncidentSnapshot
from bot.state.live_cards import CardPlace
from bot.work.context import Work
from bot.work.live import write_down

logger = logging.getLogger(__name__)


async def redraw(work: Work, ref: IncidentRef, snapshot: IncidentSnapshot) -> None:
    """Show the new state in the card the user clicked."""
    text = card_fallback_text(snapshot)
    live = work.live_now()
    if ref.url and ref.channel and ref.ts:
        blocks = work.cards(snapshot, work.card_context(unfurl_url=ref.url, live=live))
        await work.slack.chat_unfurl(channel=ref.channel, ts=ref.ts, unfurls={ref.url: {"blocks": blocks}})
        place = CardPlace("unfurl", channel=ref.channel, ts=ref.ts, url=ref.url)
        await write_down(work, snapshot, [place], asked_for=ref.id)  # so the watcher need not redraw it
    elif ref.channel and ref.ts:
        place = CardPlace("message", channel=ref.channel, ts=ref.ts)
        # A shared card keeps its "Shared by" line: chat.update replaces every block.
        shared_by = await _shared_by(work, place)
        body = message_card_body(snapshot, work.card_context(live=live), shared_by, render=work.cards)
        await work.slack.chat_update(channel=ref.channel, ts=ref.ts, text=text, blocks=body["blocks"])
        await write_down(work, snapshot, [place], asked_for=ref.id)
    elif ref.response_url:
        # The card's own record (the command's response_url) stays the one the watcher uses.
        blocks = work.cards(snapshot, work.card_context(shareable=True, live=live))
        body = {"replace_original": True, "response_type": "ephemeral", "text": text, "blocks": blocks}
        await work.respond(ref.response_url, body)


async def _shared_by(work: Work, place: CardPlace) -> str | None:
    """Who shared the message card at `place`, as it was written down."""
    if work.live is None:
        return None
    try:
        recorded = await work.live.store.at(place)
    except Exception:  # the change is saved: a database failure costs the line, not the redraw
        logger.exception("the record of card %s could not be read", place.key)
        return None
    return recorded.shared_by if recorded is not None else None


async def tell(work: Work, ref: IncidentRef, user_id: str, text: str) -> None:
    """An ephemeral note to the person who acted, next to the card."""
    blocks = build_notice_blocks(text)
    if ref.response_url:
        await work.respond(
            ref.response_url,
            {"response_type": "ephemeral", "replace_original": False, "text": text, "blocks": blocks},
        )
    elif ref.channel:
        await work.slack.chat_postEphemeral(channel=ref.channel, user=user_id, text=text, blocks=blocks)
