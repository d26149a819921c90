"""The JSON bodies the bot sends with an incident card, one per surface.

The bot (bot/work/reading.py) and `incident-bot card` both build their bodies here, so what the
command prints is what Slack receives. Pure: settings values, snapshot and clock come in as
arguments.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import quote

from bot.blocks.incident import CardContext, build_incident_card, card_fallback_text
from bot.blocks.messages import build_error_blocks
from bot.blocks.seal import CardSeal
from bot.models import IncidentSnapshot

Surface = Literal["message", "unfurl", "ephemeral"]
SURFACES: tuple[Surface, ...] = ("message", "unfurl", "ephemeral")
MESSAGE_BLOCKS = 50  # Slack's limit per message
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
    )


def ephemeral_card_body(snapshot: IncidentSnapshot, ctx: CardContext) -> dict[str, Any]:
    """The `/incident` answer posted to the response_url (ctx should be `shareable`)."""
    return {
        "response_type": "ephemeral",
        "text": card_fallback_text(snapshot),
        "blocks": build_incident_card(snapshot, ctx),
    }


def ephemeral_error_body(text: str) -> dict[str, Any]:
    """The `/incident` answer when the incident could not be shown."""
    return {"response_type": "ephemeral", "text": text, "blocks": build_error_blocks(text)}


def shared_by_block(user_id: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Shared by <@{user_id}>"}]}


def message_card_body(
    snapshot: IncidentSnapshot, ctx: CardContext, shared_by: str | None = None
) -> dict[str, Any]:
    """chat.postMessage arguments but the channel; `shared_by` (a user id) adds the "Shared by" line."""
    blocks = build_incident_card(snapshot, ctx)
    if shared_by is not None:
        blocks = [shared_by_block(shared_by), *blocks]
    return {
        "text": card_fallback_text(snapshot),
        # the card stays well under the limit; the cut only guards against a future extra block
        "blocks": blocks[:MESSAGE_BLOCKS],
        # the card's own portal link would otherwise unfurl under it, showing the incident twice
        "unfurl_links": False,
    }


def unfurl_body(snapshot: IncidentSnapshot, ctx: CardContext) -> dict[str, Any]:
    """One link's value in chat.unfurl's `unfurls` (ctx.unfurl_url is that link)."""
    return {"blocks": build_incident_card(snapshot, ctx)}


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
