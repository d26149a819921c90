"""Modals opened from the incident card: add comment, assign, resolve and edit tags.

Each view carries the `IncidentRef` it acts on in `private_metadata`. Value encodings that a
submission handler must parse back (determination options, tag options) live next to their builder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.blocks.ids import ActionId, BlockId, CallbackId
from bot.blocks.refs import IncidentRef
from bot.blocks.text import (
    classification_label,
    determination_label,
    mrkdwn,
    mrkdwn_cut,
    one_line,
    plain,
    severity_marker,
    status_label,
    truncate,
)
from bot.models import DETERMINATIONS_BY_CLASSIFICATION, Classification, Determination, Incident

COMMENT_MAX_CHARS = 1000
ASSIGNEE_MAX_CHARS = 254  # the longest an email address can be
TAGS_NEW_MAX_CHARS = 500
OPTION_VALUE_CHARS = 150
MAX_OPTIONS = 100
TITLE_CHARS = 300
ERROR_CHARS = 300
TEXT_CHARS = 75


def _input(
    block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str | None = None
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
    }
    if optional:
        block["optional"] = True
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def _modal(
    callback: CallbackId, title: str, submit: str, ref: IncidentRef, blocks: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback.value,
        "title": plain(title, 24),
        "submit": plain(submit, 24),
        "close": plain("Cancel", 24),
        "private_metadata": ref.dumps(),
        "blocks": blocks,
    }


def _incident_line(incident_id: str, title: str, marker: str = "") -> dict[str, Any]:
    shown = mrkdwn_cut(one_line(title), TITLE_CHARS)
    prefix = f"{marker} " if marker else ""
    text = f"{prefix}*Incident {incident_id}*" + (f" · {shown}" if shown else "")
    return {"type": "section", "text": mrkdwn(text)}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(text)]}


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text, TEXT_CHARS), "value": value}


def _textarea(action: ActionId, max_length: int, placeholder: str) -> dict[str, Any]:
    return {
        "type": "plain_text_input",
        "action_id": action.value,
        "multiline": True,
        "max_length": max_length,
        "placeholder": plain(placeholder, 150),
    }


def build_comment_modal(ref: IncidentRef, incident_title: str) -> dict[str, Any]:
    """Add a comment to the incident (saved in Defender under the app's name, with the author's)."""
    element = _textarea(ActionId.COMMENT_TEXT, COMMENT_MAX_CHARS, "What did you find or do?")
    blocks = [
        _incident_line(ref.id, incident_title),
        _input(
            BlockId.COMMENT_INPUT,
            "Comment",
            element,
            hint="Saved to the incident in Microsoft Defender, with your name.",
        ),
    ]
    return _modal(CallbackId.COMMENT_MODAL, "Add comment", "Add comment", ref, blocks)


def build_assign_modal(ref: IncidentRef, current_assignee: str | None) -> dict[str, Any]:
    """Assign the incident to a Slack user (their email) or to an email address typed in."""
    current = mrkdwn_cut(one_line(current_assignee or ""), 200)
    user = {
        "type": "users_select",
        "action_id": ActionId.ASSIGNEE_USER.value,
        "placeholder": plain("Pick a person", 150),
    }
    email = {
        "type": "plain_text_input",
        "action_id": ActionId.ASSIGNEE_EMAIL.value,
        "max_length": ASSIGNEE_MAX_CHARS,
        "placeholder": plain("name@contoso.com", 150),
    }
    blocks = [
        _incident_line(ref.id, ""),
        _context(f"Currently assigned to *{current}*" if current else "Currently unassigned"),
        _input(
            BlockId.ASSIGNEE_USER_INPUT,
            "Slack user",
            user,
            optional=True,
            hint="Their Slack email is used as the Defender assignee.",
        ),
        _input(
            BlockId.ASSIGNEE_EMAIL_INPUT,
            "Or email address",
            email,
            optional=True,
            hint="Fill in one of the two. If both are filled in, the Slack user is used.",
        ),
    ]
    return _modal(CallbackId.ASSIGN_MODAL, "Assign incident", "Assign", ref, blocks)


def determination_block_id(classification: str | None) -> str:
    """Block id of the determination input; it changes with the classification so that a
    `views.update` clears a determination that no longer fits (Slack keeps input by block id)."""
    known = _known_classification(classification)
    return BlockId.DETERMINATION_INPUT.value if known is None else f"{BlockId.DETERMINATION_INPUT}-{known}"


def determination_value(classification: Classification, determination: Determination) -> str:
    """Option value "classification:determination": the choice names its classification too."""
    return f"{classification.value}:{determination.value}"


def parse_determination_value(value: str) -> tuple[Classification, Determination]:
    """Inverse of determination_value; ValueError for a pair Defender would not accept."""
    cls_text, _, det_text = value.partition(":")
    try:
        classification, determination = Classification(cls_text), Determination(det_text)
    except ValueError:
        raise ValueError("invalid determination option") from None
    if determination not in DETERMINATIONS_BY_CLASSIFICATION.get(classification, ()):
        raise ValueError("determination does not fit the classification")
    return classification, determination


def _known_classification(value: str | None) -> Classification | None:
    try:
        classification = Classification(value) if value else None
    except ValueError:
        return None
    return classification if classification in DETERMINATIONS_BY_CLASSIFICATION else None


def _determination_options(classification: Classification) -> list[dict[str, Any]]:
    return [
        _option(determination_label(det), determination_value(classification, det))
        for det in DETERMINATIONS_BY_CLASSIFICATION[classification]
    ]


def build_resolve_modal(
    ref: IncidentRef, incident: Incident, classification: str | None = None
) -> dict[str, Any]:
    """Resolve with classification, determination and an optional comment; the determination list
    narrows to the chosen classification when the app `views.update`s on the classification's action."""
    chosen = _known_classification(classification) or _known_classification(str(incident.classification))
    class_options = {c: _option(classification_label(c), c.value) for c in DETERMINATIONS_BY_CLASSIFICATION}
    class_select: dict[str, Any] = {
        "type": "static_select",
        "action_id": ActionId.CLASSIFICATION.value,
        "placeholder": plain("Choose a classification", 150),
        "options": list(class_options.values()),
    }
    det_select: dict[str, Any] = {
        "type": "static_select",
        "action_id": ActionId.DETERMINATION.value,
        "placeholder": plain("Choose a determination", 150),
    }
    if chosen is None:
        det_select["option_groups"] = [
            {"label": plain(classification_label(c), TEXT_CHARS), "options": _determination_options(c)}
            for c in DETERMINATIONS_BY_CLASSIFICATION
        ]
    else:
        class_select["initial_option"] = class_options[chosen]
        det_select["options"] = _determination_options(chosen)
        current = str(incident.determination)
        if current in DETERMINATIONS_BY_CLASSIFICATION[chosen] and chosen == incident.classification:
            det_select["initial_option"] = _option(
                determination_label(current), determination_value(chosen, Determination(current))
            )
    classification_input = _input(BlockId.CLASSIFICATION_INPUT, "Classification", class_select)
    # Lets the app narrow the determinations (views.update) as soon as a classification is picked.
    classification_input["dispatch_action"] = True
    comment = _textarea(ActionId.RESOLVE_COMMENT, COMMENT_MAX_CHARS, "Why is it resolved? What was done?")
    blocks = [
        _incident_line(ref.id, incident.display_name, severity_marker(str(incident.severity))),
        _context(f"Status *{mrkdwn_cut(status_label(incident.status), 40)}*"),
        classification_input,
        _input(determination_block_id(chosen), "Determination", det_select),
        _input(BlockId.RESOLVE_COMMENT_INPUT, "Resolving comment", comment, optional=True),
    ]
    return _modal(CallbackId.RESOLVE_MODAL, "Resolve incident", "Resolve", ref, blocks)


def _offered_tags(tags: Sequence[str]) -> list[str]:
    """Tags that fit in an option value, each once, at most 100 (Slack's option limit)."""
    offered: list[str] = []
    for tag in tags:
        if tag and len(tag) <= OPTION_VALUE_CHARS and tag not in offered:
            offered.append(tag)
    return offered[:MAX_OPTIONS]


def build_tags_modal(ref: IncidentRef, current_tags: Sequence[str]) -> dict[str, Any]:
    """Edit custom tags: current tags preselected (unselect to remove), new ones comma separated."""
    offered = _offered_tags(current_tags)
    blocks: list[dict[str, Any]] = [_incident_line(ref.id, "")]
    if offered:
        options = [_option(tag, tag) for tag in offered]
        select = {
            "type": "multi_static_select",
            "action_id": ActionId.TAGS_SELECT.value,
            "placeholder": plain("No tags", 150),
            "options": options,
            "initial_options": options,
        }
        blocks.append(
            _input(
                BlockId.TAGS_SELECT_INPUT,
                "Current tags",
                select,
                optional=True,
                hint="Remove a tag by unselecting it.",
            )
        )
    hidden = len({t for t in current_tags if t}) - len(offered)
    if hidden > 0:
        blocks.append(_context(f"{hidden} more tags are kept as they are (edit them in Defender)."))
    new = {
        "type": "plain_text_input",
        "action_id": ActionId.TAGS_NEW.value,
        "max_length": TAGS_NEW_MAX_CHARS,
        "placeholder": plain("e.g. ransomware, vip", 150),
    }
    blocks.append(
        _input(BlockId.TAGS_NEW_INPUT, "Add tags", new, optional=True, hint="Separate tags with commas.")
    )
    return _modal(CallbackId.TAGS_MODAL, "Edit tags", "Save", ref, blocks)


def parse_new_tags(text: str | None) -> list[str]:
    """The tags typed in the "Add tags" input: comma or newline separated, trimmed, each once."""
    tags: list[str] = []
    for part in (text or "").replace("\n", ",").split(","):
        tag = one_line(part)
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def resulting_tags(current: Sequence[str], selected: Sequence[str], new_text: str | None) -> list[str]:
    """The tags after a tags-modal submission: offered tags the user kept, tags that could not be
    offered (too long, past 100), then the new ones. Values not among `current` are ignored."""
    offered = set(_offered_tags(current))
    kept = [tag for tag in dict.fromkeys(current) if tag and (tag not in offered or tag in selected)]
    return kept + [tag for tag in parse_new_tags(new_text) if tag not in kept]


def modal_errors(errors: Mapping[str, str]) -> dict[str, Any]:
    """The `ack` body that shows an error under each named input block."""
    return {
        "response_action": "errors",
        "errors": {
            str(block_id): truncate(one_line(message), ERROR_CHARS) for block_id, message in errors.items()
        },
    }
