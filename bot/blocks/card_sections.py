"""The body sections of the incident card (chat messages and link unfurls): summary, recommended
actions, hunting queries, comments, alerts and affected assets.

Each builder returns at most one or two blocks whose text stays far below Slack's 3000-character
section limit whatever the incident holds, so the card's size does not depend on the data.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.blocks.text import (
    bold,
    code_block,
    code_span,
    mrkdwn,
    mrkdwn_cut,
    one_line,
    severity_label,
    severity_marker,
    severity_rank,
    slack_date,
)
from bot.models import Alert, AlertComment, HuntingQuery, Incident, Status

SUMMARY_CHARS = 600
SUMMARY_LINES = 8
ACTION_ITEMS = 5
ACTION_ITEM_CHARS = 250
HUNTING_QUERIES = 2
HUNTING_QUERY_CHARS = 1200
HUNTING_QUERY_LINES = 15
COMMENTS = 3
COMMENT_CHARS = 300
COMMENT_LINES = 6
RESOLVER_CHARS = 120
AUTHOR_CHARS = 80
ALERT_TITLES = 5
ALERT_TITLE_CHARS = 120
ASSETS = 5
ASSET_CHARS = 80
TECHNIQUES = 8

_LIST_MARKER = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)]|[A-Za-z][.)])\s+")
_EARLIEST = datetime.min.replace(tzinfo=UTC)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def _non_blank_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines() if line.strip()]


def _clip_lines(text: str, max_lines: int) -> str:
    """At most `max_lines` non-blank lines, so one pasted log does not make the card a screen tall."""
    lines = _non_blank_lines(text)
    clipped = "\n".join(lines[:max_lines])
    return clipped + (" …" if len(lines) > max_lines else "")


def summary_block(incident: Incident, url: str) -> dict[str, Any] | None:
    """The summary (or, without one, the description), cut with a link to read the rest in Defender."""
    raw = incident.summary if incident.summary and incident.summary.strip() else incident.description
    if not raw or not raw.strip():
        return None
    title = "Summary" if raw is incident.summary else "Description"
    body = mrkdwn_cut(_clip_lines(raw, SUMMARY_LINES), SUMMARY_CHARS)
    cut = len(_non_blank_lines(raw)) > SUMMARY_LINES or body.endswith("…")
    more = f"\n<{url}|Read more in Defender>" if cut else ""
    return _section(f"*{title}*\n{body}{more}")


def resolution_block(incident: Incident) -> dict[str, Any] | None:
    """For a resolved incident, who resolved it (the last to change it) and the comment it was
    resolved with; classification and determination are in the fields above."""
    if incident.status != Status.RESOLVED:
        return None
    comment = incident.resolving_comment
    by = mrkdwn_cut(one_line(incident.last_modified_by or ""), RESOLVER_CHARS)
    lines = [f"*Resolved* by {by}" if by else ""]
    if comment and comment.strip():
        body = mrkdwn_cut(_clip_lines(comment, COMMENT_LINES), COMMENT_CHARS)
        lines.append("*Resolving comment*\n" + "\n".join(f">{line}" for line in body.splitlines()))
    text = "\n".join(line for line in lines if line)
    return _section(text) if text else None


def _action_lines(actions: Iterable[str]) -> list[str]:
    """Defender sends recommended actions as paragraphs with their own numbering; one item per line."""
    lines: list[str] = []
    for action in actions:
        for line in action.splitlines():
            text = _LIST_MARKER.sub("", line).strip()
            if text and text not in lines:
                lines.append(text)
    return lines


def recommended_actions_block(incident: Incident) -> dict[str, Any] | None:
    """Up to five recommended actions as a bulleted list."""
    lines = _action_lines(incident.recommended_actions)
    if not lines:
        return None
    items = [f"• {mrkdwn_cut(one_line(line), ACTION_ITEM_CHARS)}" for line in lines[:ACTION_ITEMS]]
    more = f"\n_{len(lines) - ACTION_ITEMS} more in Defender_" if len(lines) > ACTION_ITEMS else ""
    return _section("*Recommended actions*\n" + "\n".join(items) + more)


def hunting_query_blocks(queries: Sequence[HuntingQuery]) -> list[dict[str, Any]]:
    """The first recommended advanced-hunting queries as KQL code blocks, one section each."""
    shown = [q for q in queries if q.kql_text.strip()][:HUNTING_QUERIES]
    total = sum(1 for q in queries if q.kql_text.strip())
    blocks = []
    for number, query in enumerate(shown, start=1):
        heading = "*Recommended hunting query*" if total == 1 else f"*Hunting query {number} of {total}*"
        kql = code_block(query.kql_text, HUNTING_QUERY_CHARS, max_lines=HUNTING_QUERY_LINES)
        blocks.append(_section(f"{heading}\n{kql}"))
    return blocks


def _comment_time(comment: AlertComment) -> datetime:
    created = comment.created_date_time
    if created is None:
        return _EARLIEST
    return created.replace(tzinfo=UTC) if created.tzinfo is None else created


def comments_block(comments: Sequence[AlertComment]) -> dict[str, Any] | None:
    """The latest comments, newest first: author, date and a quoted excerpt."""
    written = [c for c in comments if c.comment.strip()]
    if not written:
        return None
    latest = sorted(written, key=_comment_time, reverse=True)[:COMMENTS]
    count = f" ({len(latest)} of {len(written)})" if len(written) > len(latest) else ""
    parts = [f"*Latest comments*{count}"]
    for comment in latest:
        author = bold(comment.created_by_display_name or "Unknown", AUTHOR_CHARS)
        when = f" · {slack_date(comment.created_date_time)}" if comment.created_date_time else ""
        body = mrkdwn_cut(_clip_lines(comment.comment, COMMENT_LINES), COMMENT_CHARS)
        quoted = "\n".join(f">{line}" for line in body.splitlines())
        parts.append(f"{author}{when}\n{quoted}")
    return _section("\n".join(parts))


def severity_counts(alerts: Sequence[Alert]) -> str:
    """ "2 high · 1 medium": alert counts per severity, most severe first."""
    counts = Counter(str(alert.severity) for alert in alerts)
    ordered = sorted(counts, key=lambda sev: (severity_rank(sev), sev))
    return " · ".join(
        f"{counts[sev]} {mrkdwn_cut(one_line(severity_label(sev)), 30).lower()}" for sev in ordered
    )


def _alert_sort_key(alert: Alert) -> tuple[int, float]:
    created = alert.created_date_time
    stamp = (
        0.0 if created is None else (created if created.tzinfo else created.replace(tzinfo=UTC)).timestamp()
    )
    return severity_rank(str(alert.severity)), -stamp


def alerts_block(alerts: Sequence[Alert]) -> dict[str, Any] | None:
    """How many alerts per severity, then the most severe (newest first) by title."""
    if not alerts:
        return None
    noun = "alert" if len(alerts) == 1 else "alerts"
    lines = [f"*{len(alerts)} {noun}:* {severity_counts(alerts)}"]
    for alert in sorted(alerts, key=_alert_sort_key)[:ALERT_TITLES]:
        title = mrkdwn_cut(one_line(alert.title), ALERT_TITLE_CHARS) or f"Alert {mrkdwn_cut(alert.id, 60)}"
        lines.append(f"{severity_marker(str(alert.severity))} {title}")
    if len(alerts) > ALERT_TITLES:
        lines.append(f"_{len(alerts) - ALERT_TITLES} more in Defender_")
    return _section("\n".join(lines))


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value.strip():
            seen.setdefault(value.strip(), None)
    return list(seen)


def _asset_field(label: str, values: list[str], limit: int, *, one_per_line: bool) -> dict[str, Any]:
    # Host names and UPNs read best one per line; inline code spans wrap mid-name in a half-width field.
    if one_per_line:
        shown = "\n".join(mrkdwn_cut(one_line(value), ASSET_CHARS) for value in values[:limit])
        more = f"\n_{len(values) - limit} more_" if len(values) > limit else ""
    else:
        shown = " ".join(code_span(value, ASSET_CHARS) for value in values[:limit])
        more = f" +{len(values) - limit} more" if len(values) > limit else ""
    return mrkdwn(f"*{label}* ({len(values)})\n{shown}{more}")


def evidence_block(alerts: Sequence[Alert]) -> dict[str, Any] | None:
    """Affected devices and users and the MITRE techniques seen, across all alerts."""
    devices = _unique(d for alert in alerts for d in alert.evidence.devices)
    users = _unique(u for alert in alerts for u in alert.evidence.users)
    techniques = _unique(t for alert in alerts for t in alert.mitre_techniques)
    fields = []
    if devices:
        fields.append(_asset_field("Devices", devices, ASSETS, one_per_line=True))
    if users:
        fields.append(_asset_field("Users", users, ASSETS, one_per_line=True))
    if techniques:
        fields.append(_asset_field("MITRE ATT&amp;CK", techniques, TECHNIQUES, one_per_line=False))
    return {"type": "section", "fields": fields} if fields else None
