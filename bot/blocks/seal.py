"""Sealed card values: a button's `value`, an overflow option's value and a modal's `private_metadata`
carry an HMAC of what they say, so a click or a submission acts only on the incident the bot drew.

Slack hands these strings back with every click and submission. What a write acts on is decided by
what the bot signed, never by what comes back: a value whose seal does not hold (a card of an older
release, another format version, anything forged or damaged) is `CardOutOfDate`, and the person is
told to ask for the card again. The key is derived from a Slack secret every replica shares.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from bot.blocks.ids import ActionId
from bot.blocks.refs import MAX_BUTTON_VALUE_CHARS, MAX_REF_CHARS, IncidentRef, is_safe_url
from bot.models import validate_incident_id

_PURPOSE = b"incident-bot/card-values/1"
_MAC_CHARS = 22  # 16 bytes of HMAC-SHA256, base64url without padding
_ID_HINT = re.compile(r'"id"\s*:\s*"?([0-9]{1,20})\b')
_OPTION = re.compile(r"(?P<action>[a-z-]{1,60}):(?P<id>[0-9]{1,20}):(?P<mac>[A-Za-z0-9_-]{22})")


class CardOutOfDate(ValueError):
    """A card value the bot cannot vouch for; `incident_id` when it names one, for the answer."""

    def __init__(self, incident_id: str | None = None) -> None:
        self.incident_id = incident_id
        super().__init__("card value is not one this bot sealed")


def out_of_date_text(error: CardOutOfDate) -> str:
    """What the person is told: nothing was done, and how to get a card that works."""
    again = f"`/incident {error.incident_id}`" if error.incident_id else "`/incident <id>`"
    return f"This card is out of date, so nothing was done. Run {again} again for a current one."


@dataclass(frozen=True)
class Sealed:
    """A ref and its sealed value, as a modal carries it in private_metadata."""

    ref: IncidentRef
    value: str

    @property
    def id(self) -> str:
        return self.ref.id


class CardSeal:
    """Seals and opens card values with one key; build one per process from the shared secret."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()

    def _mac(self, text: str) -> str:
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def value(self, ref: IncidentRef) -> str:
        """The ref's JSON with its seal `s` (button values, private_metadata)."""
        text = ref.dumps()
        return f'{text[:-1]},"s":"{self._mac(text)}"}}'

    def seal(self, ref: IncidentRef) -> Sealed:
        """`ref` with its sealed value, for a modal builder."""
        return Sealed(ref, self.value(ref))

    def button_value(self, incident_id: str, unfurl_url: str | None = None) -> str:
        """Every card button's value: with the unfurl URL, or without it when that is too long."""
        if unfurl_url is not None and is_safe_url(unfurl_url):
            sealed = self.value(IncidentRef(id=incident_id, url=unfurl_url))
            if len(sealed) <= MAX_BUTTON_VALUE_CHARS:
                return sealed
        return self.value(IncidentRef(id=incident_id))

    def open(self, text: object) -> IncidentRef:
        """The ref a sealed value carries; CardOutOfDate for anything this key did not seal."""
        if not isinstance(text, str) or not text or len(text) > MAX_REF_CHARS + _MAC_CHARS + 8:
            raise CardOutOfDate()
        hint = _ID_HINT.search(text[:200])
        out_of_date = CardOutOfDate(hint[1] if hint else None)
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise out_of_date from None
        mac = data.pop("s", None) if isinstance(data, dict) else None
        if not isinstance(mac, str) or len(mac) != _MAC_CHARS:
            raise out_of_date
        try:
            ref = IncidentRef.model_validate(data)
            expected = self._mac(ref.dumps())
        except ValueError:  # pydantic's ValidationError is one
            raise out_of_date from None
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            raise out_of_date
        return ref

    def option_value(self, action: ActionId, incident_id: str) -> str:
        """An overflow option's value (at most 150 characters): which action, on which incident."""
        text = f"{action.value}:{validate_incident_id(incident_id)}"
        return f"{text}:{self._mac(text)}"

    def open_option(self, value: object) -> tuple[ActionId, str]:
        """(action, incident id) of a sealed overflow option value; CardOutOfDate otherwise."""
        match = _OPTION.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            hint = re.search(r":([0-9]{1,20})(?::|$)", value) if isinstance(value, str) else None
            raise CardOutOfDate(hint[1] if hint else None)
        text = f"{match['action']}:{match['id']}"
        if not hmac.compare_digest(match["mac"].encode(), self._mac(text).encode()):
            raise CardOutOfDate(match["id"])
        try:
            return ActionId(match["action"]), match["id"]
        except ValueError:
            raise CardOutOfDate(match["id"]) from None
