"""Incident ids: checked before they reach any URL."""

from __future__ import annotations

import re

from bot.errors import InvalidIncidentId

_INCIDENT_ID = re.compile(r"[0-9]{1,20}")


def validate_incident_id(raw: object) -> str:
    """Return the id as a string of 1–20 ASCII digits, or raise InvalidIncidentId."""
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(text, str) or not _INCIDENT_ID.fullmatch(text):
        raise InvalidIncidentId(str(raw))
    return text
