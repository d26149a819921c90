"""Text helpers for every Slack surface the bot builds: mrkdwn escaping, cutting, dates, labels.

Everything that reaches Slack from Defender (titles, descriptions, comments, tags, evidence) is
attacker-influenced. It goes through `escape_mrkdwn` exactly once, at the point it is put into mrkdwn,
and is cut *before* escaping so a cut never lands inside `&amp;`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bot.models import Classification, Determination, Severity, Status

ELLIPSIS = "…"

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_WHITESPACE = re.compile(r"\s+")
# A backtick followed by another one: a zero-width space between them means no ``` can close a fence.
_BACKTICK_RUN = re.compile(r"`(?=`)")
_ZWSP = "\u200b"


def escape_mrkdwn(text: str) -> str:
    """Escape `&`, `<` and `>` so Slack shows the text literally (no mentions, no links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def one_line(text: str) -> str:
    """Collapse every run of whitespace (newlines included) into one space."""
    return _WHITESPACE.sub(" ", text).strip()


def truncate(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """Cut `text` to at most `limit` characters, ending with `ellipsis` when something was cut."""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return ellipsis[: max(limit, 0)]
    budget = limit - len(ellipsis)
    cut = text[:budget]
    # End on a word boundary when one is near, so the last word is not chopped in half.
    space = cut.rfind(" ")
    if space >= budget * 0.8:
        cut = cut[:space]
    return cut.rstrip() + ellipsis


def mrkdwn_cut(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """Escape `text` for mrkdwn, cut so the *escaped* result is at most `limit` characters."""
    escaped = escape_mrkdwn(text)
    if len(escaped) <= limit:
        return escaped
    if limit <= len(ellipsis):
        return ellipsis[: max(limit, 0)]
    budget = limit - len(ellipsis)
    kept: list[str] = []
    size = 0
    for char in text:
        piece = _ESCAPES.get(char, char)
        if size + len(piece) > budget:
            break
        kept.append(piece)
        size += len(piece)
    cut = "".join(kept)
    space = cut.rfind(" ")
    if space >= budget * 0.8:
        cut = cut[:space]
    return cut.rstrip() + ellipsis


def bold(text: str, limit: int) -> str:
    """Untrusted text in *bold*, one line, escaped, at most `limit` characters in all."""
    # A `*` inside would end the bold early and garble the rest; the asterisk operator looks the same.
    inner = one_line(text).replace("*", "∗") or " "
    return f"*{mrkdwn_cut(inner, max(limit - 2, 1))}*"


def code_span(text: str, limit: int) -> str:
    """Inline `code` of untrusted text (one line, escaped), at most `limit` characters in all."""
    # A backtick would end the span early; the modifier-letter grave looks the same.
    inner = one_line(text).replace("`", "ˋ") or " "
    return f"`{mrkdwn_cut(inner, max(limit - 2, 1))}`"


def code_block(code: str, limit: int, max_lines: int | None = None) -> str:
    """A ``` fenced block of untrusted code (e.g. KQL), escaped, at most `limit` characters in all."""
    lines = code.strip("\n").splitlines() or [" "]
    if max_lines is not None and len(lines) > max_lines:
        lines = [*lines[:max_lines], ELLIPSIS]
    body = _BACKTICK_RUN.sub("`" + _ZWSP, "\n".join(lines))
    fence = "```"
    return f"{fence}\n{mrkdwn_cut(body, max(limit - 8, 1))}\n{fence}"


def as_utc(dt: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is taken to be UTC already (as Graph sends them)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def slack_date(dt: datetime, fmt: str = "{date_short_pretty} {time}", fallback: str | None = None) -> str:
    """A `<!date^…>` token Slack shows in the reader's time zone; `fallback` (default ISO UTC) otherwise."""
    moment = as_utc(dt)
    shown = fallback if fallback is not None else moment.strftime("%Y-%m-%d %H:%M UTC")
    # `|` and `>` would end the token early; the fallback is plain text after escaping.
    shown = escape_mrkdwn(shown.replace("|", "/"))
    return f"<!date^{int(moment.timestamp())}^{fmt}|{shown}>"


_SEVERITY_MARKERS: dict[str, str] = {
    Severity.HIGH: ":red_circle:",
    Severity.MEDIUM: ":large_orange_circle:",
    Severity.LOW: ":large_yellow_circle:",
    Severity.INFORMATIONAL: ":large_blue_circle:",
}
SEVERITY_ORDER: tuple[str, ...] = (
    Severity.HIGH,
    Severity.MEDIUM,
    Severity.LOW,
    Severity.INFORMATIONAL,
    Severity.UNKNOWN,
)


def severity_marker(severity: str) -> str:
    """One emoji per severity (same on every surface); `:white_circle:` for unknown or new values."""
    return _SEVERITY_MARKERS.get(severity, ":white_circle:")


def severity_rank(severity: str) -> int:
    """Sort key: high first, values the bot does not know last."""
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


_LABELS: dict[str, str] = {
    Status.ACTIVE: "Active",
    Status.IN_PROGRESS: "In progress",
    Status.AWAITING_ACTION: "Awaiting action",
    Status.RESOLVED: "Resolved",
    Status.REDIRECTED: "Redirected (merged)",
    Severity.HIGH: "High",
    Severity.MEDIUM: "Medium",
    Severity.LOW: "Low",
    Severity.INFORMATIONAL: "Informational",
    Classification.TRUE_POSITIVE: "True positive",
    Classification.INFORMATIONAL_EXPECTED_ACTIVITY: "Informational, expected activity",
    Classification.FALSE_POSITIVE: "False positive",
    Determination.MULTI_STAGED_ATTACK: "Multi-staged attack",
    Determination.MALICIOUS_USER_ACTIVITY: "Malicious user activity",
    Determination.COMPROMISED_ACCOUNT: "Compromised account",
    Determination.MALWARE: "Malware",
    Determination.PHISHING: "Phishing",
    Determination.UNWANTED_SOFTWARE: "Unwanted software",
    Determination.APT: "APT",
    Determination.SECURITY_PERSONNEL: "Security personnel",
    Determination.SECURITY_TESTING: "Security testing",
    Determination.LINE_OF_BUSINESS_APPLICATION: "Line-of-business application",
    Determination.CONFIRMED_ACTIVITY: "Confirmed activity",
    Determination.NOT_MALICIOUS: "Not malicious",
    Determination.NOT_ENOUGH_DATA_TO_VALIDATE: "Not enough data to validate",
    Determination.OTHER: "Other",
    # Graph's stand-in for a member newer than the API version asked (same in every enum)
    "unknownFutureValue": "Unknown (newer value)",
    "unknown": "Unknown",
}


def status_label(status: str) -> str:
    """Human label of a status ("inProgress" → "In progress"); unknown values as given (unescaped)."""
    return _LABELS.get(status, status)


def severity_label(severity: str) -> str:
    """Human label of a severity; "unknown" → "Unknown"; other values as given (unescaped)."""
    return "Unknown" if severity == Severity.UNKNOWN else _LABELS.get(severity, severity)


def classification_label(classification: str) -> str:
    """Human label of a classification ("truePositive" → "True positive"); "unknown" → "Not set"."""
    return (
        "Not set" if classification == Classification.UNKNOWN else _LABELS.get(classification, classification)
    )


def determination_label(determination: str) -> str:
    """Human label of a determination; "unknown" → "Not set"; other values as given (unescaped)."""
    return "Not set" if determination == Determination.UNKNOWN else _LABELS.get(determination, determination)


# plain_text is never parsed by Slack (no mentions, no links, no formatting), so attacker text goes in
# as is, only cut. It is NOT html-escaped: the renderer (and, we believe, Slack) decodes `&amp;` once in
# plain_text, but if a client shows plain_text literally an escaped "&amp;" would be seen by analysts in
# every "Initial access & Lateral movement" title. Raw text reads right under both readings.
def plain(text: str, limit: int, *, emoji: bool = True) -> dict[str, Any]:
    """A plain_text object: one line, cut to `limit`, never escaped (Slack does not parse plain_text)."""
    shown = truncate(one_line(text), limit) or " "
    return {"type": "plain_text", "text": shown, "emoji": emoji}


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object of text that is already escaped."""
    return {"type": "mrkdwn", "text": text}
