"""Building blocks shared by the modals (views.open / views.update payloads): inputs, options, frame."""

from __future__ import annotations

from typing import Any

from bot.blocks.ids import ActionId, CallbackId
from bot.blocks.seal import Sealed
from bot.blocks.text import mrkdwn, mrkdwn_cut, one_line, plain

TITLE_CHARS = 300
OPTION_TEXT_CHARS = 75
LABEL_CHARS = 2000


def input_block(
    block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str | None = None
) -> dict[str, Any]:
    """An input block; `optional` ones show "(optional)" and may be left empty."""
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, LABEL_CHARS),
        "element": element,
    }
    if optional:
        block["optional"] = True
    if hint:
        block["hint"] = plain(hint, LABEL_CHARS)
    return block


def modal_view(
    callback: CallbackId, title: str, submit: str, ref: Sealed, blocks: list[dict[str, Any]]
) -> dict[str, Any]:
    """A modal with Cancel and `submit` buttons, carrying the sealed `ref` in private_metadata."""
    return {
        "type": "modal",
        "callback_id": callback.value,
        "title": plain(title, 24),
        "submit": plain(submit, 24),
        "close": plain("Cancel", 24),
        "private_metadata": ref.value,
        "blocks": blocks,
    }


def incident_line(incident_id: str, title: str, marker: str = "") -> dict[str, Any]:
    """A section naming the incident the modal acts on: "*Incident 123* · title" (title escaped)."""
    shown = mrkdwn_cut(one_line(title), TITLE_CHARS)
    prefix = f"{marker} " if marker else ""
    text = f"{prefix}*Incident {incident_id}*" + (f" · {shown}" if shown else "")
    return {"type": "section", "text": mrkdwn(text)}


def context_block(text: str) -> dict[str, Any]:
    """A context block of one mrkdwn text that is already escaped."""
    return {"type": "context", "elements": [mrkdwn(text)]}


def option(text: str, value: str) -> dict[str, Any]:
    """A select option; `text` is cut to 75 characters, `value` must already fit in 150."""
    return {"text": plain(text, OPTION_TEXT_CHARS), "value": value}


def textarea(action: ActionId, max_length: int, placeholder: str) -> dict[str, Any]:
    """A multiline plain_text_input."""
    return {
        "type": "plain_text_input",
        "action_id": action.value,
        "multiline": True,
        "max_length": max_length,
        "placeholder": plain(placeholder, 150),
    }
