"""Logging set-up, done once at start: text or one JSON object per line, always on stderr."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# Set per unit of work (a Slack request, a queued job) so every line it logs can be tied together.
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with `extra=` fields and the correlation id."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (cid := correlation_id.get()) is not None:
            entry["correlation_id"] = cid
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# A line break (or any control character) in a logged value would let whoever chose that value start
# a line of their own: a forged "audit … result=ok". The text format writes them as escapes.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


class TextFormatter(logging.Formatter):
    """One line per record, its message's control characters escaped. A traceback follows indented,
    so no line of it (an exception's message included) can pass for a record of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _CONTROLS.sub(_escape, super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return "\n".join(
            "  " + _CONTROLS.sub(_escape, line) for line in super().formatException(ei).splitlines()
        )


class _CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.cid = correlation_id.get() or "-"
        return True


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Route all logs to stderr (stdout stays for command output) in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.addFilter(_CorrelationFilter())
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s [%(cid)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO; Bolt is chatty at INFO too.
    for noisy in ("httpx", "httpcore", "slack_bolt", "slack_sdk", "msal", "urllib3", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
