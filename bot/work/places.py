"""Where a clicked card lives, and how to redraw it there after a change.

A click in a channel message carries `message`; a click in an ephemeral message or in an
unfurl does not (an unfurl carries `app_unfurl` and `container.is_app_unfurl`). So what is
needed to redraw travels in the button value / private_metadata (`IncidentRef`), never
taken from `body["message"]`.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.blocks.bodies import fallback_text, message_card_body
from bot.blocks.messages import build_notice_blocks
from bot.blocks.refs import IncidentRef
from bot.config.unfurl import Detail
from bot.models import IncidentSnapshot
from bot.state.live_cards import CardPlace, LiveCard
from bot.work.context import Work
from bot.work.live import recorded_detail, write_down
from bot.work.unfurls import unfurl_arguments

logger = logging.getLogger(__name__)


async def redraw(work: Work, ref: IncidentRef, snapshot: IncidentSnapshot) -> None:
    """Show the new state in the card the user clicked, as much of it as it showed before (a card
    in a conversation with outsiders stays redacted)."""
    live = work.live_now()
    if ref.url and ref.channel and ref.ts:
        place = CardPlace("unfurl", channel=ref.channel, ts=ref.ts, url=ref.url)
        detail = await _detail(work, place, await _recorded(work, place))
        ctx = work.card_context(unfurl_url=ref.url, live=live, detail=detail)
        await work.slack.chat_unfurl(channel=ref.channel, ts=ref.ts, **unfurl_arguments(work, snapshot, ctx))
        # so the watcher need not redraw it
        await write_down(work, snapshot, [place], asked_for=ref.id, detail=detail)
    elif ref.channel and ref.ts:
        place = CardPlace("message", channel=ref.channel, ts=ref.ts)
        recorded = await _recorded(work, place)
        detail = await _detail(work, place, recorded)
        # A shared card keeps its "Shared by" line: chat.update replaces every block.
        shared_by = recorded.shared_by if recorded is not None else None
        ctx = work.card_context(live=live, detail=detail)
        body = message_card_body(snapshot, ctx, shared_by, render=work.cards)
        await work.slack.chat_update(channel=ref.channel, ts=ref.ts, text=body["text"], blocks=body["blocks"])
        await write_down(work, snapshot, [place], asked_for=ref.id, detail=detail)
    elif ref.response_url:
        # An ephemeral card is seen by the clicker alone. The card's own record (the command's
        # response_url) stays the one the watcher uses.
        ctx = work.card_context(shareable=True, live=live)
        body = {"replace_original": True, "response_type": "ephemeral", "text": fallback_text(snapshot, ctx),
                "blocks": work.cards(snapshot, ctx)}  # fmt: skip
        await work.respond(ref.response_url, body)


async def _recorded(work: Work, place: CardPlace) -> LiveCard | None:
    """The record of the card at `place`, if it was written down."""
    if work.live is None:
        return None
    try:
        return await work.live.store.at(place)
    except Exception:  # the change is saved: a database failure costs the record, not the redraw
        logger.exception("the record of card %s could not be read", place.key)
        return None


async def _detail(work: Work, place: CardPlace, recorded: LiveCard | None) -> Detail:
    """What the card at `place` may show: as recorded, or else what the conversation allows now."""
    if recorded is not None:
        return recorded_detail(recorded.detail)
    detail = await work.detail_in(place.channel)
    return Detail.REDACTED if detail is Detail.NONE else detail


async def tell(work: Work, ref: IncidentRef, user_id: str, text: str) -> None:
    """An ephemeral note to the person who acted, next to the card."""
    await whisper(work, ref, user_id, {"text": text, "blocks": build_notice_blocks(text)})


async def whisper(work: Work, ref: IncidentRef, user_id: str, message: dict[str, Any]) -> None:
    """An ephemeral message (`text` and `blocks`) to the person who acted, next to the card: through
    the click's response_url, else chat.postEphemeral. Nobody else in the conversation sees it."""
    if ref.response_url:
        body = {"response_type": "ephemeral", "replace_original": False, **message}
        await work.respond(ref.response_url, body)
    elif ref.channel:
        await work.slack.chat_postEphemeral(channel=ref.channel, user=user_id, **message)
    else:  # a click in App Home: the person's own conversation with the bot
        await work.slack.chat_postMessage(channel=user_id, unfurl_links=False, **message)
