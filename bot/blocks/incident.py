"""The incident card: the blocks of a chat message, an ephemeral answer or a link unfurl.

Top to bottom: sample-data and merge notes, title, link, key fields, summary, recommended actions,
hunting queries, latest comments, alerts and affected assets, data freshness, then the actions row.
The layout has a fixed number of blocks (at most 17), so no incident can push it past Slack's 50.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from bot.blocks.card_actions import actions_block
from bot.blocks.card_sections import (
    alerts_block,
    comments_block,
    evidence_block,
    hunting_query_blocks,
    recommended_actions_block,
    resolution_block,
    summary_block,
)
from bot.blocks.messages import build_sample_data_note
from bot.blocks.seal import CardSeal
from bot.blocks.text import (
    as_utc,
    classification_label,
    code_span,
    determination_label,
    mrkdwn,
    mrkdwn_cut,
    one_line,
    plain,
    severity_label,
    severity_marker,
    slack_date,
    status_label,
)
from bot.models import Incident, IncidentSnapshot, validate_incident_id

HEADER_CHARS = 150
ASSIGNEE_CHARS = 120
TAGS_SHOWN = 8
TAG_CHARS = 60
FALLBACK_TITLE_CHARS = 150
UNREADABLE_VALUE = "_unknown (unreadable)_"
# Graph field names → words in the card's note on what could not be read.
UNREADABLE_NAMES = {
    "displayName": "title",
    "status": "status",
    "severity": "severity",
    "classification": "classification",
    "determination": "determination",
    "assignedTo": "assignee",
    "createdDateTime": "created",
    "lastUpdateDateTime": "last updated",
    "customTags": "tags",
    "systemTags": "system tags",
    "description": "description",
    "summary": "summary",
    "recommendedActions": "recommended actions",
    "recommendedHuntingQueries": "hunting queries",
    "comments": "comments",
    "alerts": "alerts",
    "resolvingComment": "resolving comment",
    "redirectIncidentId": "merge target",
}


@dataclass(frozen=True)
class CardContext:
    """Where and how a card is shown; everything here is trusted configuration or Slack's own data."""

    portal_url: str  # e.g. "https://security.microsoft.com" (the cloud's portal, trusted)
    tenant_id: str | None  # for ?tid=
    seal: CardSeal  # seals the buttons' values
    sample_data: bool = False  # demo mode: every card marked as sample data
    unfurl_url: str | None = None  # set when the card is an unfurl of this link
    shareable: bool = False  # ephemeral card: show "Share in channel"
    now: datetime | None = None
    # The bot keeps this card up to date (it is recorded and the watcher runs): the footer says so.
    # False where its refreshes have stopped, or never start (a composer preview, a CLI preview).
    live: bool = False
    # Drawn where outsiders may read (bot.config.unfurl): the redacted card, never the full one.
    redacted: bool = False
    show_title: bool = False  # a redacted card shows the title (UNFURL_REDACTED_TITLE=show)


def incident_url(portal_url: str, incident_id: str, tenant_id: str | None) -> str:
    """The incident's page in the Defender portal: "{portal}/incidents/{id}?tid={tid}"."""
    url = f"{portal_url.rstrip('/')}/incidents/{validate_incident_id(incident_id)}"
    return f"{url}?tid={quote(tenant_id, safe='')}" if tenant_id else url


def portal_link(incident: Incident, ctx: CardContext) -> str:
    """The incident's portal page, built from the configured portal and the id: never the
    `incidentWebUrl` the API sent, whose host a browser may read differently than we do."""
    return incident_url(ctx.portal_url, incident.id, ctx.tenant_id or incident.tenant_id)


def merged_note(snapshot: IncidentSnapshot) -> dict[str, Any] | None:
    if not snapshot.merged_from:
        return None
    first, *via = (mrkdwn_cut(one_line(i), 25) for i in snapshot.merged_from)
    through = f" (via {', '.join(via)})" if via else ""
    text = f":link: Incident {first} was merged into {snapshot.incident.id}{through}"
    return {"type": "context", "elements": [mrkdwn(text)]}


def _field(label: str, value: str) -> dict[str, Any]:
    return mrkdwn(f"*{label}*\n{value}")


def _tags(tags: list[str]) -> str:
    shown = " ".join(code_span(tag, TAG_CHARS) for tag in tags[:TAGS_SHOWN])
    return shown + (f" +{len(tags) - TAGS_SHOWN} more" if len(tags) > TAGS_SHOWN else "")


def _date(value: datetime | None) -> str:
    return slack_date(value) if value else "—"


def _label(text: str) -> str:
    """An enum label; values the bot does not know come as sent, so they are escaped and cut too."""
    return mrkdwn_cut(one_line(text), 60)


def _fields(incident: Incident) -> dict[str, Any]:
    severity = str(incident.severity)
    assignee = mrkdwn_cut(one_line(incident.assigned_to or ""), ASSIGNEE_CHARS) or "_Unassigned_"
    unreadable = set(incident.unreadable_fields)

    def field(label: str, name: str, value: str) -> dict[str, Any]:
        return _field(label, UNREADABLE_VALUE if name in unreadable else value)

    fields = [
        field("Status", "status", _label(status_label(incident.status))),
        field("Severity", "severity", f"{severity_marker(severity)} {_label(severity_label(severity))}"),
        field("Classification", "classification", _label(classification_label(incident.classification))),
        field("Determination", "determination", _label(determination_label(incident.determination))),
        field("Assigned to", "assignedTo", assignee),
        field("Created", "createdDateTime", _date(incident.created_date_time)),
        field("Last updated", "lastUpdateDateTime", _date(incident.last_update_date_time)),
    ]
    if incident.custom_tags or "customTags" in unreadable:
        fields.append(field("Tags", "customTags", _tags(incident.custom_tags)))
    if incident.system_tags or "systemTags" in unreadable:
        fields.append(field("System tags", "systemTags", _tags(incident.system_tags)))
    return {"type": "section", "fields": fields}


def _unreadable_note(incident: Incident, url: str) -> dict[str, Any] | None:
    """Which parts of Defender's answer could not be read, so nobody takes "unknown" for a value."""
    names = [UNREADABLE_NAMES.get(name, "other details") for name in incident.unreadable_fields]
    if not names:
        return None
    parts = ", ".join(dict.fromkeys(names))
    text = f":warning: Part of Defender's answer could not be read ({parts}): see <{url}|Defender>."
    return {"type": "context", "elements": [mrkdwn(text)]}


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{max(round(seconds), 1)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours = round(minutes / 60)
    return f"{hours} h" if hours < 48 else f"{round(hours / 24)} days"


def freshness_block(snapshot: IncidentSnapshot, ctx: CardContext) -> dict[str, Any]:
    fetched = slack_date(snapshot.fetched_at)
    if not snapshot.stale:
        # "checked" is when the bot last read Defender for this card: a live card is redrawn only
        # when the incident changes, so an unchanged one keeps the time of its last change.
        when = f"Live · checked {fetched}" if ctx.live else f"data as of {fetched}"
        return {"type": "context", "elements": [mrkdwn(f":shield: Microsoft Defender · {when}")]}
    now = ctx.now
    age = f", {_age(snapshot.age_seconds(as_utc(now)))} old" if now else ""
    text = f":warning: *Data may be out of date* (Defender API busy or unavailable); as of {fetched}{age}"
    # A section, not grey context text: it sits right above the buttons and must be read before acting.
    return {"type": "section", "text": mrkdwn(text)}


def build_incident_card(snapshot: IncidentSnapshot, ctx: CardContext) -> list[dict[str, Any]]:
    """The card's blocks, within every Slack limit whatever the incident holds."""
    incident = snapshot.incident
    url = portal_link(incident, ctx)
    title = incident.display_name if incident.display_name.strip() else f"Incident {incident.id}"
    link = f"{severity_marker(str(incident.severity))} <{url}|Incident {incident.id}> in Microsoft Defender"
    blocks: list[dict[str, Any] | None] = [
        build_sample_data_note() if ctx.sample_data else None,
        merged_note(snapshot),
        # plain_text, emoji off: the title is shown exactly as Defender has it (see text.plain)
        {"type": "header", "text": plain(title, HEADER_CHARS, emoji=False)},
        {"type": "section", "text": mrkdwn(link)},
        _fields(incident),
        {"type": "divider"},
        resolution_block(incident),
        summary_block(incident, url),
        recommended_actions_block(incident),
        *hunting_query_blocks(incident.recommended_hunting_queries),
        comments_block(incident.comments),
        alerts_block(incident.alerts),
        evidence_block(incident.alerts),
        _unreadable_note(incident, url),
        freshness_block(snapshot, ctx),
        actions_block(incident, url, ctx.seal, unfurl_url=ctx.unfurl_url, shareable=ctx.shareable),
    ]
    return [block for block in blocks if block is not None]


def card_fallback_text(snapshot: IncidentSnapshot) -> str:
    """The message's top-level `text` (notifications, screen readers): id, title, severity, status."""
    incident = snapshot.incident
    title = mrkdwn_cut(one_line(incident.display_name), FALLBACK_TITLE_CHARS) or "(no title)"
    severity = mrkdwn_cut(one_line(severity_label(str(incident.severity))), 40)
    status = mrkdwn_cut(one_line(status_label(incident.status)), 40)
    return f"Incident {mrkdwn_cut(incident.id, 25)}: {title} ({severity}, {status})"
