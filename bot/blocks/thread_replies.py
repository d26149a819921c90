"""The short replies a subscribed incident's thread gets when it changes, and its reminders. Pure.

The parent card stays live (it is redrawn in place); the thread says what changed, one reply per
change: status, severity, assignment, classification and determination, each new comment with its
author, a merge. What the thread last said is kept as `ThreadFields` (plain values, stored as JSON
with the post), so a reply names the change from one value to the other whatever happened between.

Where the channel's policy is `redacted` the replies say only what the redacted card says: status,
severity and whether it is assigned; no assignee, classification, comments or titles.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from bot.blocks.redacted import KNOWN_SEVERITIES, KNOWN_STATUSES, OTHER
from bot.blocks.text import (
    classification_label,
    determination_label,
    mrkdwn,
    mrkdwn_cut,
    one_line,
    severity_label,
    status_label,
)
from bot.models import Incident

COMMENTS_SHOWN = 3
COMMENT_CHARS = 500
AUTHOR_CHARS = 80
VALUE_CHARS = 80


@dataclass(frozen=True)
class ThreadFields:
    """What the thread has told of an incident so far."""

    status: str = ""
    severity: str = ""
    assigned_to: str = ""
    classification: str = ""
    determination: str = ""
    comments: int = 0  # how many comments the incident had
    follows: str = ""  # the incident the thread follows (another after a merge)
    extra: dict[str, str] = field(default_factory=dict)  # room for a later release's fields

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> ThreadFields | None:
        """The stored fields; None for nothing stored or a shape this release cannot read."""
        if not text:
            return None
        try:
            data = json.loads(text)
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            return cls(**known)
        except (ValueError, TypeError, AttributeError):
            return None


def thread_fields(incident: Incident) -> ThreadFields:
    return ThreadFields(
        status=str(incident.status),
        severity=str(incident.severity),
        assigned_to=(incident.assigned_to or "").strip(),
        classification=str(incident.classification),
        determination=str(incident.determination),
        comments=len(incident.comments),
        follows=incident.id,
    )


def _value(text: str) -> str:
    return mrkdwn_cut(one_line(text), VALUE_CHARS) or "—"


def _status(value: str, *, redacted: bool) -> str:
    if redacted and value not in KNOWN_STATUSES:
        return OTHER
    return _value(status_label(value))


def _severity(value: str, *, redacted: bool) -> str:
    if redacted and value not in KNOWN_SEVERITIES:
        return OTHER
    return _value(severity_label(value))


def change_lines(
    before: ThreadFields, incident: Incident, *, redacted: bool, merged_from: str | None = None
) -> list[str]:
    """One mrkdwn line per change since `before`; empty when nothing the thread tells changed."""
    now = thread_fields(incident)
    lines: list[str] = []
    if merged_from is not None and before.follows != now.follows:
        lines.append(f":link: Incident {merged_from} was merged into incident {now.follows}: "
                     f"this thread follows {now.follows} from now on")  # fmt: skip
    if now.status != before.status:
        lines.append(f"*Status*: {_status(before.status, redacted=redacted)} → "
                     f"{_status(now.status, redacted=redacted)}")  # fmt: skip
    if now.severity != before.severity:
        lines.append(f"*Severity*: {_severity(before.severity, redacted=redacted)} → "
                     f"{_severity(now.severity, redacted=redacted)}")  # fmt: skip
    if now.assigned_to.lower() != before.assigned_to.lower():
        if redacted:
            lines.append("*Assignment*: " + ("assigned" if now.assigned_to else "unassigned"))
        else:
            lines.append(f"*Assigned to*: {_value(before.assigned_to or 'nobody')} → "
                         f"{_value(now.assigned_to or 'nobody')}")  # fmt: skip
    if not redacted and (now.classification, now.determination) != (
        before.classification,
        before.determination,
    ):
        lines.append(f"*Classification*: {_value(classification_label(now.classification))} · "
                     f"*Determination*: {_value(determination_label(now.determination))}")  # fmt: skip
    new_comments = incident.comments[before.comments :] if now.comments > before.comments else []
    if new_comments and not redacted:
        for comment in new_comments[-COMMENTS_SHOWN:]:
            author = mrkdwn_cut(one_line(comment.created_by_display_name or "someone"), AUTHOR_CHARS)
            lines.append(f":speech_balloon: *{author}*: {mrkdwn_cut(comment.comment.strip(), COMMENT_CHARS)}")
        if len(new_comments) > COMMENTS_SHOWN:
            lines.append(f"+{len(new_comments) - COMMENTS_SHOWN} more comments in Defender")
    elif new_comments:
        lines.append(f":speech_balloon: {len(new_comments)} new comment(s) in Defender")
    return lines


def build_thread_reply(lines: list[str]) -> tuple[str, list[dict[str, Any]]]:
    """The reply's `text` and blocks for `lines` (one section, within Slack's 3,000 characters)."""
    body = "\n".join(lines)
    text = mrkdwn_cut(body, 2900) if len(body) > 2900 else body
    return text, [{"type": "section", "text": mrkdwn(text)}]


def _period(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = round(minutes / 60)
    return f"{hours} h" if hours < 48 else f"{round(hours / 24)} days"


def build_reminder(
    incident: Incident, *, unassigned: bool, waited: timedelta
) -> tuple[str, list[dict[str, Any]]]:
    """ "Still unassigned after 30 min" (or still open), for the incident's thread."""
    what = "unassigned" if unassigned else f"{status_label(str(incident.status)).lower()}"
    text = f":alarm_clock: Incident {incident.id} is still {what} after {_period(waited)}."
    return text, [{"type": "section", "text": mrkdwn(text)}]
