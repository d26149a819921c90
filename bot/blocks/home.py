"""The App Home tab (`views.publish`): the reader's incidents, unassigned high-severity ones, and the
channels whose incident subscriptions they can see.

Three sections, each at most 10 rows (the incident rows of `/incident list`, with their own "Show"
button) and "+N more" pointing at `/incident list`, then when Defender was read and the caller's
note. At most 33 blocks and a few tens of kB whatever the incidents hold (a home tab may have 100
blocks and 250 kB).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.blocks.ids import ActionId
from bot.blocks.incident_list import PAGE_SIZE, incident_row, note_block, read_at_block
from bot.blocks.seal import CardSeal
from bot.blocks.text import code_span, mrkdwn, mrkdwn_cut, one_line, plain
from bot.models import Incident

ROWS_SHOWN = PAGE_SIZE
SUBSCRIPTION_CHARS = 200
HOME_TITLE = "Microsoft Defender incidents"
NO_EMAIL = (
    ":information_source: The bot cannot match incidents to you: your Slack profile has no email "
    "address it can read, and Defender assigns incidents by email. Ask your Slack admin about it."
)
NOT_READ = "_Defender could not be read just now._"
_CHANNEL = re.compile(r"[CG][A-Z0-9]{2,30}")


def _title(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(f"*{text}*")}


def _line(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def _more(hidden: int, hint: str) -> dict[str, Any] | None:
    if hidden <= 0:
        return None
    return {"type": "context", "elements": [mrkdwn(f"+{hidden} more: {hint}")]}


def _incidents(
    incidents: Sequence[Incident],
    *,
    empty: str,
    command: str,
    readable: bool,
    seal: CardSeal,
    portal_url: str,
    tenant_id: str | None,
) -> list[dict[str, Any]]:
    """Up to 10 rows, then "+N more"; the empty state, or that Defender was not read, otherwise."""
    if not incidents:
        return [_line(empty if readable else NOT_READ)]
    rows: list[dict[str, Any] | None] = [
        incident_row(i, action=ActionId.HOME_SHOW, seal=seal, portal_url=portal_url, tenant_id=tenant_id)
        for i in incidents[:ROWS_SHOWN]
    ]
    rows.append(_more(len(incidents) - ROWS_SHOWN, f"see them all with `{command}`."))
    return [row for row in rows if row is not None]


def _channel(channel_id: str) -> str:
    """A channel mention for a real channel id; anything else shown as (escaped) text."""
    return f"<#{channel_id}>" if _CHANNEL.fullmatch(channel_id) else code_span(channel_id, 40)


def _subscriptions(subscriptions: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """One section, a line per subscription ("• #channel: what it posts"), at most 10 lines."""
    if not subscriptions:
        return [_line("No incident subscriptions in your channels.")]
    lines = []
    for channel_id, description in subscriptions[:ROWS_SHOWN]:
        what = mrkdwn_cut(one_line(description), SUBSCRIPTION_CHARS)
        lines.append(f"• {_channel(channel_id)}" + (f": {what}" if what else ""))
    blocks: list[dict[str, Any] | None] = [
        _line("\n".join(lines)),
        _more(len(subscriptions) - ROWS_SHOWN, "`/incident subscriptions` in a channel lists its own."),
    ]
    return [block for block in blocks if block is not None]


def build_home(
    *,
    mine: Sequence[Incident],
    unassigned_high: Sequence[Incident],
    subscriptions: Sequence[tuple[str, str]],
    read_at: datetime | None,
    seal: CardSeal,
    portal_url: str,
    tenant_id: str | None,
    email_known: bool,
    now: datetime,
    note: str | None = None,
) -> dict[str, Any]:
    """The home view (`{"type": "home", "blocks": [...]}`). Pass every incident read for a section:
    the first 10 are shown and the rest counted. `read_at` None: Defender was not read (the
    incident sections say so rather than "none"). `note` is escaped like any outside text."""

    def section(incidents: Sequence[Incident], empty: str, command: str) -> list[dict[str, Any]]:
        return _incidents(
            incidents, empty=empty, command=command, readable=read_at is not None, seal=seal,
            portal_url=portal_url, tenant_id=tenant_id,
        )  # fmt: skip

    if email_known:
        assigned = section(mine, "Nothing is assigned to you.", "/incident list mine")
    else:
        assigned = [_line(NO_EMAIL)]
    unassigned = section(
        unassigned_high, "No unassigned high-severity incidents.", "/incident list unassigned high"
    )
    blocks: list[dict[str, Any] | None] = [
        {"type": "header", "text": plain(HOME_TITLE, 150)},
        read_at_block(read_at, now),
        note_block(note),
        {"type": "divider"},
        _title("Assigned to me"),
        *assigned,
        {"type": "divider"},
        _title("Unassigned, high severity"),
        *unassigned,
        {"type": "divider"},
        _title("Subscriptions in your channels"),
        *_subscriptions(subscriptions),
    ]
    return {"type": "home", "blocks": [block for block in blocks if block is not None]}
