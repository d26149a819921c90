"""Card values the bot cannot vouch for, signed by Slack: a short answer, nothing fetched or written.

Buttons and modals act only on what the bot sealed (bot/blocks/seal.py): garbage, an empty value, a
path, a 40-digit id, a card of the release before sealed values, another format version, or a
value changed to name another incident are each answered "this card is out of date".
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from bot.blocks.ids import ActionId
from bot.blocks.refs import IncidentRef
from tests.listeners.conftest import SEAL, SlackWorld
from tests.listeners.test_actions import INCIDENT, click, more
from tests.listeners.test_views import comment_values, modal, submission

OTHER = "4242"


def resealed_for(value: str, incident_id: str) -> str:
    """`value` with its id changed and its seal kept: what a client that edits values would send."""
    data = json.loads(value)
    data["id"] = incident_id
    return json.dumps(data, separators=(",", ":"))


BUTTON_VALUES: list[tuple[str, str | None]] = [
    ("garbage", None),
    ("", None),
    ("../../v1.0/security/incidents/1/comments", None),
    ('{"v":1,"id":"' + "1" * 40 + '"}', None),
    ('{"v":1,"id":"2972395"}', INCIDENT),  # a card of the release before sealed values
    ('{"v":2,"id":"2972395","s":"AAAAAAAAAAAAAAAAAAAAAA"}', INCIDENT),  # another format version
    (resealed_for(SEAL.button_value(INCIDENT), OTHER), OTHER),  # bound to another incident's card
]


def no_api_calls(world: SlackWorld) -> bool:
    return world.api.requests == []


@pytest.mark.parametrize(("value", "named"), BUTTON_VALUES)
@pytest.mark.parametrize("action", [ActionId.ASSIGN_ME, ActionId.REFRESH, ActionId.COMMENT, ActionId.SHARE])
async def test_a_button_the_bot_cannot_vouch_for_is_answered_out_of_date(
    world: SlackWorld, caplog: pytest.LogCaptureFixture, action: ActionId, value: str, named: str | None
) -> None:
    caplog.set_level(logging.INFO)
    payload = click(world, "message", action)
    payload["actions"][0]["value"] = value
    answer = await world.interact(payload)
    assert answer.status == 200
    [told] = await world.slack.wait_for("response_url:click")
    assert told.args["response_type"] == "ephemeral" and told.args["replace_original"] is False
    again = f"/incident {named}" if named else "/incident <id>"
    assert "This card is out of date, so nothing was done" in told.args["text"]
    assert f"`{again}` again" in told.args["text"]
    await world.settle()
    assert no_api_calls(world)
    assert world.slack.calls_to("views.open") == [] and world.slack.calls_to("chat.postMessage") == []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "value",
    ["incident-unassign:2972395", "incident-tags:abc", "nope:1", "", "incident-tags:2972395:" + "A" * 22],
)
async def test_an_overflow_option_the_bot_cannot_vouch_for_is_answered_out_of_date(
    world: SlackWorld, value: str
) -> None:
    element = more(ActionId.UNASSIGN)
    element["selected_option"]["value"] = value
    assert (await world.interact(click(world, "message", element))).status == 200
    [told] = await world.slack.wait_for("response_url:click")
    assert "out of date" in told.args["text"]
    await world.settle()
    assert no_api_calls(world)


async def test_an_unfurl_click_without_a_response_url_is_told_in_the_channel(world: SlackWorld) -> None:
    payload = click(world, "unfurl", ActionId.REFRESH)
    payload["actions"][0]["value"] = "garbage"
    del payload["response_url"]
    assert (await world.interact(payload)).status == 200
    [told] = await world.slack.wait_for("chat.postEphemeral")
    assert "out of date" in told.args["text"] and told.args["user"] == payload["user"]["id"]


@pytest.mark.parametrize(
    "metadata",
    [
        "garbage",
        "",
        '{"v":1,"id":"2972395"}',
        '{"v":1,"id":"' + "9" * 40 + '"}',
        "/v1.0/security/incidents/2972395",
    ],
)
async def test_a_submission_the_bot_cannot_vouch_for_is_replaced_by_an_out_of_date_modal(
    world: SlackWorld, metadata: str
) -> None:
    view = await modal(world, "comment")
    view["private_metadata"] = metadata
    answer = await world.interact(submission(view, comment_values("seen")))
    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "update"
    assert body["view"]["title"]["text"] == "Out of date"
    assert "nothing was done" in json.dumps(body["view"])
    await world.settle()
    assert [r for r in world.api.requests if r.method != "GET"] == []


async def test_a_submission_writes_only_to_the_incident_its_modal_was_opened_for(world: SlackWorld) -> None:
    view = await modal(world, "comment")
    opened_for = SEAL.open(view["private_metadata"])
    assert opened_for.id == INCIDENT
    # the metadata changed to name another incident, its seal kept: refused, nothing written anywhere
    view["private_metadata"] = resealed_for(view["private_metadata"], OTHER)
    answer = await world.interact(submission(view, comment_values("meant for 4242")))
    assert answer.json()["response_action"] == "update"
    await world.settle()
    assert [r for r in world.api.requests if r.method != "GET"] == []
    # a metadata the bot sealed for the other incident is the other incident's modal: it writes there
    view["private_metadata"] = SEAL.value(IncidentRef(id=OTHER))
    assert (
        await world.interact(submission(view, comment_values("for 4242"), view_id="V0VIEW0002"))
    ).status == 200
    await world.settle()
    [write] = [r for r in world.api.requests if r.method != "GET"]
    assert f"/incidents/{OTHER}/" in write.path


def classification_picked(world: SlackWorld, view: dict[str, Any], *, metadata: str) -> dict[str, Any]:
    """The block_actions of picking a classification in the open resolve modal `view` (id V0VIEW0001)."""
    element = {
        "type": "static_select",
        "action_id": ActionId.CLASSIFICATION.value,
        "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": "falsePositive"},
    }
    payload = click(world, "message", element)
    payload["view"] = {**view, "id": "V0VIEW0001", "private_metadata": metadata}
    return payload


async def test_a_classification_picked_in_an_out_of_date_modal_replaces_it_with_the_notice(
    world: SlackWorld,
) -> None:
    view = await modal(world, "resolve")
    seen = len(world.slack.calls_to("views.update"))
    payload = classification_picked(world, view, metadata="garbage")
    assert (await world.interact(payload)).status == 200
    updates = await world.slack.wait_for("views.update", count=seen + 1)
    assert updates[-1].args["view"]["title"]["text"] == "Out of date"
    assert updates[-1].args["view_id"] == "V0VIEW0001"


async def test_a_notice_for_a_modal_closed_meanwhile_is_dropped_not_retried(world: SlackWorld) -> None:
    view = await modal(world, "resolve")
    world.slack.fail_next("views.update", error="not_found", status=200, count=1)
    seen = len(world.slack.calls_to("views.update"))
    payload = classification_picked(world, view, metadata="garbage")
    assert (await world.interact(payload)).status == 200
    await world.settle()
    assert len(world.slack.calls_to("views.update")) == seen + 1  # tried once, not five times
