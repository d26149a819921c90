"""The "Edit tags" modal and how its submission turns back into the incident's custom tags.

Current tags are options of a multi-select, all preselected: unselecting one removes it. Each
option's value is the tag itself, so a tag that cannot be an option (over 150 characters, or past
Slack's 100 options) is never offered and `resulting_tags` keeps it untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.blocks.ids import ActionId, BlockId, CallbackId
from bot.blocks.seal import Sealed
from bot.blocks.text import one_line, plain
from bot.blocks.view_parts import context_block, incident_line, input_block, modal_view, option

TAGS_NEW_MAX_CHARS = 500
OPTION_VALUE_CHARS = 150
MAX_OPTIONS = 100


def _offered_tags(tags: Sequence[str]) -> list[str]:
    """Tags that fit in an option value, each once, at most 100 (Slack's option limit)."""
    offered: list[str] = []
    for tag in tags:
        if tag and len(tag) <= OPTION_VALUE_CHARS and tag not in offered:
            offered.append(tag)
    return offered[:MAX_OPTIONS]


def build_tags_modal(ref: Sealed, current_tags: Sequence[str]) -> dict[str, Any]:
    """Edit custom tags: current tags preselected (unselect to remove), new ones comma separated."""
    offered = _offered_tags(current_tags)
    blocks: list[dict[str, Any]] = [incident_line(ref.id, "")]
    if offered:
        options = [option(tag, tag) for tag in offered]
        select = {
            "type": "multi_static_select",
            "action_id": ActionId.TAGS_SELECT.value,
            "placeholder": plain("No tags", 150),
            "options": options,
            "initial_options": options,
        }
        blocks.append(
            input_block(
                BlockId.TAGS_SELECT_INPUT,
                "Current tags",
                select,
                optional=True,
                hint="Remove a tag by unselecting it.",
            )
        )
    hidden = len({t for t in current_tags if t}) - len(offered)
    if hidden > 0:
        what = (
            "tag cannot be shown here and is kept as it is"
            if hidden == 1
            else "tags cannot be shown here and are kept"
        )
        blocks.append(context_block(f"{hidden} more {what} (edit in Defender)."))
    new = {
        "type": "plain_text_input",
        "action_id": ActionId.TAGS_NEW.value,
        "max_length": TAGS_NEW_MAX_CHARS,
        "placeholder": plain("e.g. ransomware, vip", 150),
    }
    blocks.append(
        input_block(BlockId.TAGS_NEW_INPUT, "Add tags", new, optional=True, hint="Separate tags with commas.")
    )
    return modal_view(CallbackId.TAGS_MODAL, "Edit tags", "Save", ref, blocks)


def parse_new_tags(text: str | None) -> list[str]:
    """The tags typed in the "Add tags" input: comma or newline separated, trimmed, each once."""
    tags: list[str] = []
    for part in (text or "").replace("\n", ",").split(","):
        tag = one_line(part)
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def resulting_tags(current: Sequence[str], selected: Sequence[str], new_text: str | None) -> list[str]:
    """The custom tags after a tags-modal submission (kept, never-offered, then new ones)."""
    # Selected values not among `current` are ignored: a submission cannot add tags through the select.
    offered = set(_offered_tags(current))
    kept = [tag for tag in dict.fromkeys(current) if tag and (tag not in offered or tag in selected)]
    return kept + [tag for tag in parse_new_tags(new_text) if tag not in kept]
