"""Malformed answers from the incident API, through the real endpoint and the loopback fakes.

One field that does not parse costs that field, not the card; an answer that cannot be read at all
is said so with the id, asked for once (not five times), and in a message with several links each
link is unfurled on its own.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.listeners.conftest import SlackWorld, portal_link
from tests.listeners.test_events import link_event

MALFORMED = "9001"
UNREADABLE = "9002"


def malformed(world: SlackWorld, incident_id: str = MALFORMED) -> None:
    """Incident 2972395 with a field of each kind that does not parse, stored under another id."""
    raw = world.api.get("v1.0", "2972395")
    assert raw is not None
    raw.update(
        id=incident_id,
        createdDateTime="not a date",
        customTags="VIP",
        comments="see the portal",
        status=4,
        severity="High",
        classification="UnknownFutureValue",
        assignedTo=7,
        displayName=None,
    )
    raw["alerts"] = [{"title": "alert without an id"}, *raw["alerts"]]
    world.api.put("v1.0", raw)


def card_text(body: dict[str, Any]) -> str:
    return json.dumps(body.get("blocks", body), ensure_ascii=False)


async def test_a_malformed_incident_shows_its_card_with_unknown_fields_after_one_read(
    world: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    malformed(world)
    assert (await world.command(MALFORMED)).status == 200
    [reply] = await world.slack.wait_for("response_url:cmd")
    text = card_text(reply.args)
    assert "_unknown (unreadable)_" in text
    assert "Part of Defender's answer could not be read (status, created, tags, comments, alerts)" in text
    assert "Incident 9001" in text  # the title was null: the id stands in
    assert "Unknown (newer value)" in text  # UnknownFutureValue, read like TruePositive
    assert "*Assigned to*\\n7" in text  # a number where a string belongs: its digits
    assert world.api.count("GET", f"/security/incidents/{MALFORMED}") == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"incident {MALFORMED}: field createdDateTime could not be read" in "\n".join(warnings)
    assert not [r for r in caplog.records if r.exc_info]


async def test_an_unreadable_answer_is_a_clear_answer_asked_for_once(world: SlackWorld) -> None:
    for body, response in ((b"<html>Service Unavailable</html>", "html"), (b"[]", "array"), (b"{}", "empty")):
        world.api.answer_body_next(body, path_contains="/security/incidents/2972395")
        await world.command("2972395", response=response)
        [reply] = await world.slack.wait_for(f"response_url:{response}")
        assert "cannot read" in reply.args["text"] and "2972395" in reply.args["text"], reply.args
        assert "did not go through" not in reply.args["text"]
    assert world.api.count("GET", "/security/incidents/2972395") == 3  # once per ask: not retried


async def test_in_a_message_with_several_links_each_link_stands_alone(world: SlackWorld) -> None:
    malformed(world)
    world.api.answer_body_next(
        b"not json at all", count=None, path_contains=f"/security/incidents/{UNREADABLE}"
    )
    healthy, broken, unreadable = portal_link("2972395"), portal_link(MALFORMED), portal_link(UNREADABLE)
    answer = await world.event(link_event([healthy, broken, unreadable], event_id="Ev0MIXED"))
    assert answer.status == 200
    [unfurl] = await world.slack.wait_for("chat.unfurl")
    unfurls = unfurl.args["unfurls"]
    assert set(unfurls) == {healthy, broken, unreadable}
    assert "Multi-stage incident" in card_text(unfurls[healthy])
    assert "_unknown (unreadable)_" in card_text(unfurls[broken])
    assert "cannot read" in card_text(unfurls[unreadable]) and UNREADABLE in card_text(unfurls[unreadable])
    await world.settle()
    assert world.api.count("GET", f"/security/incidents/{UNREADABLE}") == 1
    assert len(world.slack.calls_to("chat.unfurl")) == 1
