"""Defender portal alert links, `https://<portal>/alerts/<alertId>?tid=…`, and alert ids typed after
`/incident`.

Read as `bot.incidents.links.parse_incident_link` reads incident links, that is as a browser would:
the same host, scheme, port and userinfo rules, and anything a browser reads differently from Python
(backslashes, whitespace, control characters) refused outright. The id is checked with
`validate_alert_id` here, so a malformed id never becomes an API request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from bot.incidents.links import portal_url
from bot.models.alert_ids import MAX_ALERT_ID_CHARS, is_alert_id

# One path segment after /alerts/ (its form is checked by validate_alert_id), an optional final slash.
_ALERT_PATH = re.compile(rf"/alerts/(?P<id>[^/]{{1,{MAX_ALERT_ID_CHARS}}})/?")
_HASH_ID = re.compile(r"#?(?P<id>\S+)")


@dataclass(frozen=True)
class AlertLink:
    """An alert link to the Defender portal: the exact URL as shared, its alert id and tenant."""

    url: str
    alert_id: str
    tenant_id: str | None


def parse_alert_link(url: str, portal_host: str) -> AlertLink | None:
    """The alert a portal URL points at, or None for other hosts, other pages and malformed ids.

    `https://evil.example\\@security.microsoft.com/alerts/…` goes to evil.example in a browser while
    Python's parser names the portal: such URLs, userinfo, other ports, other schemes, hosts that only
    look like the portal's and control characters are refused, as for incident links.
    """
    parts = portal_url(url, portal_host)
    if parts is None:
        return None
    match = _ALERT_PATH.fullmatch(parts.path)
    if match is None or not is_alert_id(match.group("id")):
        return None
    tids = parse_qs(parts.query).get("tid")
    return AlertLink(url=url, alert_id=match.group("id"), tenant_id=tids[0] if tids else None)


def alert_id_in_command(text: str, portal_host: str) -> str | None:
    """The alert id in `/incident` text (`da6375…_-96…`, `#da6375…` or a pasted alert link), or None
    when the text names no alert: the caller then reads it as an incident id (and answers a bad one)."""
    raw = text.strip()
    if raw.startswith("<") and raw.endswith(">"):  # Slack's escaped link form <url|label>
        raw = raw[1:-1].split("|", 1)[0]
    if raw.lower().startswith("https://"):
        link = parse_alert_link(raw, portal_host)
        return link.alert_id if link is not None else None
    match = _HASH_ID.fullmatch(raw)
    candidate = match.group("id") if match else raw
    return candidate if is_alert_id(candidate) else None
