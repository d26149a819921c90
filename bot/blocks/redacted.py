"""The redacted incident card: what a conversation with outsiders may see of an incident.

An unfurl is read by everyone in the conversation, so where the policy says `redacted` (a public
channel, one shared with another organisation) the card says only what names nobody: the incident
id, severity and status, when it was opened, whether it is assigned (never to whom), the portal
link, and the title only where the deployment lets it (`UNFURL_REDACTED_TITLE=show`; Defender
titles often name users and hosts). No description, summary, classification, tags, comments,
alerts or evidence. Status and severity are shown only as values the bot knows; anything else
the API sent there reads "Other", so every word on this card comes from the bot, not Defender
(the id aside, which `portal_link` has validated, and the title where it is shown).

"Show details" carries the same sealed value as the full card's buttons; its handler sends the
full card ephemerally to a clicker who may read incidents, and a refusal to anyone else.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.ids import ActionId, BlockId
from bot.blocks.incident import (
    HEADER_CHARS,
    UNREADABLE_VALUE,
    CardContext,
    freshness_block,
    merged_note,
    portal_link,
)
from bot.blocks.messages import build_sample_data_note
from bot.blocks.text import (
    mrkdwn,
    mrkdwn_cut,
    one_line,
    plain,
    severity_label,
    severity_marker,
    slack_date,
    status_label,
)
from bot.models import Incident, IncidentSnapshot, Severity, Status

BUTTON_TEXT_CHARS = 75
LIMITED_NOTE = (
    ":lock: Details are limited in this conversation. "
    "*Show details* sends you the full incident, visible only to you, if you may see it."
)
# Values the API may send that the bot has words for (Graph's stand-ins for "not known" included);
# any other value is shown as OTHER, never as sent.
KNOWN_STATUSES = frozenset({*Status, "unknown", "unknownFutureValue"})
KNOWN_SEVERITIES = frozenset({*Severity, "unknownFutureValue"})
OTHER = "Other"


def _status(incident: Incident) -> str:
    status = str(incident.status)
    return status_label(status) if status in KNOWN_STATUSES else OTHER


def _severity(incident: Incident) -> str:
    severity = str(incident.severity)
    return severity_label(severity) if severity in KNOWN_SEVERITIES else OTHER


def _opened(incident: Incident) -> str:
    """How long ago the incident was created, as a date token each reader's Slack keeps current
    ("3 hours ago"): an unfurl stays in the conversation long after it was drawn."""
    if incident.created_date_time is None:
        return "—"
    return slack_date(incident.created_date_time, "{ago}")


def _fields(incident: Incident) -> dict[str, Any]:
    unreadable = set(incident.unreadable_fields)

    def field(label: str, name: str, value: str) -> dict[str, Any]:
        return mrkdwn(f"*{label}*\n{UNREADABLE_VALUE if name in unreadable else value}")

    # whether it is assigned, never to whom
    assigned = "Assigned" if (incident.assigned_to or "").strip() else "_Unassigned_"
    # the marker of a value the bot does not know is the white circle, like "Other"
    severity = f"{severity_marker(str(incident.severity))} {_severity(incident)}"
    return {
        "type": "section",
        "fields": [
            field("Status", "status", _status(incident)),
            field("Severity", "severity", severity),
            field("Assignment", "assignedTo", assigned),
            field("Opened", "createdDateTime", _opened(incident)),
        ],
    }


def _button(action_id: str, text: str, **extra: str) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": plain(text, BUTTON_TEXT_CHARS), **extra}


def _actions(incident: Incident, url: str, ctx: CardContext) -> dict[str, Any]:
    """Show details (the sealed value every card button carries) and Open in Defender."""
    value = ctx.seal.button_value(incident.id, ctx.unfurl_url)
    return {
        "type": "actions",
        "block_id": BlockId.CARD_ACTIONS.value,
        "elements": [
            _button(ActionId.SHOW_DETAILS.value, "Show details", value=value, style="primary"),
            # a url button: its block_actions is acked by the OPEN listener, as on the full card
            _button(ActionId.OPEN.value, "Open in Defender", url=url),
        ],
    }


def build_redacted_card(
    snapshot: IncidentSnapshot, ctx: CardContext, *, show_title: bool
) -> list[dict[str, Any]]:
    """The redacted card's blocks (at most 8): nothing on it names a person, a host or an address,
    and the title is on it only when `show_title`. `ctx.shareable` is ignored: this card is never
    shared on, its full version is asked for."""
    incident = snapshot.incident
    url = portal_link(incident, ctx)  # validates the id, which the card then shows as is
    title = incident.display_name if show_title and incident.display_name.strip() else ""
    link = f"{severity_marker(str(incident.severity))} <{url}|Incident {incident.id}> in Microsoft Defender"
    blocks: list[dict[str, Any] | None] = [
        build_sample_data_note() if ctx.sample_data else None,
        merged_note(snapshot),  # incident ids only
        # plain_text, emoji off: the title exactly as Defender has it, like the full card's
        {"type": "header", "text": plain(title or f"Incident {incident.id}", HEADER_CHARS, emoji=False)},
        {"type": "section", "text": mrkdwn(link)},
        _fields(incident),
        {"type": "context", "elements": [mrkdwn(LIMITED_NOTE)]},
        freshness_block(snapshot, ctx),
        _actions(incident, url, ctx),
    ]
    return [block for block in blocks if block is not None]


def redacted_fallback_text(snapshot: IncidentSnapshot) -> str:
    """The message's top-level `text` (notifications, screen readers): id, severity, status; no title."""
    incident = snapshot.incident
    unreadable = set(incident.unreadable_fields)
    severity = "unknown severity" if "severity" in unreadable else _severity(incident)
    status = "unknown status" if "status" in unreadable else _status(incident)
    return f"Incident {mrkdwn_cut(one_line(incident.id), 25)} ({severity}, {status})"
