"""The `/incident list [...]` answer: one page of up to 10 incidents, visible only to the asker.

Top to bottom: a header naming the list, one section per incident (severity, portal link, title,
then severity · status · age · assignee, and a "Show" button for the full card), when the page was
read from Defender (and the caller's note, e.g. that Defender asked us to wait), then Previous / Next.
At most 15 blocks whatever the incidents hold. The row and the "read from" line are shared with
the App Home tab (bot/blocks/home.py).

Paging buttons carry `{"f": <filter>, "p": <page>}`, not sealed: the listener runs the list again
for the clicker, with the clicker's rights, so the value grants nothing. `decode_list_page` is strict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.blocks.ids import ActionId, BlockId
from bot.blocks.incident import _age, incident_url
from bot.blocks.refs import MAX_BUTTON_VALUE_CHARS
from bot.blocks.seal import CardSeal
from bot.blocks.text import (
    as_utc,
    bold,
    code_span,
    mrkdwn,
    mrkdwn_cut,
    one_line,
    plain,
    severity_label,
    severity_marker,
    slack_date,
    status_label,
)
from bot.errors import InvalidIncidentId
from bot.models import Incident, validate_incident_id

PAGE_SIZE = 10
MAX_PAGE = 1000
MAX_FILTER_CHARS = 500
ROW_TITLE_CHARS = 80
LIST_TITLE_CHARS = 120
LABEL_CHARS = 40
ASSIGNEE_CHARS = 80
NOTE_CHARS = 1000
# The action_ids of the paging buttons, for the listener: both carry the page to show in the value.
LIST_PAGE_ACTIONS = (ActionId.LIST_PAGE, ActionId.LIST_PAGE_PREVIOUS)
UNKNOWN = "_unknown_"
_NO_PAGING = "Paging is off for this list: its filter is too long to carry. Narrow it to page on."
# C0/C1 controls and the bidi embeddings, overrides and isolates (see bot.models.text).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _button(action: ActionId, text: str, value: str) -> dict[str, Any]:
    return {"type": "button", "action_id": action.value, "text": plain(text, 75), "value": value}


def _label(text: str) -> str:
    """A status or severity label; values the bot does not know come as sent, so escape and cut them."""
    return mrkdwn_cut(one_line(text), LABEL_CHARS) or UNKNOWN


def _details(incident: Incident) -> str:
    """ "High · Active · opened 2 hours ago · alice@contoso.com" (every part escaped)."""
    unreadable = set(incident.unreadable_fields)
    parts = [
        UNKNOWN + " severity" if "severity" in unreadable else _label(severity_label(str(incident.severity))),
        UNKNOWN + " status" if "status" in unreadable else _label(status_label(incident.status)),
    ]
    if "createdDateTime" not in unreadable and incident.created_date_time is not None:
        parts.append(f"opened {slack_date(incident.created_date_time, '{ago}')}")
    if "assignedTo" in unreadable:
        parts.append(f"assignee {UNKNOWN}")
    else:
        parts.append(mrkdwn_cut(one_line(incident.assigned_to or ""), ASSIGNEE_CHARS) or "_Unassigned_")
    return " · ".join(parts)


def incident_row(
    incident: Incident, *, action: ActionId, seal: CardSeal, portal_url: str, tenant_id: str | None
) -> dict[str, Any]:
    """One incident as a section: marker, portal link and title, then its details; a "Show" button
    (`action`, sealed value). An id that is not one (no portal page, nothing to seal) gets neither."""
    try:
        incident_id: str | None = validate_incident_id(incident.id)
    except InvalidIncidentId:
        incident_id = None
    if incident_id is not None:
        url = incident_url(portal_url, incident_id, tenant_id or incident.tenant_id)
        name = f"<{url}|Incident {incident_id}>"
    else:
        name = f"Incident {mrkdwn_cut(one_line(incident.id), 25) or '?'}"
    title = bold(incident.display_name, ROW_TITLE_CHARS) if incident.display_name.strip() else "_No title_"
    marker = severity_marker(str(incident.severity))
    text = f"{marker} {name} · {title}\n{_details(incident)}"
    block: dict[str, Any] = {"type": "section", "text": mrkdwn(text)}
    if incident_id is not None:
        block["accessory"] = _button(action, "Show", seal.button_value(incident_id))
    return block


def read_at_block(read_at: datetime | None, now: datetime, suffix: str = "") -> dict[str, Any]:
    """ ":shield: Read from Defender Today 12:13 AM" (with its age once it is a minute old)."""
    if read_at is None:
        text = ":shield: Not read from Defender"
    else:
        seconds = (as_utc(now) - as_utc(read_at)).total_seconds()
        age = f", {_age(seconds)} old" if seconds >= 60 else ""
        text = f":shield: Read from Defender {slack_date(read_at)}{age}"
    return {"type": "context", "elements": [mrkdwn(text + suffix)]}


def note_block(note: str | None) -> dict[str, Any] | None:
    """The caller's note (emoji and *bold* work), escaped and cut here like any outside text: notes
    carry API error messages (bot.incidents.explain), so no mention or link can come through one."""
    shown = mrkdwn_cut(note.strip(), NOTE_CHARS) if note else ""
    return {"type": "context", "elements": [mrkdwn(shown)]} if shown else None


def _valid_filter(filter_text: object) -> bool:
    return (
        isinstance(filter_text, str)
        and len(filter_text) <= MAX_FILTER_CHARS
        and not _CONTROL.search(filter_text)
    )


def _valid_page(page: object) -> bool:
    return isinstance(page, int) and not isinstance(page, bool) and 0 <= page <= MAX_PAGE


def encode_list_page(filter_text: str, page: int) -> str:
    """A paging button's value, `{"f":…,"p":…}`; ValueError for a filter or page `decode_list_page`
    would refuse (over 500 characters, control characters, a page outside 0..1000)."""
    if not _valid_filter(filter_text) or not _valid_page(page):
        raise ValueError("filter or page out of range for a paging button")
    value = json.dumps({"f": filter_text, "p": page}, ensure_ascii=False, separators=(",", ":"))
    return value  # at most 2 characters a filter character (`"`, `\\`) and 17 more: under 2000


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def decode_list_page(value: object) -> tuple[str, int] | None:
    """(filter, page) of a paging button's value; None for anything `encode_list_page` did not make."""
    if not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE_CHARS:
        return None
    try:
        data = json.loads(value, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or set(data) != {"f", "p"}:
        return None
    filter_text, page = data["f"], data["p"]
    if not _valid_filter(filter_text) or not _valid_page(page):
        return None
    return filter_text, page


def _nav(filter_text: str, page: int, has_next: bool) -> tuple[dict[str, Any] | None, bool]:
    """The Previous / Next row (None when there is neither), and whether a wanted button was left
    out because the filter cannot be carried in its value. No Next past page 1000."""
    wanted = [
        (ActionId.LIST_PAGE_PREVIOUS, "Previous", min(page - 1, MAX_PAGE), page > 0),
        (ActionId.LIST_PAGE, "Next", page + 1, has_next and page < MAX_PAGE),
    ]
    buttons, missing = [], False
    for action, text, target, shown in wanted:
        if not shown:
            continue
        try:  # tabs and newlines typed between terms are spaces to the filter language
            buttons.append(_button(action, text, encode_list_page(one_line(filter_text), target)))
        except ValueError:
            missing = True
    if not buttons:
        return None, missing
    return {"type": "actions", "block_id": BlockId.LIST_NAV.value, "elements": buttons}, missing


def _empty(filter_text: str, page: int) -> dict[str, Any]:
    shown = code_span(filter_text, 200) if filter_text.strip() else "this list"
    more = " more" if page > 0 else ""
    return {"type": "section", "text": mrkdwn(f":mag: No{more} incidents match {shown}.")}


def build_incident_list(
    rows: Sequence[Incident],
    *,
    title: str,
    page: int,
    has_next: bool,
    read_at: datetime,
    seal: CardSeal,
    portal_url: str,
    tenant_id: str | None,
    filter_text: str,
    now: datetime,
    note: str | None = None,
) -> list[dict[str, Any]]:
    """The blocks of one page (`page` counts from 0; rows past the 10th are left out), within every
    Slack limit whatever the incidents, title, filter and note hold."""
    header = {"type": "header", "text": plain(f"Incidents: {one_line(title)}", LIST_TITLE_CHARS, emoji=False)}
    listed = [
        incident_row(i, action=ActionId.LIST_SHOW, seal=seal, portal_url=portal_url, tenant_id=tenant_id)
        for i in rows[:PAGE_SIZE]
    ]
    nav, missing = _nav(filter_text, page, has_next)
    where = f" · page {page + 1}" if page > 0 or has_next else ""
    blocks: list[dict[str, Any] | None] = [
        header,
        *(listed or [_empty(filter_text, page)]),
        read_at_block(read_at, now, where),
        note_block(note),
        note_block(_NO_PAGING) if missing else None,
        nav,
    ]
    return [block for block in blocks if block is not None]


def list_fallback_text(title: str, count: int, page: int) -> str:
    """The answer's top-level `text` (notifications, screen readers): "Incidents: <title> (3, page 2)"."""
    shown = mrkdwn_cut(one_line(title), LIST_TITLE_CHARS) or "list"
    found = "none found" if count <= 0 else f"{count} incident{'s' if count != 1 else ''}"
    return f"Incidents: {shown} ({found}, page {max(page, 0) + 1})"
