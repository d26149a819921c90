"""Modals opened from the incident card: add comment, assign, resolve (and edit tags, in tags_modal).

Each view carries the sealed `IncidentRef` it acts on in `private_metadata` (bot/blocks/seal.py).
Value encodings that a submission handler must parse back (determination options) live next to
their builder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.blocks.ids import ActionId, BlockId, CallbackId
from bot.blocks.seal import Sealed
from bot.blocks.tags_modal import build_tags_modal, parse_new_tags, resulting_tags
from bot.blocks.text import (
    bold,
    classification_label,
    determination_label,
    mrkdwn_cut,
    one_line,
    plain,
    severity_marker,
    status_label,
    truncate,
)
from bot.blocks.view_parts import context_block, incident_line, input_block, modal_view, option, textarea
from bot.models import DETERMINATIONS_BY_CLASSIFICATION, Classification, Determination, Incident

__all__ = [
    "build_assign_modal",
    "build_comment_modal",
    "build_resolve_modal",
    "build_tags_modal",
    "determination_block_id",
    "determination_value",
    "modal_errors",
    "parse_determination_value",
    "parse_new_tags",
    "resulting_tags",
]

COMMENT_MAX_CHARS = 1000
ASSIGNEE_MAX_CHARS = 254  # the longest an email address can be
ERROR_CHARS = 300


def build_comment_modal(ref: Sealed, incident_title: str) -> dict[str, Any]:
    """Add a comment to the incident (saved in Defender under the app's name, with the author's)."""
    element = textarea(ActionId.COMMENT_TEXT, COMMENT_MAX_CHARS, "What did you find or do?")
    blocks = [
        incident_line(ref.id, incident_title),
        input_block(
            BlockId.COMMENT_INPUT,
            "Comment",
            element,
            hint="Saved to the incident in Microsoft Defender.",
        ),
    ]
    return modal_view(CallbackId.COMMENT_MODAL, "Add comment", "Add comment", ref, blocks)


def build_assign_modal(ref: Sealed, current_assignee: str | None) -> dict[str, Any]:
    """Assign the incident to a Slack user (their email) or to an email address typed in."""
    current = bold(current_assignee, 200) if current_assignee and current_assignee.strip() else ""
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
        incident_line(ref.id, ""),
        context_block(f"Currently assigned to {current}" if current else "Currently unassigned"),
        input_block(
            BlockId.ASSIGNEE_USER_INPUT,
            "Slack user",
            user,
            optional=True,
            hint="Their Slack email is used as the Defender assignee.",
        ),
        input_block(
            BlockId.ASSIGNEE_EMAIL_INPUT,
            "Or email address",
            email,
            optional=True,
            hint="Fill in one of the two. If both are filled in, the Slack user is used.",
        ),
    ]
    return modal_view(CallbackId.ASSIGN_MODAL, "Assign incident", "Assign", ref, blocks)


def determination_block_id(classification: str | None) -> str:
    """Block id of the determination input, which changes with the chosen classification."""
    # Slack keeps what was entered in an input across views.update by block id: a new id per
    # classification clears a determination that no longer fits.
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
        option(determination_label(det), determination_value(classification, det))
        for det in DETERMINATIONS_BY_CLASSIFICATION[classification]
    ]


def build_resolve_modal(ref: Sealed, incident: Incident, classification: str | None = None) -> dict[str, Any]:
    """Resolve with classification, determination (narrowed once a classification is chosen), comment."""
    # `classification` is what the user just picked (the app views.update's on ActionId.CLASSIFICATION);
    # without one, the incident's own classification, else every determination grouped by classification.
    chosen = _known_classification(classification) or _known_classification(str(incident.classification))
    class_options = {c: option(classification_label(c), c.value) for c in DETERMINATIONS_BY_CLASSIFICATION}
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
            {"label": plain(classification_label(c), 75), "options": _determination_options(c)}
            for c in DETERMINATIONS_BY_CLASSIFICATION
        ]
    else:
        class_select["initial_option"] = class_options[chosen]
        det_select["options"] = _determination_options(chosen)
        current = str(incident.determination)
        if current in DETERMINATIONS_BY_CLASSIFICATION[chosen] and chosen == incident.classification:
            det_select["initial_option"] = option(
                determination_label(current), determination_value(chosen, Determination(current))
            )
    classification_input = input_block(BlockId.CLASSIFICATION_INPUT, "Classification", class_select)
    # Lets the app narrow the determinations (views.update) as soon as a classification is picked.
    classification_input["dispatch_action"] = True
    comment = textarea(ActionId.RESOLVE_COMMENT, COMMENT_MAX_CHARS, "Why is it resolved? What was done?")
    blocks = [
        incident_line(ref.id, incident.display_name, severity_marker(str(incident.severity))),
        context_block(f"Status *{mrkdwn_cut(status_label(incident.status), 40)}*"),
        classification_input,
        input_block(determination_block_id(chosen), "Determination", det_select),
        input_block(BlockId.RESOLVE_COMMENT_INPUT, "Resolving comment", comment, optional=True),
    ]
    return modal_view(CallbackId.RESOLVE_MODAL, "Resolve incident", "Resolve", ref, blocks)


def modal_errors(errors: Mapping[str, str]) -> dict[str, Any]:
    """The `ack` body that shows an error under each named input block."""
    return {
        "response_action": "errors",
        "errors": {
            str(block_id): truncate(one_line(message), ERROR_CHARS) for block_id, message in errors.items()
        },
    }
