"""The arguments of one link's chat.unfurl: its card, and its Work Object where the deployment sends them.

The first unfurl of a message (bot/work/reading.py) and every later redraw of it (a click, the
watcher) build it here, so a redraw replaces exactly what the first unfurl showed: the same card
(full or redacted) and, with `UNFURL_STYLE=work_object`, the same entity, brought up to date.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.bodies import unfurl_body
from bot.blocks.entity import incident_entity, unfurl_metadata
from bot.blocks.incident import CardContext
from bot.models import IncidentSnapshot
from bot.work.context import Work


def sends_work_objects(work: Work) -> bool:
    return work.settings.unfurl_style == "work_object"


def link_entity(snapshot: IncidentSnapshot, ctx: CardContext) -> dict[str, Any]:
    """The Work Object of the link `ctx.unfurl_url`, within what the card may show there."""
    assert ctx.unfurl_url is not None
    return incident_entity(
        snapshot, ctx, url=ctx.unfurl_url, redacted=ctx.redacted, show_title=ctx.show_title
    )


def unfurl_arguments(work: Work, snapshot: IncidentSnapshot, ctx: CardContext) -> dict[str, Any]:
    """`unfurls` (and `metadata`) of chat.unfurl for the one link `ctx.unfurl_url`."""
    assert ctx.unfurl_url is not None
    arguments: dict[str, Any] = {"unfurls": {ctx.unfurl_url: unfurl_body(snapshot, ctx, work.cards)}}
    if sends_work_objects(work):
        arguments["metadata"] = unfurl_metadata([link_entity(snapshot, ctx)])
    return arguments
