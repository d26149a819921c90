"""The JSON bodies the bot sends with an incident card, one per surface.

The bot (bot/work/reading.py) and `incident-bot card` both build their bodies here, so what the
command prints is what Slack receives. Pure: settings values, snapshot and clock come in as
arguments.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import quote

from bot.blocks.incident import CardContext, build_incident_card, card_fallback_text
from bot.blocks.messages import build_error_blocks
from bot.blocks.redacted import build_redacted_card, redacted_fallback_text
from bot.blocks.seal import CardSeal
from bot.models import IncidentSnapshot

Surface = Literal["message", "unfurl", "ephemeral"]
SURFACES: tuple[Surface, ...] = ("message", "unfurl", "ephemeral")
MESSAGE_BLOCKS = 50  # Slack's limit per message
Render = Callable[[IncidentSnapshot, CardContext], list[dict[str, Any]]]
BUILDER_URL = "https://app.slack.com/block-kit-builder/#"


class Deployment(Protocol):
    """The settings a card depends on; bot.config.settings.Settings is one (read-only, so no import)."""

    @property
    def portal_url(self) -> str: ...

    @property
    def azure_tenant_id(self) -> str | None: ...


def card_context_for(
    deployment: Deployment,
    seal: CardSeal,
    *,
    sample_data: bool,
    now: datetime,
    unfurl_url: str | None = None,
    shareable: bool = False,
    live: bool = False,
    redacted: bool = False,
    show_title: bool = False,
) -> CardContext:
    """How cards are drawn in this deployment (portal, tenant, demo marking)."""
    return CardContext(
        portal_url=deployment.portal_url,
        tenant_id=deployment.azure_tenant_id,
        seal=seal,
        sample_data=sample_data,
        unfurl_url=unfurl_url,
        shareable=shareable,
        now=now,
        live=live,
        redacted=redacted,
        show_title=show_title,
    )


def draw_card(snapshot: IncidentSnapshot, ctx: CardContext) -> list[dict[str, Any]]:
    """The card `ctx` asks for: the redacted one where outsiders may read, else the full one."""
    if ctx.redacted:
        return build_redacted_card(snapshot, ctx, show_title=ctx.show_title)
    return build_incident_card(snapshot, ctx)


def fallback_text(snapshot: IncidentSnapshot, ctx: CardContext) -> str:
    """The message's top-level `text`: a redacted card's names nothing, its title included."""
    return redacted_fallback_text(snapshot) if ctx.redacted else card_fallback_text(snapshot)


def ephemeral_card_body(
    snapshot: IncidentSnapshot, ctx: CardContext, render: Render = draw_card
) -> dict[str, Any]:
    """The `/incident` answer, in the ack or posted to the response_url (ctx should be `shareable`)."""
    return {
        "response_type": "ephemeral",
        "text": fallback_text(snapshot, ctx),
        "blocks": render(snapshot, ctx),
    }


def ephemeral_error_body(text: str) -> dict[str, Any]:
    """The `/incident` answer when the incident could not be shown."""
    return {"response_type": "ephemeral", "text": text, "blocks": build_error_blocks(text)}


def shared_by_block(user_id: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Shared by <@{user_id}>"}]}


def message_card_body(
    snapshot: IncidentSnapshot,
    ctx: CardContext,
    shared_by: str | None = None,
    render: Render = draw_card,
) -> dict[str, Any]:
    """chat.postMessage arguments but the channel; `shared_by` (a user id) adds the "Shared by" line."""
    blocks = render(snapshot, ctx)
    if shared_by is not None:
        blocks = [shared_by_block(shared_by), *blocks]
    return {
        "text": fallback_text(snapshot, ctx),
        # the card stays well under the limit; the cut only guards against a future extra block
        "blocks": blocks[:MESSAGE_BLOCKS],
        # the card's own portal link would otherwise unfurl under it, showing the incident twice
        "unfurl_links": False,
    }


def unfurl_body(snapshot: IncidentSnapshot, ctx: CardContext, render: Render = draw_card) -> dict[str, Any]:
    """One link's value in chat.unfurl's `unfurls` (ctx.unfurl_url is that link)."""
    return {"blocks": render(snapshot, ctx)}


class RenderedCards:
    """`draw_card`, drawn once per snapshot and context and reused while both stay the same.

    Ten asks of an incident in a busy channel share one rendering. A snapshot is one version of the
    incident as fetched (`fetched_at`, shown on the card), so a refreshed incident draws anew; the
    clock in the context matters only to a stale card's age. The blocks are shared: callers copy
    before changing them (the bodies above do).
    """

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._drawn: OrderedDict[tuple[object, ...], list[dict[str, Any]]] = OrderedDict()

    def __call__(self, snapshot: IncidentSnapshot, ctx: CardContext) -> list[dict[str, Any]]:
        # The fields of the context, the clock only where the card shows an age.
        shown = (
            ctx.portal_url,
            ctx.tenant_id,
            ctx.seal,
            ctx.sample_data,
            ctx.unfurl_url,
            ctx.shareable,
            ctx.live,
            ctx.redacted,
            ctx.show_title,
        )
        when = ctx.now if snapshot.stale else None
        key = (snapshot.incident.id, snapshot.fetched_at, snapshot.stale, snapshot.merged_from, shown, when)
        blocks = self._drawn.get(key)
        if blocks is not None:
            self._drawn.move_to_end(key)
        else:
            blocks = draw_card(snapshot, ctx)
            self._drawn[key] = blocks
            if len(self._drawn) > self._size:
                self._drawn.popitem(last=False)
        return blocks


def unfurl_error_body(text: str) -> dict[str, Any]:
    """One link's value in `unfurls` when its incident could not be shown."""
    return {"blocks": build_error_blocks(text)}


def block_kit_builder_url(blocks: list[dict[str, Any]]) -> str:
    """A Block Kit Builder link that opens `blocks` in its message preview.

    The JSON travels in the fragment, so it is not sent in the request for the page, but Slack's
    page reads it in the browser: the link carries everything the card shows.
    """
    payload = json.dumps({"blocks": blocks}, ensure_ascii=False, separators=(",", ":"))
    return BUILDER_URL + quote(payload, safe="")
