"""Modals for the moment between a click and its data: "Loading…" first, then the real modal or a notice.

A click's trigger_id is good for 3 s, and the incident API may take longer, so the modal opens at
once with one of these and is replaced by `views.update` when the incident has been read.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.ids import ActionId, CallbackId
from bot.blocks.modals import build_assign_modal, build_comment_modal, build_resolve_modal
from bot.blocks.seal import Sealed
from bot.blocks.tags_modal import build_tags_modal
from bot.blocks.text import mrkdwn, mrkdwn_cut, plain
from bot.blocks.view_parts import incident_line
from bot.models import Incident

NOTICE_CHARS = 2000
MODAL_TITLES = {
    ActionId.COMMENT: "Add comment",
    ActionId.ASSIGN: "Assign incident",
    ActionId.RESOLVE: "Resolve incident",
    ActionId.TAGS: "Edit tags",
}


def _pending(modal: ActionId, ref: Sealed, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": CallbackId.PENDING_MODAL.value,
        "title": plain(MODAL_TITLES[modal], 24),
        "close": plain("Close", 24),
        "private_metadata": ref.value,
        "blocks": blocks,
    }


def build_loading_modal(modal: ActionId, ref: Sealed) -> dict[str, Any]:
    """What opens on the click: the incident's number and "Loading…", nothing to submit yet."""
    loading = {"type": "context", "elements": [mrkdwn(":hourglass_flowing_sand: Loading the incident…")]}
    return _pending(modal, ref, [incident_line(ref.id, ""), loading])


def build_notice_modal(modal: ActionId, ref: Sealed, text: str) -> dict[str, Any]:
    """The modal replaced by a short explanation (a refusal, or why the incident could not be read)."""
    notice = {"type": "section", "text": mrkdwn(mrkdwn_cut(text, NOTICE_CHARS))}
    return _pending(modal, ref, [incident_line(ref.id, ""), notice])


def build_modal_for(
    modal: ActionId, ref: Sealed, incident: Incident, classification: str | None = None
) -> dict[str, Any]:
    """The modal the click asked for, filled from the incident (resolve: narrowed to `classification`)."""
    match modal:
        case ActionId.COMMENT:
            return build_comment_modal(ref, incident.display_name)
        case ActionId.ASSIGN:
            return build_assign_modal(ref, incident.assigned_to)
        case ActionId.RESOLVE:
            return build_resolve_modal(ref, incident, classification=classification)
        case ActionId.TAGS:
            return build_tags_modal(ref, incident.custom_tags)
    raise ValueError(f"{modal} opens no modal")


def build_out_of_date_modal(text: str) -> dict[str, Any]:
    """What a modal whose private_metadata the bot cannot vouch for becomes: why nothing was done."""
    return {
        "type": "modal",
        "title": plain("Out of date", 24),
        "close": plain("Close", 24),
        "blocks": [{"type": "section", "text": mrkdwn(mrkdwn_cut(text, NOTICE_CHARS))}],
    }


def build_problem_modal(text: str) -> dict[str, Any]:
    """Pushed over a modal whose submission failed on our side: the form stays underneath, as typed."""
    return {
        "type": "modal",
        "title": plain("Something went wrong", 24),
        "close": plain("Back", 24),
        "blocks": [{"type": "section", "text": mrkdwn(mrkdwn_cut(text, NOTICE_CHARS))}],
    }
