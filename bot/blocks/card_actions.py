"""The incident card's actions row (chat messages, ephemeral answers and link unfurls).

Every button carries the same sealed `IncidentRef` JSON as its value, so one parser serves all click
handlers; the overflow menu's options carry "<action-id>:<incident-id>:<seal>" (150-character
limit). See bot/blocks/seal.py.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.ids import ActionId, BlockId
from bot.blocks.seal import CardSeal
from bot.blocks.text import plain
from bot.models import Incident, Status

BUTTON_TEXT_CHARS = 75


def _button(action: ActionId, text: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action.value,
        "text": plain(text, BUTTON_TEXT_CHARS),
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def more_menu(incident: Incident, seal: CardSeal) -> dict[str, Any]:
    """The overflow menu: Tags… always (so it is never empty), the rest when they apply."""

    def option(action: ActionId, text: str) -> dict[str, Any]:
        return {"text": plain(text, 75), "value": seal.option_value(action, incident.id)}

    options = [option(ActionId.TAGS, "Tags…")]
    if incident.status not in (Status.IN_PROGRESS, Status.RESOLVED):
        options.append(option(ActionId.IN_PROGRESS, "Set in progress"))
    if incident.assigned_to:
        options.append(option(ActionId.UNASSIGN, "Unassign"))
    return {"type": "overflow", "action_id": ActionId.MORE.value, "options": options}


def actions_block(
    incident: Incident, open_url: str, seal: CardSeal, *, unfurl_url: str | None, shareable: bool
) -> dict[str, Any]:
    """Comment, assign, resolve or reopen, refresh, open in Defender, share (ephemeral cards), more."""
    value = seal.button_value(incident.id, unfurl_url)
    # One primary button at most: on an ephemeral card the next step is to share it, otherwise to take it.
    unowned = not incident.assigned_to and incident.status != Status.RESOLVED
    take_style = "primary" if unowned and not shareable else None
    # On an ephemeral answer sharing it comes first: nothing else the analyst does there is seen by others.
    elements = [_button(ActionId.SHARE, "Share in channel", value, "primary")] if shareable else []
    elements += [
        _button(ActionId.COMMENT, "Add comment", value),
        _button(ActionId.ASSIGN_ME, "Assign to me", value, take_style),
        _button(ActionId.ASSIGN, "Assign…", value),
    ]
    if incident.status == Status.RESOLVED:
        elements.append(_button(ActionId.REOPEN, "Reopen", value))
    else:
        # Not "danger": resolving is the normal end of the workflow, reversible, and asks for
        # classification in a modal first, so red would only teach analysts to ignore red.
        elements.append(_button(ActionId.RESOLVE, "Resolve…", value))
    elements.append(_button(ActionId.REFRESH, "Refresh", value))
    elements.append(
        {
            "type": "button",
            "action_id": ActionId.OPEN.value,
            "text": plain("Open in Defender", BUTTON_TEXT_CHARS),
            "url": open_url,
        }
    )
    elements.append(more_menu(incident, seal))
    return {"type": "actions", "block_id": BlockId.CARD_ACTIONS.value, "elements": elements}
