"""The alert card: an alert link's unfurl, or the answer about one alert.

Top to bottom: sample-data note, title, link, key fields (status, severity, category, detection source,
MITRE techniques, first and last activity), evidence (counts by kind and a few names), the incident it
belongs to with a "Show incident" button, a note on what could not be read, footer, "Open in Defender".
A fixed number of blocks (at most 9), each far below Slack's limits whatever the alert holds.

Everything from Defender is attacker-influenced (titles, categories, evidence names): it goes through
the `bot.blocks.text` helpers, cut before it is escaped; the links are built from the configured portal
and checked ids, never from `alertWebUrl` or `incidentWebUrl` of the answer.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from bot.blocks.ids import ActionId, BlockId
from bot.blocks.incident import CardContext, incident_url
from bot.blocks.messages import build_sample_data_note
from bot.blocks.text import (
    bold,
    code_span,
    mrkdwn,
    mrkdwn_cut,
    one_line,
    plain,
    severity_label,
    severity_marker,
    slack_date,
    status_label,
)
from bot.errors import InvalidIncidentId
from bot.models import IncidentSnapshot, validate_incident_id
from bot.models.alert_ids import AlertDetail, validate_alert_id

HEADER_CHARS = 150
BUTTON_TEXT_CHARS = 75
LABEL_CHARS = 60
TECHNIQUES = 8
TECHNIQUE_CHARS = 40
EVIDENCE_KINDS = 10
NAMES_PER_KIND = 3
NAME_CHARS = 80
INCIDENT_TITLE_CHARS = 150
FALLBACK_TITLE_CHARS = 150
UNREADABLE_VALUE = "_unknown (unreadable)_"

_ALERT_STATUS = {
    "new": "New",
    "inProgress": "In progress",
    "resolved": "Resolved",
    "unknown": "Unknown",
    "unknownFutureValue": "Unknown (newer value)",
}
# Graph's detectionSource and serviceSource members (security-alert resource type), and the legacy
# Defender for Endpoint API's detectionSource values, camelCased as the model keeps them.
_SOURCES = {
    "microsoftDefenderForEndpoint": "Defender for Endpoint",
    "antivirus": "Antivirus",
    "smartScreen": "SmartScreen",
    "customTi": "Custom threat intelligence",
    "microsoftDefenderForOffice365": "Defender for Office 365",
    "automatedInvestigation": "Automated investigation",
    "microsoftThreatExperts": "Microsoft Threat Experts",
    "customDetection": "Custom detection",
    "microsoftDefenderForIdentity": "Defender for Identity",
    "cloudAppSecurity": "Defender for Cloud Apps",
    "microsoftDefenderForCloudApps": "Defender for Cloud Apps",
    "microsoft365Defender": "Microsoft Defender XDR",
    "azureAdIdentityProtection": "Entra ID Protection",
    "manual": "Manual",
    "microsoftDataLossPrevention": "Data Loss Prevention",
    "dataLossPrevention": "Data Loss Prevention",
    "appGovernancePolicy": "App governance policy",
    "appGovernanceDetection": "App governance detection",
    "microsoftAppGovernance": "App governance",
    "microsoftDefenderForCloud": "Defender for Cloud",
    "microsoftSentinel": "Microsoft Sentinel",
    "unknown": "Unknown",
    "unknownFutureValue": "Unknown (newer value)",
    # legacy Defender for Endpoint API
    "windowsDefenderAtp": "Defender for Endpoint (EDR)",
    "windowsDefenderAv": "Antivirus",
    "windowsDefenderSmartScreen": "SmartScreen",
    "customerTI": "Custom threat intelligence",
    "officeATP": "Defender for Office 365",
    "mTP": "Microsoft Defender XDR",
    "mCAS": "Defender for Cloud Apps",
    "azureAtp": "Defender for Identity",
}
# Evidence kinds (Graph's *Evidence types without the suffix) → (one, many).
_KIND_WORDS = {
    "device": ("device", "devices"),
    "user": ("user", "users"),
    "mailbox": ("mailbox", "mailboxes"),
    "ip": ("IP address", "IP addresses"),
    "url": ("URL", "URLs"),
    "file": ("file", "files"),
    "process": ("process", "processes"),
    "analyzedMessage": ("email message", "email messages"),
    "oauthApplication": ("OAuth app", "OAuth apps"),
    "cloudApplication": ("cloud app", "cloud apps"),
    "azureResource": ("Azure resource", "Azure resources"),
    "amazonResource": ("AWS resource", "AWS resources"),
    "googleCloudResource": ("Google Cloud resource", "Google Cloud resources"),
    "other": ("other item", "other items"),
}
_KIND_ORDER = ("device", "user", "mailbox", "ip", "url", "file", "process")
# Summary fields of EvidenceSummary → their label on the card.
_NAMED = (
    ("devices", "Devices"),
    ("users", "Users"),
    ("mailboxes", "Mailboxes"),
    ("ips", "IP addresses"),
    ("urls", "URLs"),
    ("files", "Files"),
    ("processes", "Processes"),
)
# Graph field names → words in the note on what could not be read.
_UNREADABLE_NAMES = {
    "title": "title",
    "status": "status",
    "severity": "severity",
    "category": "category",
    "detectionSource": "detection source",
    "serviceSource": "service source",
    "mitreTechniques": "MITRE techniques",
    "evidence": "evidence",
    "firstActivityDateTime": "first activity",
    "lastActivityDateTime": "last activity",
    "lastUpdateDateTime": "last updated",
    "incidentId": "incident",
}
_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PASCAL = re.compile(r"[A-Za-z]{1,60}")
_SCHEME = re.compile(r"^(https?)", re.IGNORECASE)
_LINK_SCHEME = re.compile(r"\bhttp(s?)://", re.IGNORECASE)


def alert_url(portal_url: str, alert_id: str, tenant_id: str | None) -> str:
    """The alert's page in the Defender portal: "{portal}/alerts/{id}?tid={tid}" (InvalidAlertId
    for anything but an alert id)."""
    url = f"{portal_url.rstrip('/')}/alerts/{validate_alert_id(alert_id)}"
    return f"{url}?tid={quote(tenant_id, safe='')}" if tenant_id else url


def _alert_link(alert: AlertDetail, ctx: CardContext) -> str | None:
    try:
        return alert_url(ctx.portal_url, alert.id, ctx.tenant_id or alert.tenant_id)
    except InvalidIncidentId:  # InvalidAlertId: an id of a form the bot does not know gets no link
        return None


def _label(text: str) -> str:
    """A label or a value the bot does not know, as sent: one line, escaped and cut."""
    return mrkdwn_cut(one_line(text), LABEL_CHARS)


def _words(name: str) -> str:
    """'DefenseEvasion' → 'Defense evasion'; 'registryKey' → 'registry key'."""
    return _WORD_BREAK.sub(" ", name).lower()


def category_label(category: str) -> str:
    """Graph's PascalCase kill-chain categories in words ("CommandAndControl" → "Command and control");
    anything else as sent, escaped."""
    if not _PASCAL.fullmatch(category):
        return _label(category)
    text = _words(category)
    return _label(text[:1].upper() + text[1:])


def source_label(source: str) -> str:
    """A detection or service source's name ("antivirus" → "Antivirus"); unknown values as sent, escaped."""
    return _label(_SOURCES.get(source, source))


def alert_status_label(status: str | None) -> str:
    if status is None:
        return "—"
    return _label(_ALERT_STATUS.get(status, status))


def defang(url: str) -> str:
    """A URL that no client makes a link of, as analysts write them: "hxxps://evil[.]example/a"."""
    return _SCHEME.sub(lambda m: "hxxp" + m.group(1)[4:], url.replace(".", "[.]"), count=1)


def _unlinked(name: str) -> str:
    """Text with every http(s):// in it written hxxp(s)://, so no client makes a link of it."""
    return _LINK_SCHEME.sub(lambda m: f"hxxp{m.group(1)}://", name)


def _kind_words(kind: str, count: int) -> str:
    one, many = _KIND_WORDS.get(kind, (_words(kind), _words(kind) + "s"))
    return f"{count} {one if count == 1 else many}"


def _date(value: datetime | None) -> str:
    return slack_date(value) if value else "—"


def _fields(alert: AlertDetail) -> dict[str, Any]:
    unreadable = set(alert.unreadable_fields)

    def field(label: str, name: str, value: str) -> dict[str, Any]:
        return mrkdwn(f"*{label}*\n{UNREADABLE_VALUE if name in unreadable else value}")

    severity = str(alert.severity)
    detection = source_label(alert.detection_source) if alert.detection_source else "—"
    service = source_label(alert.service_source) if alert.service_source else None
    if service is not None and service != detection:
        detection = service if detection == "—" else f"{detection} · {service}"
    techniques = [t for t in alert.mitre_techniques if t.strip()]
    shown = " ".join(code_span(t, TECHNIQUE_CHARS) for t in techniques[:TECHNIQUES]) or "—"
    if len(techniques) > TECHNIQUES:
        shown += f" +{len(techniques) - TECHNIQUES} more"
    return {
        "type": "section",
        "fields": [
            field("Status", "status", alert_status_label(alert.status)),
            field("Severity", "severity", f"{severity_marker(severity)} {_label(severity_label(severity))}"),
            field("Category", "category", category_label(alert.category) if alert.category else "—"),
            field("Detection source", "detectionSource", detection),
            field("First activity", "firstActivityDateTime", _date(alert.first_activity_date_time)),
            field("Last activity", "lastActivityDateTime", _date(alert.last_activity_date_time)),
            field("MITRE ATT&amp;CK", "mitreTechniques", shown),
        ],
    }


def _evidence_block(alert: AlertDetail) -> dict[str, Any] | None:
    """The evidence: "*Evidence* (6): 1 device · 2 files · …", then up to three names of each kind."""
    counts = dict(alert.evidence_kinds)
    summary = alert.evidence
    for kind, (name, _) in zip(_KIND_ORDER, _NAMED, strict=True):
        counts.setdefault(kind, 0)
        # never fewer than the names: an AlertDetail made from an incident's Alert has no kinds counted
        counts[kind] = max(counts[kind], len(getattr(summary, name)))
    kinds = sorted(
        (kind for kind, count in counts.items() if count > 0),
        key=lambda k: (_KIND_ORDER.index(k) if k in _KIND_ORDER else len(_KIND_ORDER), k),
    )
    if not kinds:
        return None
    total = sum(counts[kind] for kind in kinds)
    parts = " · ".join(_kind_words(kind, counts[kind]) for kind in kinds[:EVIDENCE_KINDS])
    if len(kinds) > EVIDENCE_KINDS:
        parts += f" · +{len(kinds) - EVIDENCE_KINDS} more kinds"
    lines = [f"*Evidence* ({total}): {parts}"]
    for name, label in _NAMED:
        values = [v for v in getattr(summary, name) if v.strip()]
        # Suspect by definition: shown, never clickable (a URL, or a URL inside a host or file name).
        values = [defang(v) if name == "urls" else _unlinked(v) for v in values]
        if values:
            shown = " ".join(code_span(v, NAME_CHARS) for v in values[:NAMES_PER_KIND])
            more = f" +{len(values) - NAMES_PER_KIND} more" if len(values) > NAMES_PER_KIND else ""
            lines.append(f"{label}: {shown}{more}")
    return {"type": "section", "text": mrkdwn("\n".join(lines))}


def _checked_incident_id(raw: str | None) -> str | None:
    try:
        return validate_incident_id(raw) if raw else None
    except InvalidIncidentId:
        return None


def _incident_block(
    alert: AlertDetail, snapshot: IncidentSnapshot | None, ctx: CardContext
) -> dict[str, Any] | None:
    """The alert's incident: "Part of incident <id>: <title> (<status>)" with a "Show incident" button."""
    if "incidentId" in alert.unreadable_fields and snapshot is None:
        return {"type": "section", "text": mrkdwn(f":link: *Incident*: {UNREADABLE_VALUE}")}
    incident = snapshot.incident if snapshot is not None else None
    incident_id = _checked_incident_id(incident.id if incident is not None else alert.incident_id)
    if incident_id is None:
        return None
    url = incident_url(ctx.portal_url, incident_id, ctx.tenant_id or alert.tenant_id)
    text = f":link: Part of <{url}|incident {incident_id}>"
    if incident is not None:
        title = _unlinked(incident.display_name.strip())  # mrkdwn here: a URL in it would be a link
        text += f": {bold(title, INCIDENT_TITLE_CHARS)}" if title else ""
        text += f" ({_label(status_label(incident.status))})"
        named = _checked_incident_id(alert.incident_id)
        if named is not None and named != incident_id:
            text += f" · the alert's incident {named} was merged into it"
    button = {
        "type": "button",
        "action_id": ActionId.SHOW_ALERT_INCIDENT.value,
        "text": plain("Show incident", BUTTON_TEXT_CHARS),
        "value": ctx.seal.button_value(incident_id, None),
    }
    return {"type": "section", "text": mrkdwn(text), "accessory": button}


def _unreadable_note(alert: AlertDetail, url: str | None) -> dict[str, Any] | None:
    names = [_UNREADABLE_NAMES.get(name, "other details") for name in alert.unreadable_fields]
    if not names:
        return None
    parts = ", ".join(dict.fromkeys(names))
    where = f": see <{url}|Defender>" if url else ""
    text = f":warning: Part of Defender's answer could not be read ({parts}){where}."
    return {"type": "context", "elements": [mrkdwn(text)]}


def _footer(alert: AlertDetail) -> dict[str, Any]:
    updated = alert.last_update_date_time or alert.created_date_time
    when = f" · last updated {slack_date(updated)}" if updated else ""
    return {"type": "context", "elements": [mrkdwn(f":shield: Microsoft Defender alert{when}")]}


def build_alert_card(
    alert: AlertDetail, incident: IncidentSnapshot | None, ctx: CardContext
) -> list[dict[str, Any]]:
    """The alert card's blocks, within every Slack limit whatever the alert holds. `incident` is the
    alert's incident when it could be read (its title and status are shown), else None."""
    url = _alert_link(alert, ctx)
    title = alert.title if alert.title.strip() else f"Alert {one_line(alert.id)}"
    shown_id = mrkdwn_cut(one_line(alert.id), 130)
    marker = severity_marker(str(alert.severity))
    link = f"<{url}|Alert {shown_id}>" if url else f"Alert {shown_id}"
    actions = None
    if url is not None:
        open_button = {
            "type": "button",
            "action_id": ActionId.OPEN.value,
            "text": plain("Open in Defender", BUTTON_TEXT_CHARS),
            "url": url,
        }
        actions = {"type": "actions", "block_id": BlockId.ALERT_CARD_ACTIONS.value, "elements": [open_button]}
    blocks: list[dict[str, Any] | None] = [
        build_sample_data_note() if ctx.sample_data else None,
        # plain_text, emoji off: the title is shown exactly as Defender has it (see text.plain)
        {"type": "header", "text": plain(title, HEADER_CHARS, emoji=False)},
        {"type": "section", "text": mrkdwn(f"{marker} {link} in Microsoft Defender")},
        _fields(alert),
        _evidence_block(alert),
        _incident_block(alert, incident, ctx),
        _unreadable_note(alert, url),
        _footer(alert),
        actions,
    ]
    return [block for block in blocks if block is not None]


def alert_fallback_text(alert: AlertDetail) -> str:
    """The message's top-level `text` (notifications, screen readers): id, title, severity, status."""
    title = mrkdwn_cut(one_line(alert.title), FALLBACK_TITLE_CHARS) or "(no title)"
    severity = mrkdwn_cut(one_line(severity_label(str(alert.severity))), 40)
    status = alert_status_label(alert.status)
    return f"Alert {mrkdwn_cut(one_line(alert.id), 130)}: {title} ({severity}, {status})"
