"""What a card button's `value` and a modal's `private_metadata` carry: which incident, and where.

Slack hands these strings back on every click and submission, so they go out sealed and come back
through `bot.blocks.seal.CardSeal.open`, which accepts only what this bot sealed: a small,
versioned JSON object with a valid incident id.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from bot.models import validate_incident_id

# private_metadata holds at most 3000 characters; a button value 2000.
MAX_REF_CHARS = 3000
MAX_BUTTON_VALUE_CHARS = 2000
REF_VERSION = 1

_CHANNEL = re.compile(r"[CDG][A-Z0-9]{2,30}")
_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}")
_UNSAFE_URL = re.compile(r"[\s|<>]")


def is_safe_url(url: str, limit: int = 3000) -> bool:
    """True for an https URL that cannot break out of a `<url|label>` link or a url button."""
    return url.startswith("https://") and len(url) <= limit and not _UNSAFE_URL.search(url)


# Slack's response_urls are https; plain http is accepted only to a loopback host, where local
# fakes of Slack listen (they come from signed Slack payloads, never from what users type).
_LOOPBACK_HTTP = re.compile(r"http://(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?/")


def is_response_url(url: str) -> bool:
    """True for a URL the bot may post a response_url answer to."""
    if not isinstance(url, str) or len(url) > MAX_REF_CHARS or _UNSAFE_URL.search(url):
        return False
    return url.startswith("https://") or bool(_LOOPBACK_HTTP.match(url))


class IncidentRef(BaseModel):
    """An incident id plus the message (or unfurl) it was shown in; short keys keep the JSON small."""

    # extra keys are ignored so a newer deployment's optional fields do not break clicks on older cards
    model_config = ConfigDict(frozen=True, extra="ignore")

    v: int = REF_VERSION
    id: str
    url: str | None = None  # the unfurled link, so a click handler can re-unfurl it
    channel: str | None = None
    ts: str | None = None
    response_url: str | None = None  # modal private_metadata only

    @field_validator("v")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != REF_VERSION:
            raise ValueError(f"unsupported incident reference version {value}")
        return value

    @field_validator("id", mode="before")
    @classmethod
    def _incident_id(cls, value: object) -> str:
        return validate_incident_id(value)

    @field_validator("url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not is_safe_url(value):
            raise ValueError("must be an https URL without spaces, '|', '<' or '>'")
        return value

    @field_validator("response_url")
    @classmethod
    def _response_url(cls, value: str | None) -> str | None:
        if value is not None and not is_response_url(value):
            raise ValueError("not a response_url (https, or http to a loopback host)")
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not _CHANNEL.fullmatch(value):
            raise ValueError("not a Slack channel id")
        return value

    @field_validator("ts")
    @classmethod
    def _ts(cls, value: str | None) -> str | None:
        if value is not None and not _TS.fullmatch(value):
            raise ValueError("not a Slack message ts")
        return value

    def dumps(self) -> str:
        """Compact JSON (unset fields left out), at most 3000 characters."""
        text = self.model_dump_json(exclude_none=True)
        if len(text) > MAX_REF_CHARS:
            raise ValueError(f"incident reference is {len(text)} characters (limit {MAX_REF_CHARS})")
        return text


def ref_for_click(body: dict[str, Any], incident_id: str, button_ref: IncidentRef | None) -> IncidentRef:
    """The card's place from a block_actions payload: unfurl, ephemeral, or channel message.

    The response_url rides along in every case, so notes to the user can be ephemeral replies.
    """
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = container.get("message_ts")
    response_url = body.get("response_url")
    response_url = response_url if response_url and is_response_url(response_url) else None
    if container.get("is_app_unfurl") or body.get("app_unfurl"):
        url = (button_ref.url if button_ref else None) or (body.get("app_unfurl") or {}).get("app_unfurl_url")
        url = url if url and is_safe_url(url) else None
        return IncidentRef(id=incident_id, url=url, channel=channel, ts=ts, response_url=response_url)
    if container.get("is_ephemeral"):
        # chat.update cannot touch an ephemeral message: only its response_url can replace it
        return IncidentRef(id=incident_id, channel=channel, response_url=response_url)
    return IncidentRef(id=incident_id, channel=channel, ts=ts, response_url=response_url)
