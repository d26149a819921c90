"""Defender portal links and the text typed after `/incident`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qs, urlsplit

from bot.errors import InvalidIncidentId
from bot.models import validate_incident_id

_PORTAL_PATH = re.compile(
    r"/(?:incidents/(?P<a>[0-9]{1,20})/?|incident2/(?P<b>[0-9]{1,20})(?:/[A-Za-z0-9_-]+)*/?)"
)
_HASH_ID = re.compile(r"#?(?P<id>\S+)")
# Backslashes, whitespace and control characters (C0, DEL, C1): a browser reads them differently.
_NOT_IN_A_PORTAL_LINK = re.compile(r"[\\\s\x00-\x1f\x7f-\x9f]")
MAX_LINK_CHARS = 2000


@dataclass(frozen=True)
class IncidentLink:
    """An incident link to the Defender portal: the exact URL as shared, its id and tenant."""

    url: str
    incident_id: str
    tenant_id: str | None


def portal_url(url: str, portal_host: str) -> SplitResult | None:
    """`url` split, when it is an https link to the portal that a browser reads as Python does
    (no backslash, whitespace or control character, no userinfo, no other port); else None."""
    if len(url) > MAX_LINK_CHARS or _NOT_IN_A_PORTAL_LINK.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or "@" in parts.netloc or port not in (None, 443):
        return None
    if (parts.hostname or "").lower() != portal_host.lower():
        return None
    return parts


def parse_incident_link(url: str, portal_host: str) -> IncidentLink | None:
    """The incident a portal URL points at, or None for other hosts and pages.

    Read as a browser would (WHATWG URL): a browser takes a backslash for a slash and drops tabs
    and newlines, so `https://evil.example\\@security.microsoft.com/…` goes to evil.example while
    Python's parser names the portal. Such URLs, userinfo, other ports and control characters are
    refused outright rather than parsed either way.
    """
    parts = portal_url(url, portal_host)
    if parts is None:
        return None
    match = _PORTAL_PATH.fullmatch(parts.path)
    if match is None:
        return None
    tids = parse_qs(parts.query).get("tid")
    return IncidentLink(
        url=url, incident_id=match.group("a") or match.group("b"), tenant_id=tids[0] if tids else None
    )


def parse_command_text(text: str, portal_host: str) -> str:
    """The incident id in `/incident` text: `2972395`, `#2972395` or a pasted portal URL."""
    raw = text.strip()
    if raw.startswith("<") and raw.endswith(">"):  # Slack's escaped link form <url|label>
        raw = raw[1:-1].split("|", 1)[0]
    if raw.lower().startswith("https://"):
        link = parse_incident_link(raw, portal_host)
        if link is None:
            raise InvalidIncidentId(raw)
        return link.incident_id
    match = _HASH_ID.fullmatch(raw)
    return validate_incident_id(match.group("id") if match else raw)
