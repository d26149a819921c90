"""The thread replies of a subscribed incident (bot/blocks/thread_replies.py): what changed, one line
each, escaped; in a redacted conversation no assignee, classification or comment text."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.blocks.thread_replies import (
    ThreadFields,
    build_reminder,
    build_thread_reply,
    change_lines,
    thread_fields,
)
from bot.models import Incident
from bot.models.reading import read_incident

from .conftest import assert_no_raw_controls, assert_within_limits, hostile_payload, normal_payload


def incident(payload: dict[str, Any], **changes: Any) -> Incident:
    return read_incident({**payload, **changes}).incident


def test_each_change_is_one_line_from_the_old_value_to_the_new() -> None:
    before = thread_fields(incident(normal_payload()))
    after = incident(normal_payload(), status="inProgress", severity="medium", assignedTo="kai@contoso.com",
                     classification="truePositive", determination="malware")  # fmt: skip
    lines = change_lines(before, after, redacted=False)
    text = "\n".join(lines)
    assert "*Status*: Active → In progress" in text
    assert "*Severity*: High → Medium" in text
    assert "kai@contoso.com" in text and "*Determination*" in text
    assert change_lines(thread_fields(after), after, redacted=False) == []


def test_new_comments_name_their_author_and_are_escaped() -> None:
    payload = hostile_payload()
    before = ThreadFields(**{**json.loads(thread_fields(incident(payload)).to_json()), "comments": 0})
    lines = change_lines(before, incident(payload), redacted=False)
    text, blocks = build_thread_reply(lines)
    assert "<!everyone>" not in text and "&lt;!everyone&gt;" in text
    assert_within_limits(blocks)
    assert_no_raw_controls(blocks)


def test_a_redacted_thread_names_nobody() -> None:
    before = thread_fields(incident(normal_payload(), assignedTo=None))
    payload = normal_payload()
    after = incident(payload, assignedTo="kai@contoso.com", status="weird", classification="truePositive")
    text = "\n".join(change_lines(ThreadFields(**{**json.loads(before.to_json()), "comments": 0}), after,
                                  redacted=True))  # fmt: skip
    assert "kai@contoso.com" not in text and "*Assignment*: assigned" in text
    assert "weird" not in text and "Other" in text
    assert "Classification" not in text and "new comment" in text


def test_a_merge_says_where_the_thread_goes_on() -> None:
    before = ThreadFields(status="active", follows="4242")
    target = incident(normal_payload())
    lines = change_lines(before, target, redacted=False, merged_from="4242")
    assert lines[0].startswith(":link: Incident 4242 was merged into incident 2972395")


def test_stored_fields_read_back_and_unreadable_ones_are_none() -> None:
    fields = thread_fields(incident(normal_payload()))
    assert ThreadFields.from_json(fields.to_json()) == fields
    assert ThreadFields.from_json("{not json") is None and ThreadFields.from_json(None) is None
    assert ThreadFields.from_json('{"status": "active", "later": 1}') == ThreadFields(status="active")


def test_the_reminder_says_how_long() -> None:
    text, blocks = build_reminder(incident(normal_payload()), unassigned=True, waited=timedelta(minutes=30))
    assert text == ":alarm_clock: Incident 2972395 is still unassigned after 30 min."
    assert_within_limits(blocks)
