"""The warning "Share in channel" gives before it puts an incident where outsiders read. Pure.

In a public channel or one shared with another organisation the card the bot posts is the redacted
one (`UNFURL_DETAIL`): the person is told so, and what that card leaves out, before it is posted.
Where the policy shows nothing (`none`), sharing is refused instead.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.ids import ActionId, BlockId
from bot.blocks.text import mrkdwn, plain

SHARE_WARNING = (
    ":warning: *People outside your security team may read this conversation* "
    "(a public channel, or one shared with another organisation). "
    "Shared here, incident {id} shows only its id, severity, status, age and whether it is assigned{title}: "
    "no description, comments, alerts, evidence, user or device names. "
    "Anyone who may see incidents can still open the full card for themselves."
)
SHARE_REFUSED = (
    "Not shared: incident details are not shown in this conversation "
    "(an admin chose `none` for it in UNFURL_DETAIL)."
)


def build_share_warning(incident_id: str, button_value: str, *, show_title: bool) -> list[dict[str, Any]]:
    """The warning and its "Share limited card" button (`button_value`: the card's sealed value)."""
    title = ", and its title" if show_title else ""
    text = SHARE_WARNING.format(id=incident_id, title=title)
    share = {
        "type": "button",
        "action_id": ActionId.SHARE_CONFIRMED.value,
        "text": plain("Share limited card", 75),
        "value": button_value,
        "style": "primary",
    }
    return [
        {"type": "section", "text": mrkdwn(text)},
        {"type": "actions", "block_id": BlockId.SHARE_WARNING_ACTIONS.value, "elements": [share]},
    ]


def share_warning_text(incident_id: str) -> str:
    """The warning's top-level `text` (notifications, screen readers)."""
    return f"Incident {incident_id} would be shared with limited details here: confirm to share it."
