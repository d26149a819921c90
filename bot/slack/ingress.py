"""The HTTP door: Slack's signature is checked on the raw bytes before anything else is read.

Nothing from a request whose signature does not hold is parsed or logged: it gets 401 and a count
in /metrics. A signed body that cannot be read (not UTF-8, not the JSON object or form Slack sends)
gets 400. Only then does Bolt parse it. Slack's own verifier does the cryptography; the checks in
front of it make sure it is only ever handed the shapes it expects (a number of seconds, a hex
signature), so junk headers are a refusal and never an exception.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from aiohttp.http_exceptions import HttpProcessingError
from slack_sdk.signature import SignatureVerifier

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


@dataclass(frozen=True)
class Refusal:
    """Why a request is turned away before Bolt sees it: the status, a word for /metrics, the text."""

    status: int
    reason: str
    text: str


UNSIGNED = Refusal(401, "signature", "invalid or missing Slack signature")
UNREADABLE = Refusal(400, "unreadable", "the request body is not a Slack payload")


class Ingress:
    """Checks one raw request against the signing secret, then that its body can be read."""

    def __init__(self, signing_secret: str) -> None:
        self._verifier = SignatureVerifier(signing_secret)

    def signed(self, body: str, headers: Mapping[str, str]) -> bool:
        """True when the X-Slack-Signature of `body` holds and its timestamp is within five minutes."""
        timestamp = headers.get("X-Slack-Request-Timestamp") or ""
        signature = headers.get("X-Slack-Signature") or ""
        if not (_TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature)):
            return False
        return self._verifier.is_valid(body=body, timestamp=timestamp, signature=signature)

    def read(self, raw: bytes, headers: Mapping[str, str]) -> str | Refusal:
        """The body as text, or why not; nothing of it is looked at unless `signed` holds.

        Slack signs UTF-8 text (slack_sdk's verifier decodes the bytes as UTF-8 too): bytes that
        are not UTF-8 cannot carry a valid signature and are refused as unreadable, unparsed.
        """
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return UNREADABLE
        if not self.signed(text, headers):
            return UNSIGNED
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        return text if _readable(text, content_type) else UNREADABLE


def _readable(text: str, content_type: str) -> bool:
    """A JSON object (events), or a form (commands; interactions carry a JSON object in `payload`)."""
    if content_type == "application/json":
        return _is_object(text)
    form = parse_qs(text, keep_blank_values=True)
    payload = form.get("payload")
    return payload is None or (len(payload) == 1 and _is_object(payload[0]))


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the decoder goes
        return False


class MalformedRequests(logging.Filter):
    """aiohttp answers a request it cannot parse (a bad request line, header or chunk) with 400 and
    logs an ERROR with the traceback, whose message quotes the unverified bytes. For the
    `aiohttp.server` logger: such a record becomes one DEBUG line naming the error's kind only."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args = (
                "refused a malformed HTTP request (%s %s)",
                (error.code, type(error).__name__),
            )
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            # Handlers do not check levels again: a DEBUG line goes out only where DEBUG is on.
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True
