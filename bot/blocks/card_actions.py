"""The incident card's actions row (chat messages, ephemeral answers and link unfurls).

Every button carries the same `IncidentRef` JSON as its value, so one parser serves all click
handlers; the overflow menu's options carry "<action-id>:<incident-id>" (150-character limit).
"""

from __future__ import annotations

from typing import Any

from bot.blocks.ids import ActionId, BlockId
from bot.blocks.refs import button_value, encode_more_value
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


def _option(action: ActionId, text: str, incident_id: str) -> dict[str, Any]:
    return {"text": plain(text, 75), "value": encode_more_value(action, incident_id)}


def more_menu(incident: Incident) -> dict[str, Any]:
    """The overflow menu: Tags… always (so it is never empty), the rest when they apply."""
    options = [_option(ActionId.TAGS, "Tags…", incident.id)]
    if incident.status not in (Status.IN_PROGRESS, Status.RESOLVED):
        options.append(_option(ActionId.IN_PROGRESS, "Set in progress", incident.id))
    if incident.assigned_to:
        options.append(_option(ActionId.UNASSIGN, "Unassign", incident.id))
    return {"type": "overflow", "action_id": ActionId.MORE.value, "options": options}


def actions_block(
    incident: Incident, open_url: str, *, unfurl_url: str | None, shareable: bool
) -> dict[str, Any]:
    """Comment, assign, resolve or reopen, refresh, open in Defender, share (ephemeral cards), more."""
    value = button_value(incident.id, unfurl_url)
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
    elements.append(more_menu(incident))
    return {"type": "actions", "block_id": BlockId.CARD_ACTIONS.value, "elements": elements}
