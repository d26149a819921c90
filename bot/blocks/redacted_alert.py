"""The redacted alert card: an alert link's unfurl where outsiders read (`UNFURL_DETAIL=redacted`).

Like the redacted incident card (bot/blocks/redacted.py): the alert id, its status, severity,
category and when its activity began, the incident it belongs to (id and status only), the portal
link, and the title only where `UNFURL_REDACTED_TITLE=show`. No evidence, description, techniques
or names. Status, severity and category appear only as values the bot has words for; anything else
the API sent there reads "Other". "Show incident" sends the incident's full card, ephemerally, to a
clicker who may read incidents.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.alert_card import alert_url, category_label
from bot.blocks.ids import ActionId, BlockId
from bot.blocks.incident import HEADER_CHARS, UNREADABLE_VALUE, CardContext, incident_url
from bot.blocks.messages import build_sample_data_note
from bot.blocks.redacted import KNOWN_SEVERITIES, KNOWN_STATUSES, OTHER
from bot.blocks.text import mrkdwn, plain, severity_label, severity_marker, slack_date, status_label
from bot.errors import InvalidIncidentId
from bot.models import IncidentSnapshot, validate_incident_id
from bot.models.alert_ids import AlertDetail

BUTTON_TEXT_CHARS = 75
LIMITED_NOTE = (
    ":lock: Details are limited in this conversation. "
    "*Show incident* sends you the full incident, visible only to you, if you may see it."
)
# The alert statuses of Graph's alert resource (and the legacy API's, camelCased as the model keeps them)
_ALERT_STATUSES = {
    "new": "New",
    "inProgress": "In progress",
    "resolved": "Resolved",
    "unknown": "Unknown",
    "unknownFutureValue": "Unknown",
}
# Graph's alert categories (MITRE ATT&CK tactics and Defender's own); others read "Other"
_CATEGORIES = frozenset(
    {
        "InitialAccess", "Execution", "Persistence", "PrivilegeEscalation", "DefenseEvasion",
        "CredentialAccess", "Discovery", "LateralMovement", "Collection", "CommandAndControl",
        "Exfiltration", "Impact", "Reconnaissance", "ResourceDevelopment", "Malware", "Ransomware",
        "SuspiciousActivity", "UnwantedSoftware", "Exploit", "Phishing", "ThreatManagement",
    }
)  # fmt: skip


def _fields(alert: AlertDetail) -> dict[str, Any]:
    unreadable = set(alert.unreadable_fields)

    def field(label: str, name: str, value: str) -> dict[str, Any]:
        return mrkdwn(f"*{label}*\n{UNREADABLE_VALUE if name in unreadable else value}")

    severity = str(alert.severity)
    severity_word = severity_label(severity) if severity in KNOWN_SEVERITIES else OTHER
    status = _ALERT_STATUSES.get(alert.status or "", OTHER) if alert.status else "—"
    category = (
        category_label(alert.category)
        if alert.category in _CATEGORIES
        else (OTHER if alert.category else "—")
    )
    began = alert.first_activity_date_time or alert.created_date_time
    return {
        "type": "section",
        "fields": [
            field("Status", "status", status),
            field("Severity", "severity", f"{severity_marker(severity)} {severity_word}"),
            field("Category", "category", category),
            field("Activity began", "firstActivityDateTime", slack_date(began, "{ago}") if began else "—"),
        ],
    }


def _incident_block(
    alert: AlertDetail, snapshot: IncidentSnapshot | None, ctx: CardContext
) -> dict[str, Any] | None:
    """ "Part of incident <id> (<status>)" and "Show incident": ids and known words only."""
    raw = snapshot.incident.id if snapshot is not None else alert.incident_id
    try:
        incident_id = validate_incident_id(raw) if raw else None
    except InvalidIncidentId:
        incident_id = None
    if incident_id is None:
        return None
    url = incident_url(ctx.portal_url, incident_id, ctx.tenant_id or alert.tenant_id)
    text = f":link: Part of <{url}|incident {incident_id}>"
    if snapshot is not None:
        status = str(snapshot.incident.status)
        text += f" ({status_label(status) if status in KNOWN_STATUSES else OTHER})"
    button = {
        "type": "button",
        "action_id": ActionId.SHOW_ALERT_INCIDENT.value,
        "text": plain("Show incident", BUTTON_TEXT_CHARS),
        "value": ctx.seal.button_value(incident_id, None),
        "style": "primary",
    }
    return {"type": "section", "text": mrkdwn(text), "accessory": button}


def build_redacted_alert_card(
    alert: AlertDetail, incident: IncidentSnapshot | None, ctx: CardContext, *, show_title: bool
) -> list[dict[str, Any]]:
    """The redacted alert card's blocks (at most 8), nothing on them naming a person, host or address."""
    try:
        url: str | None = alert_url(ctx.portal_url, alert.id, ctx.tenant_id or alert.tenant_id)
    except InvalidIncidentId:
        url = None
    title = alert.title if show_title and alert.title.strip() else ""
    shown_id = alert.id if url is not None else "(unreadable id)"  # a checked id is only [a-z0-9_-]
    link = f"<{url}|Alert {shown_id}>" if url else f"Alert {shown_id}"
    actions = None
    if url is not None:
        open_button = {"type": "button", "action_id": ActionId.OPEN.value,
                       "text": plain("Open in Defender", BUTTON_TEXT_CHARS), "url": url}  # fmt: skip
        actions = {"type": "actions", "block_id": BlockId.ALERT_CARD_ACTIONS.value, "elements": [open_button]}
    blocks: list[dict[str, Any] | None] = [
        build_sample_data_note() if ctx.sample_data else None,
        {"type": "header", "text": plain(title or f"Alert {shown_id}", HEADER_CHARS, emoji=False)},
        {
            "type": "section",
            "text": mrkdwn(f"{severity_marker(str(alert.severity))} {link} in Microsoft Defender"),
        },
        _fields(alert),
        _incident_block(alert, incident, ctx),
        {"type": "context", "elements": [mrkdwn(LIMITED_NOTE)]},
        {"type": "context", "elements": [mrkdwn(":shield: Microsoft Defender alert")]},
        actions,
    ]
    return [block for block in blocks if block is not None]


def redacted_alert_fallback_text(alert: AlertDetail) -> str:
    """The top-level `text` of a redacted alert unfurl: no title."""
    severity = str(alert.severity)
    return f"Defender alert ({severity_label(severity) if severity in KNOWN_SEVERITIES else OTHER})"
